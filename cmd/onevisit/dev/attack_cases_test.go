package dev_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/wire"
)

// caseRewrite is a man in the middle (or a dishonest exchange): it
// rewrites the genuine answer to POST /v1/cases with edit, keeping every
// record and receipt genuine, so only the requester SDK's checks of the
// whole bundle stand in the way.
type caseRewrite struct{ edit func(*wire.CaseAnswer) }

func (c caseRewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.URL.Path != "/v1/cases" || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var a wire.CaseAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, err
	}
	c.edit(&a)
	if b, err = json.Marshal(a); err != nil {
		return nil, err
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return resp, nil
}

// TestAttackCaseBundleTampered: genuine records and receipts rearranged
// in a bundle (an item about the other parent, a receipt of another case,
// an item twice, an item under a role not asked about, complete claimed
// with items missing, a field changed; an item dropped, or listed as
// missing, a missing item's reason changed, the case receipt swapped or
// left out) fail the requester SDK's verification of the whole bundle;
// the honest bundle verifies.
func TestAttackCaseBundleTampered(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	n := 0
	publishDatasets(t, env, &n, "household", "birth", "marriage")
	subjects := map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID, "mother": samples.MotherResidentID}
	q := connectors.CaseQuery{Procedure: "newborn_registration", CaseID: "NB-2026-0001", Subjects: subjects}
	if _, err := requester(t, env, "newborn-registration").Case(ctx, q); err != nil {
		t.Fatalf("honest bundle: %v", err)
	}
	// Genuine receipts of another case, for the same records.
	other := map[string]string{}
	resp, b := call(t, "POST", env.BaseURL+"/v1/cases", "Bearer "+token(t, env, "newborn-registration"),
		[]byte(`{"procedure":"newborn_registration","case_id":"NB-2026-0002","subjects":{"child":"`+samples.ChildResidentID+`"}}`), nil)
	var otherCase wire.CaseAnswer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &otherCase) != nil || len(otherCase.Items) != 1 {
		t.Fatalf("second case: %d %s", resp.StatusCode, b)
	}
	other["child/birth"] = otherCase.Items[0].Receipt
	other["case"] = otherCase.Receipt

	index := func(a *wire.CaseAnswer, role, dataset string) int {
		for i, it := range a.Items {
			if it.Role == role && it.Dataset == dataset {
				return i
			}
		}
		t.Fatalf("no %s/%s item", role, dataset)
		return -1
	}
	tests := []struct {
		name      string
		subjects  map[string]string
		edit      func(*wire.CaseAnswer)
		wantWrong bool // ErrWrongSubject as well as ErrUnverified
	}{
		{"the father's household as the mother's", subjects, func(a *wire.CaseAnswer) {
			f, m := index(a, "father", "household"), index(a, "mother", "household")
			a.Items[f].Role, a.Items[m].Role = "mother", "father"
		}, true},
		{"a receipt of another case", subjects, func(a *wire.CaseAnswer) {
			a.Items[index(a, "child", "birth")].Receipt = other["child/birth"]
		}, false},
		{"an item twice", subjects, func(a *wire.CaseAnswer) { a.Items = append(a.Items, a.Items[0]) }, false},
		{"an item under a role not asked about", map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID},
			func(a *wire.CaseAnswer) { a.Items[index(a, "father", "household")].Role = "mother" }, false},
		{"complete claimed with items missing", map[string]string{"child": samples.ChildResidentID}, func(a *wire.CaseAnswer) { a.Complete = true }, false},
		{"a field changed", subjects, func(a *wire.CaseAnswer) { a.Items[index(a, "child", "birth")].Data["name"] = "陈子轩" }, false},
		{"another procedure's bundle", subjects, func(a *wire.CaseAnswer) { a.Procedure = "school_enrolment" }, false},
		// Before the case receipt, these three passed: the item list and
		// the missing list carried no signature.
		{"an item dropped, nothing said missing", subjects, func(a *wire.CaseAnswer) {
			i := index(a, "father", "household")
			a.Items = append(a.Items[:i], a.Items[i+1:]...)
		}, false},
		{"an item dropped and listed as not found", subjects, func(a *wire.CaseAnswer) {
			i := index(a, "child", "birth")
			a.Items = append(a.Items[:i], a.Items[i+1:]...)
			a.Missing = append(a.Missing, wire.CaseMissing{Role: "child", Dataset: "birth", Reason: "not_found", Holders: []string{}})
			a.Complete = false
		}, false},
		{"a missing item's reason changed", map[string]string{"child": samples.ChildResidentID}, func(a *wire.CaseAnswer) {
			a.Missing[0].Reason = "consent_required"
		}, false},
		{"the case receipt of another case", subjects, func(a *wire.CaseAnswer) { a.Receipt = other["case"] }, false},
		{"no case receipt", subjects, func(a *wire.CaseAnswer) { a.Receipt = "" }, false},
		{"an item's receipt as the case receipt", subjects, func(a *wire.CaseAnswer) { a.Receipt = a.Items[0].Receipt }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := env.Client("newborn-registration")
			if err != nil {
				t.Fatal(err)
			}
			c.HTTP = &http.Client{Transport: caseRewrite{tc.edit}}
			got, err := (&connectors.Requester{Client: c}).Case(ctx, connectors.CaseQuery{Procedure: q.Procedure, CaseID: q.CaseID, Subjects: tc.subjects})
			if !errors.Is(err, connectors.ErrUnverified) || tc.wantWrong && !errors.Is(err, connectors.ErrWrongSubject) {
				t.Fatalf("tampered bundle: %v (answer %v); want ErrUnverified (wrong subject: %t)", err, got != nil, tc.wantWrong)
			}
		})
	}
}
