package dev_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/control"
)

// The school-enrolment household fields of policy/examples, and the two
// changes the governance tests make to them.
const (
	schoolFields  = "fields: [name, birth_date, household_id, relation_to_head, address]"
	schoolWiden   = "fields: [name, birth_date, household_id, relation_to_head, address, gender]"
	schoolNarrow  = "fields: [name, birth_date, household_id, relation_to_head]"
	examplesDir   = "../../../policy/examples"
	officer       = "security-officer"
	reviewer      = "security-reviewer"
	schoolService = "school-enrolment"
)

// examplesWith returns the example policy set, with the school-enrolment
// household fields line replaced by fields, as Set.YAML (what an event
// carries), and the set's content hash.
func examplesWith(t *testing.T, fields string) (string, string) {
	t.Helper()
	set := editedExamples(t, nil, "school-enrolment.yaml", func(s string) string {
		if !strings.Contains(s, schoolFields) {
			t.Fatalf("school-enrolment.yaml no longer has %q", schoolFields)
		}
		return strings.Replace(s, schoolFields, fields, 1)
	})
	return string(set.YAML()), set.Version()
}

// signEvent signs e as the officer client would (the CLI's way).
func signEvent(t *testing.T, env *dev.Env, client string, e control.Event) string {
	t.Helper()
	c, err := env.Credentials(client)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.AuthSigner()
	if err != nil {
		t.Fatal(err)
	}
	e.Issuer = client
	tok, err := control.Sign(context.Background(), s, e)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// act signs and submits one event, and checks the answer's status and
// error code ("" for 200).
func act(t *testing.T, env *dev.Env, base, client string, e control.Event, wantCode string) map[string]any {
	t.Helper()
	return actOn(t, env, base, "/v1/policy/events", client, e, wantCode)
}

type versionsDoc struct {
	Node     string `json:"node"`
	Current  uint64 `json:"current"`
	Hash     string `json:"policy_version"`
	Versions []struct {
		Number     uint64   `json:"number"`
		Hash       string   `json:"policy_version"`
		Proposal   string   `json:"proposal"`
		Officers   []string `json:"officers"`
		Reason     string   `json:"reason"`
		Effect     string   `json:"effect"`
		RollbackTo uint64   `json:"rollback_to"`
		Narrowing  bool     `json:"narrowing"`
	} `json:"versions"`
}

func versionsOf(t *testing.T, base string) versionsDoc {
	t.Helper()
	resp, body := call(t, "GET", base+"/v1/policy/versions", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/policy/versions: %d %s", resp.StatusCode, body)
	}
	var v versionsDoc
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// schoolHouseholdFields asks a node, as the officer, which household
// fields school enrolment may read: the node's current policy decision.
func schoolHouseholdFields(t *testing.T, env *dev.Env, base string) []string {
	t.Helper()
	status, body := post(t, base+"/v1/policy/explain", token(t, env, officer),
		[]byte(`{"consumer":"school-enrolment","dataset":"household","purpose":"school_enrolment"}`))
	if status != http.StatusOK {
		t.Fatalf("explain on %s: %d %v", base, status, body)
	}
	var out []string
	fs, _ := body["fields"].([]any)
	for _, f := range fs {
		out = append(out, f.(string))
	}
	slices.Sort(out)
	return out
}

var (
	fieldsBefore = []string{"address", "birth_date", "household_id", "name", "relation_to_head"}
	fieldsWide   = []string{"address", "birth_date", "gender", "household_id", "name", "relation_to_head"}
	fieldsNarrow = []string{"birth_date", "household_id", "name", "relation_to_head"}
)

// seeded waits until the node applied the seed (version 1) and returns
// its content hash.
func seeded(t *testing.T, base string) string {
	t.Helper()
	var v versionsDoc
	waitFor(t, "the seed applied on "+base, func() bool { v = versionsOf(t, base); return v.Current >= 1 })
	return v.Versions[0].Hash
}

// TestGovernanceApproveOnTwoNodes: a widening proposal changes nothing
// until a second officer approves it; self-approval is refused; once
// approved, both nodes decide by the new version (the time to the second
// node is measured and logged; the target is 5 s).
func TestGovernanceApproveOnTwoNodes(t *testing.T) {
	env, n2 := startTwoNodes(t, false)
	wide, wideHash := examplesWith(t, schoolWiden)

	body := act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "grant-gender", Base: 1, Reason: "enrolment needs gender for class balance", Policy: wide}, "")
	if p, _ := body["proposal"].(map[string]any); p["state"] != "pending" || p["effect"] != "widens" {
		t.Fatalf("proposal after propose: %v", p)
	}
	// Nothing changes before approval, on either node.
	for _, base := range []string{env.BaseURL, n2.BaseURL} {
		if got := schoolHouseholdFields(t, env, base); !reflect.DeepEqual(got, fieldsBefore) {
			t.Fatalf("%s before approval: fields %v, want %v", base, got, fieldsBefore)
		}
	}
	// The proposer cannot approve; nor widen alone by "narrowing".
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionApprove, Proposal: "grant-gender", Base: 1, Reason: "me again"}, "self_approval")
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionNarrow, Proposal: "sneak-gender", Base: 1, Reason: "incident", Policy: wide}, "needs_approval")

	approved := time.Now()
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "grant-gender", Base: 1, Reason: "reviewed the diff and what-if"}, "")
	// The API answers once its own node applied the version.
	if got := schoolHouseholdFields(t, env, env.BaseURL); !reflect.DeepEqual(got, fieldsWide) {
		t.Fatalf("node 1 right after approval: fields %v, want %v", got, fieldsWide)
	}
	testkit.WaitFor(t, 20*time.Second, "node 2 applies version 2", func() bool {
		return reflect.DeepEqual(schoolHouseholdFields(t, env, n2.BaseURL), fieldsWide)
	})
	lag := time.Since(approved)
	t.Logf("approval to both nodes deciding by version 2: %s (target 5s)", lag)
	if lag > 5*time.Second {
		t.Logf("WARNING: over the 5 s target on this run")
	}
	// An approval of a proposal no longer pending is refused.
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "grant-gender", Base: 1, Reason: "again"}, "unknown_proposal")

	for _, base := range []string{env.BaseURL, n2.BaseURL} {
		v := versionsOf(t, base)
		if v.Current != 2 || len(v.Versions) != 2 || v.Versions[1].Hash != wideHash || v.Hash != wideHash ||
			!reflect.DeepEqual(v.Versions[1].Officers, []string{officer, reviewer}) || v.Versions[1].Proposal != "grant-gender" {
			t.Fatalf("%s versions: %+v", base, v)
		}
		resp, hb := call(t, "GET", base+"/healthz", "", nil, nil)
		var h map[string]string
		_ = json.Unmarshal(hb, &h)
		if resp.StatusCode != 200 || h["policy_version"] != "2" {
			t.Fatalf("%s /healthz: %d %s", base, resp.StatusCode, hb)
		}
	}
	if n := metricValue(t, n2.BaseURL, "onevisit_policy_apply_lag_seconds_count"); n < 1 {
		t.Fatalf("node 2 onevisit_policy_apply_lag_seconds_count = %v, want >= 1", n)
	}
	t.Logf("node 2 apply lag sum: %vs", metricValue(t, n2.BaseURL, "onevisit_policy_apply_lag_seconds_sum"))
	// Every step is audited, naming the officers and their reasons.
	steps := policySteps(t, env)
	for _, want := range []string{
		"policy_seed:widens|onevisit|seeded from files",
		"policy_propose:widens|security-officer|enrolment needs gender for class balance",
		"policy_approve:widens|security-reviewer|reviewed the diff and what-if",
		"policy_apply:widens||enrolment needs gender for class balance",
		// Refused at the API, before it reached the topic.
		"deny:self_approval|security-officer|",
		"deny:needs_approval|security-officer|",
	} {
		if steps[want] == 0 {
			t.Errorf("no audit entry %q; have %v", want, steps)
		}
	}
}

