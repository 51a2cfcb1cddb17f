package dev_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/deploy/vault/vaulttest"
	"github.com/onevisit/onevisit/exchange"
)

// TestExchangeKeyRotationInVault: the exchange's token key rotated in
// Vault's transit engine (by the key custodian, not the node) retires the
// old version on the running node: new tokens are signed by the new
// version, old tokens verify. The break-glass revocation (raising
// min_decryption_version and min_encryption_version in Vault, as
// deploy/README.md says) revokes the old version on the node.
func TestExchangeKeyRotationInVault(t *testing.T) {
	srv := vaulttest.Start(t)
	t.Setenv("ONEVISIT_TEST_VAULT_TOKEN", srv.Vars["VAULT_TOKEN"])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := dev.Start(ctx, dev.Options{
		HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true,
		Keys: &exchange.KeysConfig{
			Backend: "vault", Refresh: 200 * time.Millisecond, Grace: time.Minute,
			Vault: exchange.VaultConfig{Address: srv.Vars["VAULT_ADDR"], Auth: "token", TokenEnv: "ONEVISIT_TEST_VAULT_TOKEN"},
		},
	})
	if err != nil {
		t.Fatalf("start dev mode with Vault keys: %v", err)
	}
	defer env.Close()
	admin, err := api.NewClient(&api.Config{Address: srv.Vars["VAULT_ADDR"]})
	if err != nil {
		t.Fatal(err)
	}
	admin.SetToken(srv.Vars["VAULT_TOKEN"])

	tok1 := token(t, env, "school-enrolment")
	if kid := jwsKID(t, tok1); kid != "exchange-token#1" {
		t.Fatalf("first token signed by %s", kid)
	}
	if _, err := admin.Logical().WriteWithContext(ctx, "transit/keys/exchange-token/rotate", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to list the rotation", func() bool {
		l := listedKeys(t, env)
		return l["exchange-token#1"] == "retired" && l["exchange-token#2"] == "active"
	})
	tok2 := token(t, env, "school-enrolment")
	if kid := jwsKID(t, tok2); kid != "exchange-token#2" {
		t.Fatalf("token after the rotation signed by %s, want exchange-token#2", kid)
	}
	explain := []byte(`{"consumer":"school-enrolment","dataset":"household","purpose":"school_enrolment"}`)
	if status, out := post(t, env.BaseURL+"/v1/policy/explain", tok1, explain); status != http.StatusOK {
		t.Fatalf("token of the retired version: %d %v", status, out)
	}

	// Break-glass: version 1 may neither sign nor be listed any more.
	if _, err := admin.Logical().WriteWithContext(ctx, "transit/keys/exchange-token/config", map[string]any{"min_decryption_version": 2, "min_encryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to revoke exchange-token#1", func() bool { return listedKeys(t, env)["exchange-token#1"] == "revoked" })
	if status, out := post(t, env.BaseURL+"/v1/policy/explain", tok1, explain); status != http.StatusUnauthorized {
		t.Fatalf("token of the revoked version: %d %v, want 401", status, out)
	}
	if status, out := post(t, env.BaseURL+"/v1/policy/explain", tok2, explain); status != http.StatusOK {
		t.Fatalf("token of the active version: %d %v", status, out)
	}
}
