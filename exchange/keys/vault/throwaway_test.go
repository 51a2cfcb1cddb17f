package vault

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// throwaway is a second dev server started by deploy/vault/run.sh on its
// own port and run dir, for tests that seal or stop the server.
type throwaway struct {
	testVault
	env []string
}

func runScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "deploy", "vault", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		testkit.Unavailable(t, fmt.Sprintf("no %s: %v", p, err))
	}
	return p
}

func startThrowaway(t *testing.T) *throwaway {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	srv := &throwaway{env: append(os.Environ(),
		"ONEVISIT_VAULT_RUN_DIR="+t.TempDir(),
		"ONEVISIT_VAULT_LISTEN="+listen)}
	cmd := exec.Command(runScript(t), "start")
	cmd.Env = srv.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run.sh start on %s: %v\n%s", listen, err, stderrOf(err))
	}
	t.Cleanup(func() { srv.stop(t) })
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	srv.addr, srv.root = vars["VAULT_ADDR"], vars["VAULT_TOKEN"]
	if srv.addr != "http://"+listen || srv.root == "" {
		t.Fatalf("run.sh start printed no usable env:\n%s", out)
	}
	return srv
}

// stop runs `run.sh stop` for this server; it is safe twice.
func (srv *throwaway) stop(t *testing.T) {
	t.Helper()
	cmd := exec.Command(runScript(t), "stop")
	cmd.Env = srv.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("run.sh stop: %v\n%s", err, out)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
