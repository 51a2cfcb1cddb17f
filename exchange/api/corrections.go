package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// Corrections is the node's correction book (exchange/corrections.go), as
// the /v1/corrections routes use it.
type Corrections interface {
	// FileCorrection files c about the subject with that pseudonym and
	// routes it to c.Department.
	FileCorrection(ctx context.Context, c wire.Correction, subject string) (wire.Correction, error)
	// Correction returns a correction its filer or department asks for.
	Correction(id, caller string) (wire.Correction, error)
	// CorrectionsFor lists the corrections routed to a department.
	CorrectionsFor(department string) []wire.Correction
	// DecideCorrection records the department's decision.
	DecideCorrection(ctx context.Context, id, department, status, reason string) (wire.Correction, error)
	// FileResidentCorrection files a signed-in resident's request (the
	// subject is their pseudonym) about the record the node holds of
	// them in dataset, routed to its issuer.
	FileResidentCorrection(ctx context.Context, subject, dataset, field, comment string) (wire.Correction, error)
	// ResidentCorrections lists the corrections a resident filed.
	ResidentCorrections(subject string) []wire.Correction
}

// receiptMaxAge is how old a receipt a correction may rest on
// (exchange.NoticeWindow).
const receiptMaxAge = 30 * 24 * time.Hour

// fileCorrection takes a consumer's correction request. It rests on what
// the consumer received: the receipt must verify, be issued to it within
// the last 30 days and match the record; the record must verify (as of
// its acceptance) and be bound to a subject; and the field must be one the
// receipt released. The department is the record's issuer.
func (s *Server) fileCorrection(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var q wire.CorrectionRequest
	if err := decodeBody(r, int64(record.MaxSize)+64<<10, &q); err != nil {
		return err
	}
	if err := query.Required("correction", "/record", q.Record, "/receipt", q.Receipt, "/field", q.Field); err != nil {
		return err
	}
	if err := checkReason("correction", q.Reason); err != nil {
		return err
	}
	rc, err := receipt.Verify(q.Receipt, s.d.Keys, q.Record, p.ClientID)
	if err != nil || rc.IssuedAt == nil || s.d.Now().Sub(rc.IssuedAt.Time) > receiptMaxAge {
		return fmt.Errorf("correction: receipt: %v: %w", err, codes.ErrNotReceived)
	}
	rec, err := record.Verify(q.Record, keys.AcceptedBefore(s.d.Keys, time.UnixMilli(rc.RecordAcceptedAt)))
	if err != nil || rec.ID != rc.RecordID || rec.Issuer != rc.RecordIssuer || rec.Dataset != rc.Dataset {
		return fmt.Errorf("correction: record: %v: %w", err, codes.ErrNotReceived)
	}
	if !slices.Contains(rc.Fields, q.Field) {
		return fmt.Errorf("correction: field %q was not released to you: %w", q.Field, codes.ErrNotReceived)
	}
	subj, subject, err := rec.Subject()
	if err != nil || subj.Digest != rc.SubjectSD {
		return fmt.Errorf("correction: subject: %v: %w", err, codes.ErrNotReceived)
	}
	pseud, err := s.d.Pseudonym.Of(r.Context(), subject)
	if err != nil {
		return fmt.Errorf("correction: %v: %w", err, codes.ErrUnavailable)
	}
	c, err := s.d.Corrections.FileCorrection(r.Context(), wire.Correction{Dataset: rec.Dataset, RecordID: rec.ID, Field: q.Field,
		Reason: q.Reason, Filer: p.ClientID, Department: rec.Issuer}, pseud)
	if err != nil {
		return fmt.Errorf("correction: %w", err)
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) getCorrection(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := s.d.Corrections.Correction(r.PathValue("id"), p.ClientID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) listCorrections(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	out := []wire.Correction{}
	status := r.URL.Query().Get("status")
	for _, c := range s.d.Corrections.CorrectionsFor(p.ClientID) {
		if status == "" || c.Status == status {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"corrections": out})
	return nil
}

func (s *Server) decideCorrection(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var q wire.CorrectionDecision
	if err := decodeBody(r, 8<<10, &q); err != nil {
		return err
	}
	if q.Status != wire.CorrectionAccepted && q.Status != wire.CorrectionRejected {
		return fmt.Errorf("decide correction: /status must be accepted or rejected: %w", codes.ErrBadRequest)
	}
	if err := checkReason("decide correction", q.Reason); err != nil {
		return err
	}
	c, err := s.d.Corrections.DecideCorrection(r.Context(), r.PathValue("id"), p.ClientID, q.Status, q.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
