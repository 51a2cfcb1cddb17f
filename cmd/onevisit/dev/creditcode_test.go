package dev_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// TestCreditCodeSubjects: a dataset about organisations works end to end
// with unified social credit codes where others use resident IDs: a
// plain query verified and bound to the code, a resident ID refused as
// its subject (invalid_credit_code), an officer's audit lookup by the
// code finds the query, and a delete record keyed by the code is
// accepted and removes the licence from the view.
func TestCreditCodeSubjects(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	n := 0
	publishDatasets(t, env, &n, "business_licence")
	code := samples.NewCompanyCreditCode
	req := requester(t, env, "company-registration")
	a, err := req.Query(ctx, connectors.Query{Dataset: "business_licence", Subject: code, Purpose: "company_cancellation", CaseID: "CC-2026-0001"})
	if err != nil {
		t.Fatalf("query by credit code: %v", err)
	}
	if _, id, err := a.Record.Subject(); err != nil || id != code || a.Data["credit_code"] != code {
		t.Errorf("answer bound to %q (%v), data %v", id, err, a.Data)
	}
	var apiErr *connectors.APIError
	_, err = req.Query(ctx, connectors.Query{Dataset: "business_licence", Subject: samples.MotherResidentID, Purpose: "company_cancellation", CaseID: "CC-2026-0001"})
	if !errors.As(err, &apiErr) || apiErr.Code != "invalid_credit_code" || apiErr.Pointer != "/subject" {
		t.Errorf("resident ID as a company: %v, want invalid_credit_code at /subject", err)
	}

	officer := token(t, env, "security-officer")
	waitFor(t, "the query in the company's audit trail", func() bool {
		status, es, raw := auditSubject(t, env, officer, code, "inspection 2026-77")
		if status != http.StatusOK {
			t.Fatalf("audit lookup by credit code: %d %s", status, raw)
		}
		for _, e := range es {
			if e.Kind == audit.KindQuery && e.Dataset == "business_licence" && e.Decision == audit.DecisionPermit && e.RecordID == a.Record.ID {
				return true
			}
		}
		return false
	})

	// The company is cancelled and its licence deleted: a delete record
	// keyed by the credit code.
	p, done, err := env.Publisher("market-regulation", "business_licence", "http")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	_, results, err := p.Publish(ctx, []connectors.Item{{Op: record.Delete, Fields: map[string]any{"credit_code": code}}})
	if err != nil || len(results) != 1 || results[0].Status != wire.Accepted {
		t.Fatalf("delete by credit code: %v %+v", err, results)
	}
	waitFor(t, "the licence gone from the view", func() bool {
		_, err := req.Query(ctx, connectors.Query{Dataset: "business_licence", Subject: code, Purpose: "company_cancellation", CaseID: "CC-2026-0001"})
		return errors.As(err, &apiErr) && apiErr.Code == "not_found"
	})
}
