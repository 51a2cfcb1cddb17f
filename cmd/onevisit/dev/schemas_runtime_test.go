package dev_test

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/schemas"
)

// householdV2 is schemas/household/v1.json as version 2 with an optional
// phone field (compatible under BACKWARD), or a required one (not).
func householdV2(t *testing.T, phoneRequired bool, version string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../../schemas/household/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["$id"] = schemas.IDBase + "household/" + version
	doc["properties"].(map[string]any)["phone"] = map[string]any{"type": "string", "pattern": "^1[0-9]{10}$"}
	if phoneRequired {
		doc["required"] = append(doc["required"].([]any), "phone")
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// examplesWithPhone is the example policy set with school enrolment also
// reading the household phone, parsed against a registry that has v2.
func examplesWithPhone(t *testing.T) string {
	t.Helper()
	def, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	reg := def.Clone()
	p, err := reg.Prepare(householdV2(t, false, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(p); err != nil {
		t.Fatal(err)
	}
	set := editedExamples(t, reg, "school-enrolment.yaml", func(s string) string {
		return strings.Replace(s, schoolFields, "fields: [name, birth_date, household_id, relation_to_head, address, phone]", 1)
	})
	return string(set.YAML())
}

// submitSchemaEvent signs e as client and posts it to base's
// /v1/schemas/events; it checks the answer's error code ("" for 200).
func submitSchemaEvent(t *testing.T, env *dev.Env, base, client string, e control.Event, wantCode string) map[string]any {
	t.Helper()
	return actOn(t, env, base, "/v1/schemas/events", client, e, wantCode)
}

// householdVersions lists the household schema versions base holds.
func householdVersions(t *testing.T, base string) []string {
	t.Helper()
	resp, body := call(t, "GET", base+"/v1/schemas", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/schemas: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Schemas []struct {
			Dataset  string   `json:"dataset"`
			Versions []string `json:"versions"`
		} `json:"schemas"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range out.Schemas {
		if s.Dataset == "household" {
			return s.Versions
		}
	}
	return nil
}

// schoolQueryFields asks base for subject as school enrolment and returns the
// status and the released field names.
func schoolQueryFields(t *testing.T, env *dev.Env, base, subject string) (int, []string) {
	t.Helper()
	status, rec := servedQueryAt(t, base, token(t, env, schoolService), "household", subject, "school_enrolment", "SE-2026-0077")
	return status, fieldNames(rec)
}

// TestSchemasProposeOnTwoNodes: an officer proposes household/v2; the
// node checks its compatibility under the dataset's mode at
// registration, a policy cannot name its new field before it is
// approved, a second officer approves, both nodes add it without a
// restart, and records of v1 and v2 are both served.
func TestSchemasProposeOnTwoNodes(t *testing.T) {
	env, n2 := startTwoNodes(t, true)
	withPhone := examplesWithPhone(t)

	// Refused at registration: not compatible, not the next version, and
	// a policy naming a field no version has yet.
	submitSchemaEvent(t, env, env.BaseURL, officer, control.Event{Action: control.ActionSchemasPropose, Proposal: "hh-v2-required", Base: 1,
		Reason: "phone numbers", Schema: householdV2(t, true, "v2")}, "incompatible_schema")
	submitSchemaEvent(t, env, env.BaseURL, officer, control.Event{Action: control.ActionSchemasPropose, Proposal: "hh-v3", Base: 1,
		Reason: "phone numbers", Schema: householdV2(t, false, "v3")}, "bad_schema")
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "grant-phone-early", Base: 1,
		Reason: "phone for enrolment", Policy: withPhone}, "unknown_policy_field")

	body := submitSchemaEvent(t, env, env.BaseURL, officer, control.Event{Action: control.ActionSchemasPropose, Proposal: "hh-v2", Base: 1,
		Reason: "public security adds phone numbers", Schema: householdV2(t, false, "v2")}, "")
	p, _ := body["proposal"].(map[string]any)
	if p["state"] != "pending" || p["effect"] != "widens" ||
		!reflect.DeepEqual(p["widenings"], []any{"widen: dataset household accepts schema version household/v2 with new fields phone"}) {
		t.Fatalf("schema proposal: %v", p)
	}
	if got := householdVersions(t, env.BaseURL); !reflect.DeepEqual(got, []string{"household/v1"}) {
		t.Fatalf("versions before approval: %v", got)
	}
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionApprove, Proposal: "hh-v2", Base: 1, Reason: "mine"}, "self_approval")
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "hh-v2", Base: 1, Reason: "compatible, reviewed"}, "")
	for _, base := range []string{env.BaseURL, n2.BaseURL} {
		testkit.WaitFor(t, 20*time.Second, base+" holds household/v2", func() bool {
			return reflect.DeepEqual(householdVersions(t, base), []string{"household/v1", "household/v2"})
		})
	}
	// The version it serves now cannot be proposed again.
	submitSchemaEvent(t, env, env.BaseURL, officer, control.Event{Action: control.ActionSchemasPropose, Proposal: "hh-v2-again", Base: 2,
		Reason: "again", Schema: householdV2(t, false, "v2")}, "bad_schema")
	// Now a policy may name phone; school enrolment gets it where a
	// record has it.
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "grant-phone", Base: 2, Reason: "phone for enrolment", Policy: withPhone}, "")
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "grant-phone", Base: 2, Reason: "ok"}, "")

	subject := "33010620180101001"
	subject += string(schemas.ResidentIDCheck(subject))
	rec := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v2", ID: "hh-v2-rec-1", IssuedAt: time.Now()},
		map[string]any{"resident_id": subject, "name": "陈小雨", "gender": "female", "birth_date": "2018-01-01", "ethnicity": "汉族",
			"household_id": samples.ChildHouseholdID, "relation_to_head": "grandchild", "address": "杭州市西湖区文三路 1 号", "registration_date": "2018-01-10",
			"phone": "13800000000"})
	if status, out := publishHTTP(t, env, "public-security", "household", rec); status != http.StatusOK || !reflect.DeepEqual(resultCodes(out), []string{"accepted"}) {
		t.Fatalf("publish a household/v2 record: %d %v", status, out)
	}
	v1Fields := []string{"address", "birth_date", "household_id", "name", "relation_to_head", "resident_id"}
	v2Fields := []string{"address", "birth_date", "household_id", "name", "phone", "relation_to_head", "resident_id"}
	for _, base := range []string{env.BaseURL, n2.BaseURL} {
		var got []string
		testkit.WaitFor(t, 20*time.Second, base+" serves the v2 record", func() bool {
			status, f := schoolQueryFields(t, env, base, subject)
			got = f
			return status == http.StatusOK
		})
		if !reflect.DeepEqual(got, v2Fields) {
			t.Fatalf("%s v2 record: fields %v, want %v", base, got, v2Fields)
		}
		if status, got := schoolQueryFields(t, env, base, samples.ChildResidentID); status != http.StatusOK || !reflect.DeepEqual(got, v1Fields) {
			t.Fatalf("%s v1 record: %d fields %v, want %v", base, status, got, v1Fields)
		}
	}
}

// TestSchemasRestartKeepsVersions: a restarted node replays the control
// topic and holds the schema versions approved before, beyond its files.
func TestSchemasRestartKeepsVersions(t *testing.T) {
	dir := t.TempDir()
	env := startAt(t, dir, true)
	seeded(t, env.BaseURL)
	submitSchemaEvent(t, env, env.BaseURL, officer, control.Event{Action: control.ActionSchemasPropose, Proposal: "hh-v2", Base: 1,
		Reason: "phone numbers", Schema: householdV2(t, false, "v2")}, "")
	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "hh-v2", Base: 1, Reason: "ok"}, "")
	if got := householdVersions(t, env.BaseURL); !reflect.DeepEqual(got, []string{"household/v1", "household/v2"}) {
		t.Fatalf("before restart: %v", got)
	}
	env.Close()

	env = startAt(t, dir, true)
	waitFor(t, "the restarted node replays version 2", func() bool { return versionsOf(t, env.BaseURL).Current == 2 })
	if got := householdVersions(t, env.BaseURL); !reflect.DeepEqual(got, []string{"household/v1", "household/v2"}) {
		t.Fatalf("after restart: %v", got)
	}
}
