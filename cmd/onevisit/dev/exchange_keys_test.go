package dev_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/keys"
)

// startDevFileKeys starts dev mode with the exchange's keys in a file
// keystore the test can open too (as the key custodian does), re-read
// every 100 ms.
func startDevFileKeys(t *testing.T) (*dev.Env, string) {
	t.Helper()
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "keys")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true, DataDir: dir,
		Keys: &exchange.KeysConfig{Backend: "file", Dir: keyDir, Refresh: 100 * time.Millisecond}}
	if kc, spec, ok := testKafka(t, fmt.Sprintf("t%d-%s", time.Now().UnixNano(), strings.ToLower(t.Name()))); ok {
		o.Kafka, o.Topics = kc, spec
	}
	env, err := dev.Start(ctx, o)
	if err != nil {
		t.Fatalf("start dev mode: %v", err)
	}
	t.Cleanup(env.Close)
	return env, keyDir
}

// jwsKID reads the kid of a compact JWS's header, by hand.
func jwsKID(t *testing.T, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	b, err := b64u.DecodeString(seg)
	if err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	return h.Kid
}

func checkpointKID(t *testing.T, env *dev.Env) string {
	t.Helper()
	resp, err := http.Get(env.BaseURL + "/v1/audit/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("checkpoint: %d %v", resp.StatusCode, err)
	}
	// The signed note's signature line is "— <kid> <base64>".
	_, sig, ok := strings.Cut(string(b), "\n\n\u2014 ")
	kid, _, ok2 := strings.Cut(sig, " ")
	if !ok || !ok2 {
		t.Fatalf("checkpoint is not a signed note: %q", b)
	}
	return kid
}

// TestExchangeKeyRotationRetires: a rotation made in the key backend by
// another process (the key custodian) reaches the running node; from then
// on the node signs tokens and checkpoints only with the new version,
// while tokens of the retired version still verify. The break-glass
// revocation through the backend ends the old version's tokens and only
// those.
func TestExchangeKeyRotationRetires(t *testing.T) {
	env, keyDir := startDevFileKeys(t)
	tok1 := token(t, env, "school-enrolment")
	if kid := jwsKID(t, tok1); kid != "exchange-token#1" {
		t.Fatalf("first token signed by %s", kid)
	}
	if kid := checkpointKID(t, env); kid != "exchange-audit#1" {
		t.Fatalf("first checkpoint signed by %s", kid)
	}

	custodian := keys.OpenFileStore(keyDir)
	for _, name := range []string{"exchange-token", "exchange-audit"} {
		if _, err := custodian.Rotate(name); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the node to list the rotation", func() bool {
		l := listedKeys(t, env)
		return l["exchange-token#1"] == "retired" && l["exchange-token#2"] == "active" &&
			l["exchange-audit#1"] == "retired" && l["exchange-audit#2"] == "active"
	})
	tok2 := token(t, env, "school-enrolment")
	if kid := jwsKID(t, tok2); kid != "exchange-token#2" {
		t.Fatalf("token after the rotation signed by %s, want exchange-token#2", kid)
	}
	explain := []byte(`{"consumer":"school-enrolment","dataset":"household","purpose":"school_enrolment"}`)
	for name, tok := range map[string]string{"retired version": tok1, "new version": tok2} {
		if status, out := post(t, env.BaseURL+"/v1/policy/explain", tok, explain); status != http.StatusOK {
			t.Fatalf("token of the %s: %d %v", name, status, out)
		}
	}
	// A refused query grows the audit log, so the next checkpoint is a
	// new signature: by the new audit version.
	post(t, env.BaseURL+"/v1/query", tok2, []byte(`{"dataset":"tax","subject":"330106198503120415","purpose":"school_enrolment","case_id":"SE-2026-0001"}`))
	waitFor(t, "a checkpoint by exchange-audit#2", func() bool { return checkpointKID(t, env) == "exchange-audit#2" })

	// Break-glass: the custodian revokes exchange-token#1 in the backend.
	if err := custodian.Revoke("exchange-token#1", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to list the revocation", func() bool { return listedKeys(t, env)["exchange-token#1"] == "revoked" })
	if status, out := post(t, env.BaseURL+"/v1/policy/explain", tok1, explain); status != http.StatusUnauthorized {
		t.Fatalf("token of the revoked version: %d %v, want 401", status, out)
	}
	if status, out := post(t, env.BaseURL+"/v1/policy/explain", tok2, explain); status != http.StatusOK {
		t.Fatalf("token of the active version after the revocation: %d %v", status, out)
	}
	if kid := jwsKID(t, token(t, env, "school-enrolment")); kid != "exchange-token#2" {
		t.Fatalf("token after the revocation signed by %s, want exchange-token#2", kid)
	}
}
