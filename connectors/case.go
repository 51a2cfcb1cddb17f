package connectors

import (
	"context"
	"fmt"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/receipt"
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
	// which departments hold their datasets. The case receipt signs each
	// one's role, dataset and reason; the holders are as the exchange says.
	Missing   []wire.CaseMissing
	Complete  bool
	RequestID string
	// Receipt is the exchange's verified case receipt over the bundle.
	Receipt receipt.CaseClaims
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
// agrees with Missing, and last the case receipt: the exchange's signature
// over the whole bundle, so no item was dropped or turned into a missing
// one on the way. Any failure fails the whole bundle with
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
	// Last the case receipt, so that a bad item is reported as what it is
	// (ErrWrongSubject) before the bundle as a whole.
	dir, err := r.directory(ctx, false)
	if err != nil {
		return nil, err
	}
	_, err = r.withKeys(ctx, dir, func(d *keys.Directory) (err error) {
		out.Receipt, err = receipt.VerifyCase(resp.Receipt, d, r.Client.ClientID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("case: %v: %w", err, ErrUnverified)
	}
	if err := sameBundle(out.Receipt, resp); err != nil {
		return nil, fmt.Errorf("case: %v: %w", err, ErrUnverified)
	}
	return out, nil
}

// sameBundle checks that the case receipt c describes the bundle a: the
// same procedure, purpose and case id, and the same items (by role,
// dataset and the digest of each item's receipt) and missing items (by
// role, dataset and reason), in the same order.
func sameBundle(c receipt.CaseClaims, a wire.CaseAnswer) error {
	if c.Procedure != a.Procedure || c.Purpose != a.Purpose || c.CaseID != a.CaseID {
		return fmt.Errorf("case receipt is for procedure %q purpose %q case %q", c.Procedure, c.Purpose, c.CaseID)
	}
	if len(c.Items) != len(a.Items) {
		return fmt.Errorf("case receipt lists %d items, the bundle has %d", len(c.Items), len(a.Items))
	}
	for i, it := range a.Items {
		if want := (receipt.CaseItem{Role: it.Role, Dataset: it.Dataset, ReceiptSHA256: receipt.Digest(it.Receipt)}); c.Items[i] != want {
			return fmt.Errorf("item %d (%s of the %s) is not the one the case receipt lists", i, it.Dataset, it.Role)
		}
	}
	if len(c.Missing) != len(a.Missing) {
		return fmt.Errorf("case receipt lists %d missing items, the bundle %d", len(c.Missing), len(a.Missing))
	}
	for i, m := range a.Missing {
		if want := (receipt.CaseMissing{Role: m.Role, Dataset: m.Dataset, Reason: m.Reason}); c.Missing[i] != want {
			return fmt.Errorf("missing item %d (%s of the %s, %s) is not the one the case receipt lists", i, m.Dataset, m.Role, m.Reason)
		}
	}
	return nil
}
