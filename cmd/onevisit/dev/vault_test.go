package dev_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/deploy/vault/vaulttest"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/wire"
)

// TestExchangeKeysInVault runs a node whose token, receipt, audit and
// pseudonym keys live in a real OpenBao server's transit engine, then
// seals the server mid-run. Within the grace period the node goes on
// verifying records with its cached public keys (and keys subjects it has
// seen); what needs a new signature (a token, a receipt) fails with a
// retryable 503. Past the grace period it fails closed with keys_stale.
// Unsealed, it recovers by itself.
func TestExchangeKeysInVault(t *testing.T) {
	srv := vaulttest.Start(t)
	t.Setenv("ONEVISIT_TEST_VAULT_TOKEN", srv.Vars["VAULT_TOKEN"])
	const grace = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := dev.Start(ctx, dev.Options{
		HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true,
		Keys: &exchange.KeysConfig{
			Backend: "vault", Refresh: 200 * time.Millisecond, Grace: grace,
			Vault: exchange.VaultConfig{Address: srv.Vars["VAULT_ADDR"], Auth: "token", TokenEnv: "ONEVISIT_TEST_VAULT_TOKEN"},
		},
	})
	if err != nil {
		t.Fatalf("start dev mode with Vault keys: %v", err)
	}
	defer env.Close()

	// The directory lists the exchange's keys as Vault's transit versions.
	tok, err := env.Node.Directory().PublicKey("exchange-token#1")
	if err != nil || tok.Owner != keys.OwnerExchange || tok.Use != keys.UseToken {
		t.Fatalf("exchange-token#1 in the directory: %+v, %v", tok, err)
	}

	rows := sampleRows(t, env, "household")
	pub, err := env.Client("public-security")
	if err != nil {
		t.Fatal(err)
	}
	sink := connectors.HTTPSink{Client: pub}
	publish := func(id string, fields map[string]any) ([]wire.Result, error) {
		return sink.Send(ctx, "household", []string{signWith(t, env, "public-security", "public-security", "household", fields, id)})
	}
	if res, err := publish("v-1", rows[0].Fields); err != nil || res[0].Status != wire.Accepted {
		t.Fatalf("publish before the outage: %v %v", res, err)
	}
	nb, err := env.Client("newborn-registration")
	if err != nil {
		t.Fatal(err)
	}
	req := &connectors.Requester{Client: nb}
	q := connectors.Query{Dataset: "household", Subject: rows[0].Fields["resident_id"].(string), Purpose: "newborn_registration", CaseID: "NB-2026-0007"}
	if _, err := req.Query(ctx, q); err != nil {
		t.Fatalf("query before the outage (receipt signed in Vault): %v", err)
	}

	srv.Seal(t)

	// A new token needs a Vault signature: 503, retryable.
	other, err := env.Client("property-transfer")
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Token(ctx)
	var apiErr *connectors.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 {
		t.Fatalf("token while Vault is sealed: %v, want a 503", err)
	}
	// Verifying needs no Vault call: a record for a subject the node has
	// seen is accepted with the cached keys during the grace period.
	changed := clone(rows[0].Fields)
	changed["address"] = "浙江省杭州市拱墅区莫干山路100号"
	if res, err := publish("v-2", changed); err != nil || res[0].Status != wire.Accepted {
		t.Fatalf("publish during the grace period: %v %v", res, err)
	}
	// A query needs a receipt signature: 503 keys_unavailable.
	if _, err := req.Query(ctx, q); !connectors.IsCode(err, "keys_unavailable") {
		t.Fatalf("query while sealed: %v, want keys_unavailable", err)
	}

	// Past the grace period the node fails closed: wait until the node's
	// own count of seconds since its last good refresh passes the grace.
	waitFor(t, "the key versions to go stale", func() bool {
		age, ok := abuseMetric(t, env, "onevisit_keys_refresh_age_seconds", map[string]string{})
		return ok && age > grace.Seconds()
	})
	if _, err := publish("v-3", rows[1].Fields); !connectors.IsCode(err, "keys_stale") {
		t.Fatalf("publish past the grace period: %v, want keys_stale", err)
	}

	// Unsealed, the next refresh restores service.
	srv.Unseal(t)
	waitFor(t, "the node to accept records again", func() bool {
		res, err := publish("v-4", rows[1].Fields)
		return err == nil && res[0].Status == wire.Accepted
	})
	a, err := req.Query(ctx, q)
	if err != nil {
		t.Fatalf("query after unsealing: %v", err)
	}
	if a.Record.ID != "v-2" {
		t.Fatalf("query answers record %s, want v-2 (accepted during the grace period)", a.Record.ID)
	}
}
