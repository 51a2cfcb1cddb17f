package dev_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/policy"
)

// TestGovernanceWhatIfCaseItems: a proposal's review replays the items of
// a case bundle as they were released, narrowed to the procedure's
// fields for each role, so a change that does not touch the procedure
// shows no change for them (without the narrowing, the birth item would
// seem to gain issued_date, which the policy allows and the procedure
// does not use).
func TestGovernanceWhatIfCaseItems(t *testing.T) {
	env := startDev(t)
	seeded(t, env.BaseURL)
	n := 0
	publishDatasets(t, env, &n, "household", "birth", "marriage")
	a, err := requester(t, env, "newborn-registration").Case(context.Background(), connectors.CaseQuery{
		Procedure: "newborn_registration", CaseID: "NB-2026-0001",
		Subjects: map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID, "mother": samples.MotherResidentID},
	})
	if err != nil || !a.Complete {
		t.Fatalf("case: %v (complete %t)", err, a != nil && a.Complete)
	}
	wide, _ := examplesWith(t, schoolWiden)
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "grant-gender", Base: 1, Reason: "class balance", Policy: wide}, "")
	var got struct {
		WhatIf policy.Report `json:"what_if"`
	}
	officerTok := token(t, env, officer)
	waitFor(t, "the five items in the node's audit log", func() bool {
		resp, body := call(t, "GET", env.BaseURL+"/v1/policy/proposals/grant-gender", "Bearer "+officerTok, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("review: %d %s", resp.StatusCode, body)
		}
		got.WhatIf = policy.Report{}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		return got.WhatIf.Replayed >= 5
	})
	want := []policy.Impact{{Consumer: "newborn-registration", Answers: 5, Gained: []policy.FieldCount{}, Lost: []policy.FieldCount{}}}
	if got.WhatIf.Replayed != 5 || got.WhatIf.Changed != 0 || !reflect.DeepEqual(got.WhatIf.Consumers, want) {
		t.Fatalf("what-if: replayed %d changed %d consumers %+v, want 5 items replayed unchanged", got.WhatIf.Replayed, got.WhatIf.Changed, got.WhatIf.Consumers)
	}
}
