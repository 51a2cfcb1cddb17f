package dev_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/policy"
)

// TestGovernanceWhatIf: the review of a proposal replays the query
// decisions of the audit log under it, and its counts match a replay
// computed by hand: school enrolment read the child's household 3 times
// (each answer would gain gender under the proposal) and was refused tax
// twice (still refused); newborn registration read the household once
// (unchanged).
func TestGovernanceWhatIf(t *testing.T) {
	env := startDev(t)
	seeded(t, env.BaseURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := env.PublishSamples(ctx); err != nil {
		t.Fatal(err)
	}
	school, newborn := token(t, env, schoolService), token(t, env, "newborn-registration")
	caseIDs := map[string]string{"school_enrolment": "SE-2026-0001", "newborn_registration": "NB-2026-0001"}
	ask := func(tok, dataset, subject, purpose string) int {
		b, _ := json.Marshal(map[string]string{"dataset": dataset, "subject": subject, "purpose": purpose, "case_id": caseIDs[purpose]})
		status, _ := post(t, env.BaseURL+"/v1/query", tok, b)
		return status
	}
	// Until the record is in the view the exchange answers not-found
	// refusals, which no policy decided and the replay leaves out.
	waitFor(t, "the child's household record", func() bool {
		return ask(school, "household", samples.ChildResidentID, "school_enrolment") == http.StatusOK
	})
	for range 2 {
		if s := ask(school, "household", samples.ChildResidentID, "school_enrolment"); s != http.StatusOK {
			t.Fatalf("school household query: %d", s)
		}
	}
	for range 2 {
		if s := ask(school, "tax", samples.GuardianResidentID, "school_enrolment"); s != http.StatusForbidden {
			t.Fatalf("school tax query: %d, want 403", s)
		}
	}
	if s := ask(newborn, "household", samples.ChildResidentID, "newborn_registration"); s != http.StatusOK {
		t.Fatalf("newborn household query: %d", s)
	}

	wide, _ := examplesWith(t, schoolWiden)
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "grant-gender", Base: 1, Reason: "class balance", Policy: wide}, "")

	want := []policy.Impact{
		{Consumer: "newborn-registration", Answers: 1, Gained: []policy.FieldCount{}, Lost: []policy.FieldCount{}},
		{Consumer: "school-enrolment", Answers: 5, Changed: 3, FieldsChanged: 3,
			Gained: []policy.FieldCount{{Dataset: "household", Field: "gender", Answers: 3}}, Lost: []policy.FieldCount{}},
	}
	var got struct {
		Effect  string        `json:"effect"`
		Changes []string      `json:"changes"`
		WhatIf  policy.Report `json:"what_if"`
	}
	officerTok := token(t, env, officer)
	waitFor(t, "the six decisions in the node's audit log", func() bool {
		resp, body := call(t, "GET", env.BaseURL+"/v1/policy/proposals/grant-gender", "Bearer "+officerTok, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("review: %d %s", resp.StatusCode, body)
		}
		got.WhatIf = policy.Report{}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		return got.WhatIf.Replayed >= 6
	})
	if got.WhatIf.Replayed != 6 || got.WhatIf.Changed != 3 || !reflect.DeepEqual(got.WhatIf.Consumers, want) {
		t.Fatalf("what-if: replayed %d changed %d consumers %+v\nwant replayed 6 changed 3 consumers %+v",
			got.WhatIf.Replayed, got.WhatIf.Changed, got.WhatIf.Consumers, want)
	}
	wantChanges := []string{"gain: school-enrolment may read gender of household for school_enrolment (case id required)"}
	if got.Effect != "widens" || !reflect.DeepEqual(got.Changes, wantChanges) {
		t.Fatalf("review: effect %q changes %q, want widens %q", got.Effect, got.Changes, wantChanges)
	}
}
