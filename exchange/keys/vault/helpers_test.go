package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// The real server these tests talk to: deploy/vault/run.sh start writes
// these variables to deploy/vault/.run/env.
type testVault struct {
	addr            string
	root            string // the dev server's root token
	roleID          string // onevisit-exchange AppRole, if set
	secretID        string
	officerRoleID   string // onevisit-keyofficer AppRole, if set
	officerSecretID string
}

const skipMsg = "the Vault tests need a real server: run `deploy/vault/run.sh start` and export its " +
	"env (set -a; . deploy/vault/.run/env; set +a) so VAULT_ADDR and VAULT_TOKEN are set"

func needVault(tb testing.TB) testVault {
	tb.Helper()
	tv := testVault{
		addr:            os.Getenv("VAULT_ADDR"),
		root:            os.Getenv("VAULT_TOKEN"),
		roleID:          os.Getenv("ONEVISIT_VAULT_ROLE_ID"),
		secretID:        os.Getenv("ONEVISIT_VAULT_SECRET_ID"),
		officerRoleID:   os.Getenv("ONEVISIT_VAULT_OFFICER_ROLE_ID"),
		officerSecretID: os.Getenv("ONEVISIT_VAULT_OFFICER_SECRET_ID"),
	}
	if tv.addr == "" || tv.root == "" {
		testkit.Unavailable(tb, skipMsg)
	}
	return tv
}

// admin is a plain Vault client with the root token, for test set-up
// (making keys and roles) and for checks made beside the Signer.
func (tv testVault) admin(tb testing.TB) *api.Client {
	tb.Helper()
	c, err := api.NewClient(&api.Config{Address: tv.addr})
	if err != nil {
		tb.Fatal(err)
	}
	c.SetToken(tv.root)
	return c
}

// newKey makes a fresh transit key for one test, deleted at cleanup, so
// rotations in tests never touch the sample keys.
func (tv testVault) newKey(tb testing.TB, typ string, exportable bool) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test-" + strings.ToLower(strings.NewReplacer("/", "-", "=", "-", "|", "-").Replace(tb.Name())) + "-" + hex.EncodeToString(b[:])
	if len(name) > 100 {
		name = name[:90] + hex.EncodeToString(b[:])
	}
	c := tv.admin(tb)
	if _, err := c.Logical().Write("transit/keys/"+name, map[string]any{"type": typ, "exportable": exportable}); err != nil {
		tb.Fatalf("make key %s: %v", name, err)
	}
	tb.Cleanup(func() {
		_, _ = c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true})
		_, _ = c.Logical().Delete("transit/keys/" + name)
	})
	return name
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startSigner builds and starts a Signer, closing it at cleanup.
func startSigner(tb testing.TB, cfg Config) *Signer {
	tb.Helper()
	s, err := New(cfg, testLogger(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func (tv testVault) rootConfig(key string, use keys.Use) Config {
	owner := ""
	if use != "" {
		owner = "exchange"
	}
	return Config{Address: tv.addr, Key: key, Owner: owner, Use: use, Auth: Auth{Token: tv.root}}
}

// publicKeys maps each kid to its public key, as Versions lists them.
func publicKeys(tb testing.TB, s *Signer) map[string]ed25519.PublicKey {
	tb.Helper()
	vs, err := s.Refresh(context.Background())
	if err != nil {
		tb.Fatalf("Refresh: %v", err)
	}
	m := make(map[string]ed25519.PublicKey, len(vs))
	for _, v := range vs {
		m[v.KID] = v.Key
	}
	return m
}
