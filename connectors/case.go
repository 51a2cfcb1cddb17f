package connectors

import (
	"context"
	"fmt"

	"github.com/onevisit/onevisit/exchange/wire"
)

// CaseQuery asks for every evidence item of a procedure (POST /v1/cases):
// Subjects maps each role to its resident ID, or for the company role its
// unified social credit code.
type CaseQuery struct {
	Procedure string
	CaseID    string
	Subjects  map[string]string
}

// CaseItem is one verified evidence item.
type CaseItem struct {
	Role, Dataset string
	*Answer
}

// CaseAnswer is a verified case bundle.
type CaseAnswer struct {
	Procedure, Purpose, CaseID string
	Items                      []CaseItem
	// Missing are the items the exchange did not release, with why and
	// which departments hold their datasets (as the exchange says: they
	// carry no signature).
	Missing   []wire.CaseMissing
	Complete  bool
	RequestID string
}

// Procedures fetches the procedure catalogue (GET /v1/procedures).
func (r *Requester) Procedures(ctx context.Context) ([]wire.Procedure, error) {
	var out wire.ProcedureList
	if err := r.Client.Do(ctx, "GET", "/v1/procedures", nil, &out); err != nil {
		return nil, fmt.Errorf("procedures: %w", err)
	}
	return out.Procedures, nil
}

// Case asks for a procedure's evidence in one call and verifies the whole
// bundle: each item exactly as Query verifies an answer (the publisher's
// signature, every disclosure, the receipt, the subject binding to the
// subject sent for the item's role), plus that every receipt names the
// bundle's purpose and this case id, the bundle is the procedure asked
// for, no item repeats or names a role that was not sent, and Complete
// agrees with Missing. Any failure fails the whole bundle with
// ErrUnverified (and ErrWrongSubject where that is the cause): a bundle
// is used whole or not at all.
func (r *Requester) Case(ctx context.Context, q CaseQuery) (*CaseAnswer, error) {
	var resp wire.CaseAnswer
	body := wire.CaseRequest{Procedure: q.Procedure, CaseID: q.CaseID, Subjects: q.Subjects}
	if err := r.Client.Do(ctx, "POST", "/v1/cases", body, &resp); err != nil {
		return nil, err
	}
	if resp.Procedure != q.Procedure || resp.CaseID != q.CaseID {
		return nil, fmt.Errorf("case: answer is for procedure %q case %q: %w", resp.Procedure, resp.CaseID, ErrUnverified)
	}
	if resp.Complete != (len(resp.Missing) == 0) {
		return nil, fmt.Errorf("case: complete is %t with %d missing items: %w", resp.Complete, len(resp.Missing), ErrUnverified)
	}
	out := &CaseAnswer{Procedure: resp.Procedure, Purpose: resp.Purpose, CaseID: resp.CaseID,
		Missing: resp.Missing, Complete: resp.Complete, RequestID: resp.RequestID}
	seen := map[[2]string]bool{}
	for _, it := range resp.Items {
		subject, ok := q.Subjects[it.Role]
		if !ok {
			return nil, fmt.Errorf("case: item of role %q, which was not sent: %w", it.Role, ErrUnverified)
		}
		k := [2]string{it.Role, it.Dataset}
		if seen[k] {
			return nil, fmt.Errorf("case: %s of the %s twice: %w", it.Dataset, it.Role, ErrUnverified)
		}
		seen[k] = true
		iq := Query{Dataset: it.Dataset, Subject: subject, Purpose: resp.Purpose, CaseID: q.CaseID}
		a, err := r.verify(ctx, iq, wire.QueryAnswer{Record: it.Record, Data: it.Data, Receipt: it.Receipt, RequestID: resp.RequestID})
		if err != nil {
			return nil, fmt.Errorf("case: %s of the %s: %w", it.Dataset, it.Role, err)
		}
		out.Items = append(out.Items, CaseItem{Role: it.Role, Dataset: it.Dataset, Answer: a})
	}
	return out, nil
}
