package dev_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/schemas"
)

// TestAttackClientEventsFromTopic: with a broker credential, an outsider
// produces client changes straight to the control topic with their own
// kafka-go writer: an enrolment of a service of theirs as an officer,
// unsigned, signed by a consumer, signed by a consumer claiming to be
// the officer, and signed by their own key under the officer's kid; and
// a consumer's disablement of the reviewer. No node applies any: the
// registry stays as it was, the rogue service gets no token, the
// reviewer keeps working, and each event is counted and audited.
func TestAttackClientEventsFromTopic(t *testing.T) {
	env := startDev(t)
	seeded(t, env.BaseURL)
	topic := controlTopic(env)
	before := clientsOf(t, env, env.BaseURL)
	hdr := func(kid string) map[string]any {
		return map[string]any{"alg": "EdDSA", "typ": "onevisit-control+jwt", "kid": kid}
	}
	consumerKID, consumerSign := clientKey(t, env, schoolService)
	officerKID, _ := clientKey(t, env, officer)
	roguePriv, rogueJWK := newClientKey(t, "rogue-service-auth#1")
	n := 0
	claims := func(iss, action string, extra map[string]any) map[string]any {
		n++
		c := map[string]any{"iss": iss, "jti": fmt.Sprintf("hand-%d-%d", time.Now().UnixNano(), n), "iat": time.Now().Unix(),
			"action": action, "proposal": fmt.Sprintf("forged-%d", n), "base": 1, "reason": "attack"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	enrol := map[string]any{"client": map[string]any{"client_id": "rogue-service", "role": "officer"}, "jwk": json.RawMessage(rogueJWK)}
	forged := map[string]string{
		"unsigned enrolment": strings.TrimSuffix(handJWS(func([]byte) []byte { return nil }, map[string]any{"alg": "none", "typ": "onevisit-control+jwt"},
			claims(officer, "clients.add", enrol)), ".") + ".",
		"enrolment signed by a consumer":                 handJWS(consumerSign, hdr(consumerKID), claims(schoolService, "clients.add", enrol)),
		"enrolment by a consumer claiming the officer":   handJWS(consumerSign, hdr(consumerKID), claims(officer, "clients.add", enrol)),
		"enrolment by an attacker key under the officer": handJWS(edSigner(roguePriv), hdr(officerKID), claims(officer, "clients.add", enrol)),
		"disablement signed by a consumer":               handJWS(consumerSign, hdr(consumerKID), claims(schoolService, "clients.disable", map[string]any{"client_id": reviewer})),
	}
	for name, ev := range forged {
		t.Logf("producing %s", name)
		produceRaw(t, env, topic, nil, []byte(ev))
	}
	waitFor(t, "every forged client event audited as refused", func() bool {
		return policyRefusals(t, env)["policy_event_refused:bad_event"] == len(forged)
	})
	if got := refusedPolicyEvents(t, env, "bad_event"); got != len(forged) {
		t.Errorf("onevisit_policy_events_refused_total{reason=bad_event} = %d, want %d", got, len(forged))
	}
	after := clientsOf(t, env, env.BaseURL)
	if !reflect.DeepEqual(after, before) || after[reviewer].Disabled {
		t.Fatalf("registry after forged events: %+v, before %+v", after, before)
	}
	if _, ok := after["rogue-service"]; ok {
		t.Fatal("the rogue service was enrolled")
	}
	if _, err := tokenAs(env.BaseURL, "rogue-service", "rogue-service-auth#1", roguePriv); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("token for the rogue service: %v, want invalid_client", err)
	}
	token(t, env, reviewer) // the reviewer still gets one
	if v := versionsOf(t, env.BaseURL); v.Current != 1 {
		t.Fatalf("version %d after forged events, want 1", v.Current)
	}
}

// TestAttackDisabledPublisherStraightToIngest: once an officer disables a
// publisher, a record signed with its key and produced straight to the
// ingest topic (bypassing the token it can no longer get) is
// dead-lettered key_revoked, not served.
func TestAttackDisabledPublisherStraightToIngest(t *testing.T) {
	env := startDev(t)
	seeded(t, env.BaseURL)
	submitClientEvent(t, env, env.BaseURL, officer, control.Event{Action: control.ActionClientsDisable, Proposal: "off-ps", Base: 1,
		Reason: "incident: record key leaked", ClientID: "public-security"}, "")
	subject := "33010620180101002"
	subject += string(schemas.ResidentIDCheck(subject))
	raw := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "after-disable-1", IssuedAt: time.Now()},
		map[string]any{"resident_id": subject, "name": "陈小风", "gender": "male", "birth_date": "2018-01-01", "ethnicity": "汉族",
			"household_id": samples.ChildHouseholdID, "relation_to_head": "grandchild", "address": "杭州市西湖区文三路 1 号", "registration_date": "2018-01-10"})
	produce(t, rawWriter(t, env, env.Kafka.Names.Ingest("household")), []byte(raw))
	var code string
	waitFor(t, "the record dead-lettered", func() bool {
		for _, m := range readAll(t, env, env.Kafka.Names.Rejected("household")) {
			var dl deadLetter
			if json.Unmarshal(m.Value, &dl) == nil && dl.Record == raw {
				code = dl.Code
				return true
			}
		}
		return false
	})
	if code != "key_revoked" {
		t.Fatalf("dead letter code %q, want key_revoked", code)
	}
	if status, _ := servedQuery(t, env, token(t, env, schoolService), "household", subject, "school_enrolment", "SE-2026-0001"); status == http.StatusOK {
		t.Fatal("the disabled publisher's record is served")
	}
}