// metricValue reads one sample of /metrics (0 if absent).
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, body := call(t, "GET", base+"/metrics", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_ = json.Unmarshal([]byte(v), &f)
			return f
		}
	}
	return 0
}

// policySteps counts the policy_change entries of the audit topic, read
// raw, as "code|actor|reason", and the API's deny entries of POST
// /v1/policy/events as "deny:code|actor|".
func policySteps(t *testing.T, env *dev.Env) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range readAll(t, env, env.Kafka.Names.Audit()) {
		var e struct {
			Kind, Code, Actor, Reason, Route string
		}
		if json.Unmarshal(m.Value, &e) == nil && e.Kind == "policy_change" {
			out[e.Code+"|"+e.Actor+"|"+e.Reason]++
		}
		if e.Kind == "deny" && e.Route == "POST /v1/policy/events" {
			out["deny:"+e.Code+"|"+e.Actor+"|"]++
		}
	}
	return out
}

// TestGovernanceNarrowNowAndRollback: one officer narrows at once; a
// stale base is refused; rolling back to version 1 is a proposal that
// (widening again) needs the second officer, and restores version 1's set.
func TestGovernanceNarrowNowAndRollback(t *testing.T) {
	env := startDev(t)
	seedHash := seeded(t, env.BaseURL)
	narrow, narrowHash := examplesWith(t, schoolNarrow)

	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionNarrow, Proposal: "drop-address", Base: 1, Reason: "incident 2026-7: address leak", Policy: narrow}, "")
	if got := schoolHouseholdFields(t, env, env.BaseURL); !reflect.DeepEqual(got, fieldsNarrow) {
		t.Fatalf("after narrow now: fields %v, want %v", got, fieldsNarrow)
	}
	v := versionsOf(t, env.BaseURL)
	if v.Current != 2 || v.Versions[1].Hash != narrowHash || !v.Versions[1].Narrowing || v.Versions[1].Effect != "narrows" {
		t.Fatalf("versions after narrow now: %+v", v)
	}
	// A proposal against version 1 is stale now.
	wide, _ := examplesWith(t, schoolWiden)
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "late", Base: 1, Reason: "old view", Policy: wide}, "stale_base")
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "no-such", Base: 2, Reason: "typo"}, "unknown_proposal")

	// Roll back to version 1: it widens again, so it needs approval.
	body := act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionRollback, Proposal: "undo-incident", Base: 2, Reason: "incident closed", RollbackTo: 1}, "")
	if p, _ := body["proposal"].(map[string]any); p["state"] != "pending" || p["effect"] != "widens" {
		t.Fatalf("rollback proposal: %v", p)
	}
	if got := schoolHouseholdFields(t, env, env.BaseURL); !reflect.DeepEqual(got, fieldsNarrow) {
		t.Fatalf("rollback before approval: fields %v", got)
	}
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "undo-incident", Base: 2, Reason: "agreed"}, "")
	if got := schoolHouseholdFields(t, env, env.BaseURL); !reflect.DeepEqual(got, fieldsBefore) {
		t.Fatalf("after rollback: fields %v, want %v", got, fieldsBefore)
	}
	v = versionsOf(t, env.BaseURL)
	if v.Current != 3 || v.Versions[2].Hash != seedHash || v.Versions[2].RollbackTo != 1 {
		t.Fatalf("versions after rollback: %+v", v)
	}
}

