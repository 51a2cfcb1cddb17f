package dev_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange/keys"
)

// controlTopic names the control-plane topic the way an outsider would:
// next to the keys topic in the same namespace.
func controlTopic(env *dev.Env) string {
	return strings.TrimSuffix(env.Kafka.Names.Keys(), ".keys") + ".control"
}

// handEvent is a control event's claims in the documented format
// (exchange/control), written by hand.
func handEvent(iss, action, proposal string, base int, reason, pol string) map[string]any {
	return map[string]any{
		"iss": iss, "jti": fmt.Sprintf("hand-%d", time.Now().UnixNano()), "iat": time.Now().Unix(),
		"action": action, "proposal": proposal, "base": base, "reason": reason, "policy": pol,
	}
}

// clientKey returns a sample client's auth kid and private-key signer,
// from its credentials file.
func clientKey(t *testing.T, env *dev.Env, client string) (string, func([]byte) []byte) {
	t.Helper()
	c, err := env.Credentials(client)
	if err != nil {
		t.Fatal(err)
	}
	kid, priv, err := keys.ParsePrivateJWK(c.AuthKey)
	if err != nil {
		t.Fatal(err)
	}
	return kid, edSigner(priv)
}

// policyRefusals counts the policy_change deny entries of the audit
// topic, read raw, by code.
func policyRefusals(t *testing.T, env *dev.Env) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range readAll(t, env, env.Kafka.Names.Audit()) {
		var e struct{ Kind, Decision, Code string }
		if json.Unmarshal(m.Value, &e) == nil && e.Kind == "policy_change" && e.Decision == "deny" {
			out[e.Code]++
		}
	}
	return out
}

// TestAttackPolicyEventsFromTopic: with a broker credential, an outsider
// produces policy changes straight to the control topic with their own
// kafka-go writer: unsigned, signed by a consumer (not an officer), signed
// by a key of their own under the officer's kid, and signed by a consumer
// claiming to be the officer; and replays a genuine officer's event. No
// node applies any of them: the policy stays as it was, and each is
// counted and audited.
func TestAttackPolicyEventsFromTopic(t *testing.T) {
	env := startDev(t)
	topic := controlTopic(env)
	var cur map[string]any
	waitFor(t, "the seed applied", func() bool {
		resp, b := call(t, "GET", env.BaseURL+"/v1/policy/versions", "", nil, nil)
		cur = nil
		_ = json.Unmarshal(b, &cur)
		return resp.StatusCode == 200 && cur["current"] == float64(1)
	})
	narrow, _ := examplesWith(t, schoolNarrow)
	typ := map[string]any{"alg": "EdDSA", "typ": "onevisit-control+jwt"}
	hdr := func(kid string) map[string]any {
		h := map[string]any{"kid": kid}
		for k, v := range typ {
			h[k] = v
		}
		return h
	}
	consumerKID, consumerSign := clientKey(t, env, schoolService)
	officerKID, officerSign := clientKey(t, env, officer)
	_, attackerPriv := newKey(t)

	forged := map[string]string{
		"unsigned": func() string {
			tok := handJWS(func([]byte) []byte { return nil }, map[string]any{"alg": "none", "typ": "onevisit-control+jwt"},
				handEvent(officer, "policy.narrow", "forged-1", 1, "attack", narrow))
			return strings.TrimSuffix(tok, ".") + "."
		}(),
		"signed by a consumer":                 handJWS(consumerSign, hdr(consumerKID), handEvent(schoolService, "policy.narrow", "forged-2", 1, "attack", narrow)),
		"attacker key under the officer's kid": handJWS(edSigner(attackerPriv), hdr(officerKID), handEvent(officer, "policy.narrow", "forged-3", 1, "attack", narrow)),
		"consumer key claiming the officer":    handJWS(consumerSign, hdr(consumerKID), handEvent(officer, "policy.narrow", "forged-4", 1, "attack", narrow)),
		"not a JWS":                            "{\"action\":\"policy.narrow\"}",
	}
	for name, ev := range forged {
		t.Logf("producing %s", name)
		produceRaw(t, env, topic, nil, []byte(ev))
	}
	waitFor(t, "five forged events audited as refused", func() bool {
		return policyRefusals(t, env)["policy_event_refused:bad_event"] == len(forged)
	})
	if got := refusedPolicyEvents(t, env, "bad_event"); got != len(forged) {
		t.Errorf("onevisit_policy_events_refused_total{reason=bad_event} = %d, want %d", got, len(forged))
	}
	if got := schoolHouseholdFields(t, env, env.BaseURL); !reflect.DeepEqual(got, fieldsBefore) {
		t.Fatalf("after forged events: fields %v, want %v", got, fieldsBefore)
	}

	// A genuine narrowing, through the API, then replayed to the topic.
	genuine := handJWS(officerSign, hdr(officerKID), handEvent(officer, "policy.narrow", "genuine-1", 1, "incident", narrow))
	b, _ := json.Marshal(map[string]string{"event": genuine})
	if status, body := post(t, env.BaseURL+"/v1/policy/events", token(t, env, officer), b); status != http.StatusOK {
		t.Fatalf("genuine narrowing: %d %v", status, body)
	}
	produceRaw(t, env, topic, nil, []byte(genuine))
	waitFor(t, "the replay audited as refused", func() bool {
		return policyRefusals(t, env)["policy_event_refused:replay"] == 1
	})
	resp, vb := call(t, "GET", env.BaseURL+"/v1/policy/versions", "", nil, nil)
	_ = json.Unmarshal(vb, &cur)
	if resp.StatusCode != 200 || cur["current"] != float64(2) {
		t.Fatalf("after the replay: %s", vb)
	}
}

// refusedPolicyEvents reads onevisit_policy_events_refused_total{reason}.
func refusedPolicyEvents(t *testing.T, env *dev.Env, reason string) int {
	t.Helper()
	resp, body := call(t, "GET", env.BaseURL+"/metrics", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	prefix := `onevisit_policy_events_refused_total{reason="` + reason + `"} `
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}
