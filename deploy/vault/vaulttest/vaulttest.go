// Package vaulttest starts a real OpenBao dev server of a test's own
// (its own port and run folder) with deploy/vault/run.sh, so a test can
// seal, unseal or stop it without disturbing any other test. Tests call
// Start, which skips unless ONEVISIT_VAULT_TESTS=1 or VAULT_ADDR is set
// (.ci/run sets VAULT_ADDR after starting the shared server); with CI set
// it fails instead (testkit.Unavailable).
package vaulttest

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// Server is one dev server.
type Server struct {
	script, runDir string
	env            []string
	// Vars is the env run.sh printed: VAULT_ADDR, VAULT_TOKEN,
	// ONEVISIT_VAULT_ROLE_ID, ONEVISIT_VAULT_SECRET_ID, ...
	Vars map[string]string
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if os.Getenv("ONEVISIT_VAULT_TESTS") != "1" && os.Getenv("VAULT_ADDR") == "" {
		testkit.Unavailable(t, "this test starts a real OpenBao server with deploy/vault/run.sh: "+
			"set ONEVISIT_VAULT_TESTS=1 (or VAULT_ADDR, as after `set -a; . deploy/vault/.run/env`) to run it")
	}
	if testing.Short() {
		t.Skip("starts a Vault server")
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "run.sh")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	srv := &Server{script: script, runDir: t.TempDir()}
	srv.env = append(os.Environ(), "ONEVISIT_VAULT_RUN_DIR="+srv.runDir, "ONEVISIT_VAULT_LISTEN="+listen)
	cmd := exec.Command(script, "start")
	cmd.Env = srv.env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("run.sh start: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { srv.Stop(t) })
	srv.Vars = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			srv.Vars[k] = v
		}
	}
	if srv.Vars["VAULT_ADDR"] != "http://"+listen || srv.Vars["VAULT_TOKEN"] == "" || srv.Vars["ONEVISIT_VAULT_ROLE_ID"] == "" {
		t.Fatalf("run.sh start printed no usable env:\n%s", out)
	}
	return srv
}

// Stop runs `run.sh stop`; safe twice.
func (srv *Server) Stop(t testing.TB) {
	t.Helper()
	cmd := exec.Command(srv.script, "stop")
	cmd.Env = srv.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("run.sh stop: %v\n%s", err, out)
	}
}

// UnsealKey reads the unseal key the dev server printed into its log in
// the run dir (run.sh keeps the dir private to the user).
func (srv *Server) UnsealKey(t testing.TB) string {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(srv.runDir, "bao.log"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(log)) {
		if k, ok := strings.CutPrefix(strings.TrimSpace(line), "Unseal Key: "); ok {
			return k
		}
	}
	t.Fatal("no unseal key in the dev server's log")
	return ""
}

// Admin is a client with the root token.
func (srv *Server) Admin(t testing.TB) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: srv.Vars["VAULT_ADDR"]})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(srv.Vars["VAULT_TOKEN"])
	return c
}

// Seal seals the server: every transit call then answers 503.
func (srv *Server) Seal(t testing.TB) {
	t.Helper()
	if err := srv.Admin(t).Sys().Seal(); err != nil {
		t.Fatalf("seal: %v", err)
	}
}

// Unseal unseals it with the key the dev server printed.
func (srv *Server) Unseal(t testing.TB) {
	t.Helper()
	if _, err := srv.Admin(t).Sys().Unseal(srv.UnsealKey(t)); err != nil {
		t.Fatalf("unseal: %v", err)
	}
}
