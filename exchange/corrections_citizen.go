package exchange

import (
	"context"
	"fmt"
	"slices"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/wire"
)

// Residents' corrections. A resident signed in on the citizen page
// (POST /v1/me/corrections, exchange/api) asks for the correction of one
// field of a dataset about them. The request takes the same way as a
// consumer's (corrections.go): it is filed on the correction inbox of the
// department that published the record, which lists and decides it with
// the same routes, and a newer record fulfils it the same way.
//
// What binds the request to its subject is the resident's verified ID
// token (the subject is its pseudonym), not a receipt. The record it
// refers to is the one the view holds for that subject and dataset when
// it is filed; the department is that record's issuer, which the policy
// set must still let publish the dataset. A dataset the view holds no
// record of for the resident (none published, deleted, or served live)
// has nothing to correct: codes.ErrNotFound naming /dataset.

// ResidentFiler is the filer of a resident's correction. It is no client
// ID (those never hold parentheses), so no client can read a resident's
// correction as its filer; the resident reads it through
// ResidentCorrections, by subject.
const ResidentFiler = "(resident)"

// residentActor is the audit actor of a resident's own requests, as in
// exchange/api's citizen routes.
const residentActor = "citizen"

// FileResidentCorrection files the resident with pseudonym subject's
// request to correct field of their record of dataset, with comment as
// its reason, and routes it to the record's issuer.
func (n *Node) FileResidentCorrection(ctx context.Context, subject, dataset, field, comment string) (wire.Correction, error) {
	e, ok := n.view.Get(dataset, subject)
	if !ok {
		return wire.Correction{}, fmt.Errorf("correction request: %w", &codes.FieldError{Pointer: "/dataset",
			Err: fmt.Errorf("the exchange holds no record of %s about you: %w", dataset, codes.ErrNotFound)})
	}
	if !n.policy.Load().MayPublish(e.Issuer, dataset).Allowed {
		return wire.Correction{}, fmt.Errorf("correction request: %w", &codes.FieldError{Pointer: "/dataset",
			Err: fmt.Errorf("the department that published your record of %s no longer publishes it: %w", dataset, codes.ErrNotFound)})
	}
	return n.fileCorrection(ctx, wire.Correction{Dataset: dataset, RecordID: e.ID, Field: field, Reason: comment,
		Filer: ResidentFiler, Department: e.Issuer}, subject, residentActor, residentActor, "POST /v1/me/corrections")
}

// ResidentCorrections lists, newest first, the corrections the resident
// with pseudonym subject filed, as they stand on this node.
func (n *Node) ResidentCorrections(subject string) []wire.Correction {
	n.corrections.mu.Lock()
	var out []wire.Correction
	for _, s := range n.corrections.byID {
		if s.c.Filer == ResidentFiler && s.subject == subject {
			out = append(out, s.c)
		}
	}
	n.corrections.mu.Unlock()
	slices.SortFunc(out, func(a, b wire.Correction) int { return b.Filed.Compare(a.Filed) })
	return out
}
