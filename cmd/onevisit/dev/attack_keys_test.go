package dev_test

// Attacks on the key directory, made the way an outsider makes them: the
// attacker's own kafka-go Writer producing raw bytes to the keys and
// ingest topics (with the broker credential a leak would give them),
// hand-built JWKs and JWSs, and plain HTTP. Nothing here goes through the
// exchange's own publishing or key API except where an officer acts.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
)

var b64u = base64.RawURLEncoding

// eventTyp is the typ of a key event, as exchange/keys/doc.go documents it.
const eventTyp = "onevisit-key-event+jwt"

// produceRaw writes one message with the attacker's own kafka-go Writer.
func produceRaw(t *testing.T, env *dev.Env, topic string, key, value []byte) {
	t.Helper()
	tr, err := env.Kafka.Transport() // the broker credential, as a leak would give it
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(env.Brokers...), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Key: key, Value: value}); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// handJWK is a directory JWK written by hand.
func handJWK(kid, owner, use, status string, pub ed25519.PublicKey, revokedAt string) map[string]any {
	j := map[string]any{
		"kty": "OKP", "crv": "Ed25519", "x": b64u.EncodeToString(pub), "kid": kid, "alg": "EdDSA", "use": "sig",
		"owner": owner, "key_use": use, "status": status, "created": "2026-01-01T00:00:00Z",
	}
	if revokedAt != "" {
		j["revoked_at"] = revokedAt
	}
	return j
}

func handJWKS(ks ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"keys": ks})
	return b
}

// handJWS signs header.payload with sign, by hand.
func handJWS(sign func([]byte) []byte, header, payload any) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	in := b64u.EncodeToString(h) + "." + b64u.EncodeToString(p)
	return in + "." + b64u.EncodeToString(sign([]byte(in)))
}

func edSigner(priv ed25519.PrivateKey) func([]byte) []byte {
	return func(m []byte) []byte { return ed25519.Sign(priv, m) }
}