// TestGovernanceRestartKeepsVersions: a restarted node replays the
// control topic and decides by the version it had, not by its files.
func TestGovernanceRestartKeepsVersions(t *testing.T) {
	dir := t.TempDir()
	env := startAt(t, dir, true)
	seeded(t, env.BaseURL)
	narrow, narrowHash := examplesWith(t, schoolNarrow)
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionNarrow, Proposal: "drop-address", Base: 1, Reason: "incident", Policy: narrow}, "")
	before := versionsOf(t, env.BaseURL)
	env.Close()

	env = startAt(t, dir, true)
	var after versionsDoc
	waitFor(t, "the restarted node replays version 2", func() bool { after = versionsOf(t, env.BaseURL); return after.Current == 2 })
	if after.Hash != narrowHash || !reflect.DeepEqual(after.Versions, before.Versions) {
		t.Fatalf("after restart: %+v, before: %+v", after, before)
	}
	if got := schoolHouseholdFields(t, env, env.BaseURL); !reflect.DeepEqual(got, fieldsNarrow) {
		t.Fatalf("after restart: fields %v, want %v", got, fieldsNarrow)
	}
}

// TestGovernanceThreeOfficers: with N = 3 an officer's second approval of
// the same proposal is refused (already_approved) and does not count:
// two distinct officers leave a widening pending.
func TestGovernanceThreeOfficers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true, PolicyApprovals: 3}
	if kc, spec, ok := testKafka(t, fmt.Sprintf("t%d-three-officers", time.Now().UnixNano())); ok {
		o.Kafka, o.Topics = kc, spec
	}
	env, err := dev.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	seeded(t, env.BaseURL)
	wide, _ := examplesWith(t, schoolWiden)
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "grant-gender", Base: 1, Reason: "class balance", Policy: wide}, "")
	body := act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "grant-gender", Base: 1, Reason: "ok"}, "")
	if p, _ := body["proposal"].(map[string]any); p["state"] != "pending" {
		t.Fatalf("after 2 of 3 officers: %v", p)
	}
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "grant-gender", Base: 1, Reason: "ok again"}, "already_approved")
	if v := versionsOf(t, env.BaseURL); v.Current != 1 {
		t.Fatalf("version %d after two officers of three, want 1", v.Current)
	}
	if got := schoolHouseholdFields(t, env, env.BaseURL); !reflect.DeepEqual(got, fieldsBefore) {
		t.Fatalf("fields %v, want %v", got, fieldsBefore)
	}
}