// eventPayload is a key event's claims in the documented format
// (exchange/keys/doc.go), around one hand-written JWK.
func eventPayload(change string, jwk map[string]any) map[string]any {
	return map[string]any{
		"iss": "onevisit", "jti": fmt.Sprintf("%x", time.Now().UnixNano()), "iat": time.Now().Unix(),
		"node": "node-x", "actor": "security-officer", "reason": "attack", "change": change,
		"jwks": map[string]any{"keys": []any{jwk}},
	}
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// listedKeys reads GET /v1/keys over plain HTTP: kid -> status.
func listedKeys(t *testing.T, env *dev.Env) map[string]string {
	t.Helper()
	resp, err := http.Get(env.BaseURL + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid    string `json:"kid"`
			Status string `json:"status"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range set.Keys {
		out[k.Kid] = k.Status
	}
	return out
}

// refusedEvents reads onevisit_keys_events_refused_total{reason} from
// GET /metrics.
func refusedEvents(t *testing.T, env *dev.Env, reason string) int {
	t.Helper()
	resp, err := http.Get(env.BaseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	prefix := `onevisit_keys_events_refused_total{reason="` + reason + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

// auditCodes returns the codes of the key_change entries in the audit
// topic, read raw.
func auditCodes(t *testing.T, env *dev.Env) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range readAll(t, env, env.Kafka.Names.Audit()) {
		var e struct {
			Kind     string `json:"kind"`
			Decision string `json:"decision"`
			Code     string `json:"code"`
		}
		if json.Unmarshal(m.Value, &e) == nil && e.Kind == "key_change" && e.Decision == "deny" {
			out[e.Code]++
		}
	}
	return out
}

// officerToken mints an access token by hand, signed with priv under kid.
func officerToken(priv ed25519.PrivateKey, kid string) string {
	now := time.Now().Unix()
	return handJWS(edSigner(priv), map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}, map[string]any{
		"iss": "onevisit", "sub": "security-officer", "aud": "onevisit-api", "exp": now + 300, "iat": now,
		"jti": fmt.Sprintf("forged-%d", now), "client_id": "security-officer", "role": "officer",
	})
}

// exchangeAuditKey returns a Sign function of the dev node's real audit
// key, from its file keystore: what a node's own signing would produce.
func exchangeAuditKey(t *testing.T, env *dev.Env) (string, func([]byte) []byte) {
	t.Helper()
	s, err := keys.OpenFileStore(env.DataDir+"/keys").Signer("exchange-audit", keys.OwnerExchange, keys.UseAudit)
	if err != nil {
		t.Fatal(err)
	}
	return s.KeyID(), func(m []byte) []byte {
		sig, err := s.Sign(context.Background(), s.KeyID(), m)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// TestAttackKeysExchangeKeyFromTopic: a key event produced straight to
// the keys topic listing an exchange-token key the attacker holds must not
// make a self-minted officer token valid, whether the event is a raw JWK
// set or even signed with the exchange's own audit key (exchange keys come
// from the key backend only). Both are counted and audited.
func TestAttackKeysExchangeKeyFromTopic(t *testing.T) {
	env := startDev(t)
	pub, priv := newKey(t)
	topic := env.Kafka.Names.Keys()

	// 1. A raw JWK set, as the keys topic used to carry.
	produceRaw(t, env, topic, []byte("exchange-token#9"), handJWKS(handJWK("exchange-token#9", "exchange", "token", "active", pub, "")))
	// 2. A correctly signed event naming an exchange key.
	auditKID, auditSign := exchangeAuditKey(t, env)
	signed := handJWS(auditSign, map[string]any{"alg": "EdDSA", "kid": auditKID, "typ": eventTyp},
		eventPayload("key_registered", handJWK("exchange-token#8", "exchange", "token", "active", pub, "")))
	produceRaw(t, env, topic, []byte("exchange-token#8"), []byte(signed))

	waitFor(t, "the node to read both events", func() bool {
		l := listedKeys(t, env)
		_, raw := l["exchange-token#9"]
		return raw || (refusedEvents(t, env, "malformed") >= 1 && refusedEvents(t, env, "exchange_key") >= 1)
	})
	listed := listedKeys(t, env)
	for _, kid := range []string{"exchange-token#9", "exchange-token#8"} {
		if st, ok := listed[kid]; ok {
			t.Errorf("/v1/keys lists the attacker's %s (%s)", kid, st)
		}
		body := []byte(`{"subject":"330106202003080153","reason":"attack"}`)
		if status, out := post(t, env.BaseURL+"/v1/audit/subject", officerToken(priv, kid), body); status != http.StatusUnauthorized {
			t.Errorf("self-minted officer token under %s: %d %v, want 401", kid, status, out)
		}
	}
	waitFor(t, "the refusals in the audit log", func() bool {
		c := auditCodes(t, env)
		return c["key_event_refused:malformed"] >= 1 && c["key_event_refused:exchange_key"] >= 1
	})
}

// TestAttackKeysPublisherKeyFromTopic: an attacker lists their own key as
// public-security's record key through the keys topic (raw, or signed
// with a key that is not the exchange's), then produces a record signed
// with it to the ingest topic. Ingest rejects it (unknown_key) and the
// requester SDK, which trusts /v1/keys, does not verify it.
func TestAttackKeysPublisherKeyFromTopic(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	pub, priv := newKey(t)
	const kid = "public-security-record#7"
	jwk := handJWK(kid, "public-security", "record", "active", pub, "")
	produceRaw(t, env, env.Kafka.Names.Keys(), []byte(kid), handJWKS(jwk))
	// The same change as a key event, signed by the attacker under the
	// exchange audit key's kid.
	forgedEvent := handJWS(edSigner(priv), map[string]any{"alg": "EdDSA", "kid": "exchange-audit#1", "typ": eventTyp}, eventPayload("key_registered", jwk))
	produceRaw(t, env, env.Kafka.Names.Keys(), []byte(kid), []byte(forgedEvent))
	waitFor(t, "the node to read both events", func() bool {
		_, listed := listedKeys(t, env)[kid]
		return listed || (refusedEvents(t, env, "malformed") >= 1 && refusedEvents(t, env, "bad_signature") >= 1)
	})
	if st, ok := listedKeys(t, env)[kid]; ok {
		t.Errorf("/v1/keys lists the attacker's %s (%s)", kid, st)
	}

	row := household(1, 8100)[0]
	ds, _ := env.Schemas.Dataset("household")
	forged, err := record.Sign(ctx, keys.NewLocalSigner(kid, priv), record.Claims{Issuer: "public-security", Dataset: "household", Schema: ds.Latest, ID: "forged-key-1", IssuedAt: time.Now(), Op: record.Upsert}, row)
	if err != nil {
		t.Fatal(err)
	}
	produceRaw(t, env, env.Kafka.Names.Ingest("household"), []byte("forged-key-1"), []byte(forged))
	var dead []byte
	waitFor(t, "the forged record's outcome", func() bool {
		if countAccepted(t, env, "forged-key-1") > 0 {
			return true
		}
		// Nothing else is published in this test: the one dead letter is
		// the forged record's (its format may omit an unverified id).
		if ms := readAll(t, env, env.Kafka.Names.Rejected("household")); len(ms) > 0 {
			dead = ms[0].Value
			return true
		}
		return false
	})
	if n := countAccepted(t, env, "forged-key-1"); n != 0 {
		t.Errorf("the record signed with the attacker's key was accepted (%d times)", n)
	} else if !bytes.Contains(dead, []byte(`"unknown_key"`)) {
		t.Errorf("dead letter of the forged record does not say unknown_key: %.300s", dead)
	}

	// The requester SDK verifies against /v1/keys: the forged record does
	// not verify there, and a query for its subject gets no answer.
	nb, err := env.Client("newborn-registration")
	if err != nil {
		t.Fatal(err)
	}
	req := &connectors.Requester{Client: nb}
	dir, err := req.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := record.Verify(forged, dir); !errors.Is(err, keys.ErrUnknownKey) {
		t.Errorf("SDK verification of the forged record against /v1/keys: %v, want ErrUnknownKey", err)
	}
	if a, err := req.Query(ctx, connectors.Query{Dataset: "household", Subject: row["resident_id"].(string), Purpose: "newborn_registration", CaseID: "NB-2026-9001"}); !connectors.IsCode(err, "not_found") {
		t.Errorf("query for the forged record's subject: %+v, %v; want not_found", a, err)
	}
}

// TestAttackKeysRevocationEvents: unsigned and wrongly signed revocations
// produced to the keys topic change nothing and are counted; a genuine
// event produced again later never undoes a newer change.
func TestAttackKeysRevocationEvents(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	const victim = "public-security-record#1"
	before := listedKeys(t, env)
	if before[victim] != "active" {
		t.Fatalf("%s is %q before the attack", victim, before[victim])
	}
	dir, err := (&connectors.Requester{Client: mustClient(t, env, "newborn-registration")}).Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := dir.PublicKey(victim)
	if err != nil {
		t.Fatal(err)
	}
	revoked := handJWK(victim, "public-security", "record", "revoked", vk.Key, "2020-01-01T00:00:00Z")
	_, attackerPriv := newKey(t)
	cases := []struct {
		name, reason string
		value        []byte
	}{
		{"unsigned JWK set", "malformed", handJWKS(revoked)},
		{"signed by an attacker under the audit kid", "bad_signature",
			[]byte(handJWS(edSigner(attackerPriv), map[string]any{"alg": "EdDSA", "kid": "exchange-audit#1", "typ": eventTyp}, eventPayload("key_revoked", revoked)))},
		{"signed under a client's kid", "unknown_signer",
			[]byte(handJWS(edSigner(attackerPriv), map[string]any{"alg": "EdDSA", "kid": "public-security-auth#1", "typ": eventTyp}, eventPayload("key_revoked", revoked)))},
		{"alg none", "malformed",
			[]byte(b64u.EncodeToString([]byte(`{"alg":"none","typ":"`+eventTyp+`"}`)) + "." + b64u.EncodeToString(mustJSON(eventPayload("key_revoked", revoked))) + ".")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			was := refusedEvents(t, env, tc.reason)
			produceRaw(t, env, env.Kafka.Names.Keys(), []byte(victim), tc.value)
			waitFor(t, "the node to read the event", func() bool {
				return listedKeys(t, env)[victim] != "active" || refusedEvents(t, env, tc.reason) > was
			})
			if st := listedKeys(t, env)[victim]; st != "active" {
				t.Fatalf("%s is %s after the forged revocation, want active", victim, st)
			}
		})
	}

	// An officer registers v2, then v3 (which retires v2). The genuine,
	// signed registration of v2 produced again must not make v2 active.
	officer := token(t, env, "security-officer")
	register := func(kid string) {
		t.Helper()
		pub, _ := newKey(t)
		body, _ := json.Marshal(map[string]any{"client_id": "public-security", "use": "record", "reason": "rotation",
			"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64u.EncodeToString(pub), "kid": kid}})
		if status, out := post(t, env.BaseURL+"/v1/keys", officer, body); status != http.StatusOK {
			t.Fatalf("register %s: %d %v", kid, status, out)
		}
	}
	register("public-security-record#2")
	register("public-security-record#3")
	var replay []byte
	for _, m := range readAll(t, env, env.Kafka.Names.Keys()) {
		if string(m.Key) == "public-security-record#2" {
			replay = m.Value // the first is its registration as active
			break
		}
	}
	if replay == nil {
		t.Fatal("no event for public-security-record#2 in the keys topic")
	}
	was := refusedEvents(t, env, "backwards")
	produceRaw(t, env, env.Kafka.Names.Keys(), []byte("public-security-record#2"), replay)
	waitFor(t, "the node to read the replay", func() bool {
		return listedKeys(t, env)["public-security-record#2"] != "retired" || refusedEvents(t, env, "backwards") > was
	})
	if st := listedKeys(t, env)["public-security-record#2"]; st != "retired" {
		t.Fatalf("public-security-record#2 is %s after its old registration was replayed, want retired", st)
	}
	waitFor(t, "the refusals in the audit log", func() bool {
		c := auditCodes(t, env)
		return c["key_event_refused:malformed"] >= 2 && c["key_event_refused:bad_signature"] >= 1 &&
			c["key_event_refused:unknown_signer"] >= 1 && c["key_event_refused:backwards"] >= 1
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func mustClient(t *testing.T, env *dev.Env, id string) *connectors.Client {
	t.Helper()
	c, err := env.Client(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAttackKeysOfficerRevokesExchangeKey: an officer cannot revoke the
// exchange's own keys through the API (every token would die with them);
// that is the break-glass procedure through the key backend.
func TestAttackKeysOfficerRevokesExchangeKey(t *testing.T) {
	env := startDev(t)
	officer := token(t, env, "security-officer")
	for _, kid := range []string{"exchange-token#1", "exchange-receipt#1", "exchange-audit#1"} {
		body, _ := json.Marshal(map[string]any{"kid": kid, "reason": "attack"})
		status, out := post(t, env.BaseURL+"/v1/keys/revoke", officer, body)
		if status != http.StatusForbidden || errCode(out) != "exchange_key" {
			t.Errorf("officer revoking %s: %d %v, want 403 exchange_key", kid, status, out)
		}
	}
	for _, kid := range []string{"exchange-token#1", "exchange-receipt#1", "exchange-audit#1"} {
		if st := listedKeys(t, env)[kid]; st != "active" {
			t.Errorf("%s is %q, want active", kid, st)
		}
	}
	body := []byte(`{"subject":"330106202003080153","reason":"check"}`)
	if status, out := post(t, env.BaseURL+"/v1/audit/subject", officer, body); status != http.StatusOK {
		t.Errorf("the officer's own token after the refused revocations: %d %v", status, out)
	}
}

// TestAttackKeysRegisterChecks: POST /v1/keys refuses kids with control
// or look-alike characters and a public key another client holds.
func TestAttackKeysRegisterChecks(t *testing.T) {
	env := startDev(t)
	officer := token(t, env, "security-officer")
	fresh, _ := newKey(t)
	dir, err := (&connectors.Requester{Client: mustClient(t, env, "newborn-registration")}).Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	taxKey, err := dir.PublicKey("tax-bureau-record#1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		kid        string
		x          ed25519.PublicKey
		wantStatus int
		wantCode   string
	}{
		{"newline in kid", "public-security-record\n#2", fresh, 400, "bad_kid"},
		{"NUL in kid", "public-security-record\x00#2", fresh, 400, "bad_kid"},
		{"escape sequence in kid", "public-security-record\x1b[2J#2", fresh, 400, "bad_kid"},
		{"right-to-left override in kid", "public-security-\u202edrocer#2", fresh, 400, "bad_kid"},
		{"space in kid", "public-security-record #2", fresh, 400, "bad_kid"},
		{"another client's public key", "public-security-record#2", taxKey.Key, 409, "key_in_use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"client_id": "public-security", "use": "record", "reason": "test",
				"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64u.EncodeToString(tc.x), "kid": tc.kid}})
			status, out := post(t, env.BaseURL+"/v1/keys", officer, body)
			if status != tc.wantStatus || errCode(out) != tc.wantCode {
				t.Fatalf("register %q: %d %v, want %d %s", tc.kid, status, out, tc.wantStatus, tc.wantCode)
			}
		})
	}
	listed := listedKeys(t, env)
	for kid := range listed {
		if strings.HasPrefix(kid, "public-security-record") && kid != "public-security-record#1" {
			t.Errorf("/v1/keys lists %q after refused registrations", kid)
		}
	}
}
