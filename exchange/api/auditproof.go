package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/keys"
)

// MaxAuditPage is the most entries one GET /v1/audit/entries returns.
const MaxAuditPage = 1000

// uintParam reads a required decimal query parameter. Its absence, a
// repeat, or anything but a decimal number is codes.ErrBadRange naming it.
func uintParam(op string, q url.Values, name string) (uint64, error) {
	vs := q[name]
	if len(vs) != 1 {
		return 0, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + name, Err: fmt.Errorf("%d values, want one: %w", len(vs), codes.ErrBadRange)})
	}
	n, err := strconv.ParseUint(vs[0], 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != vs[0] {
		return 0, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + name, Err: fmt.Errorf("not a decimal number: %w", codes.ErrBadRange)})
	}
	return n, nil
}

// auditLogAt returns the node's audit log once it holds at least size
// entries: if it does not yet, it catches up with every durable write
// first (read your writes: a size taken from another node's checkpoint,
// or an entry just written), then fails with codes.ErrBeyondLog naming
// the parameter if the log is still shorter.
func (s *Server) auditLogAt(ctx context.Context, op, param string, size uint64) (*audit.Log, error) {
	if s.d.AuditLog == nil {
		return nil, fmt.Errorf("%s: no audit log on this node: %w", op, codes.ErrNotFound)
	}
	l := s.d.AuditLog.Log()
	if size <= l.Size() {
		return l, nil
	}
	if err := s.d.AuditLog.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if n := l.Size(); size > n {
		return nil, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + param, Err: fmt.Errorf("%d, log has %d entries: %w", size, n, codes.ErrBeyondLog)})
	}
	return l, nil
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// proofErr maps the log's range error (a race cannot make it happen after
// auditLogAt, but the log is the authority) to beyond_log.
func proofErr(op string, err error) error {
	if errors.Is(err, audit.ErrOutOfRange) {
		return fmt.Errorf("%s: %v: %w", op, err, codes.ErrBeyondLog)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// inclusionProof serves the RFC 9162 inclusion proof of entry index in
// the tree of the first size entries: hashes only, so it is public.
func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	const op = "inclusion proof"
	q := r.URL.Query()
	index, err := uintParam(op, q, "index")
	if err != nil {
		return err
	}
	size, err := uintParam(op, q, "size")
	if err != nil {
		return err
	}
	if index >= size {
		return fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/index", Err: fmt.Errorf("index %d not below size %d: %w", index, size, codes.ErrBadRange)})
	}
	l, err := s.auditLogAt(r.Context(), op, "size", size)
	if err != nil {
		return err
	}
	prf, err := l.InclusionProof(index, size)
	if err != nil {
		return proofErr(op, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"index": index, "size": size, "proof": b64s(prf)})
	return nil
}

// consistencyProof serves the RFC 9162 consistency proof from the tree of
// the first from entries to that of the first to entries.
func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	const op = "consistency proof"
	q := r.URL.Query()
	from, err := uintParam(op, q, "from")
	if err != nil {
		return err
	}
	to, err := uintParam(op, q, "to")
	if err != nil {
		return err
	}
	if from > to {
		return fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/from", Err: fmt.Errorf("from %d above to %d: %w", from, to, codes.ErrBadRange)})
	}
	l, err := s.auditLogAt(r.Context(), op, "to", to)
	if err != nil {
		return err
	}
	prf, err := l.ConsistencyProof(from, to)
	if err != nil {
		return proofErr(op, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "proof": b64s(prf)})
	return nil
}

// auditEntries serves entries [start, end) of the audit log, at most
// MaxAuditPage, as base64 of their exact bytes (what is hashed), with
// the leaf hashes the node computed when it appended them: a verifier
// that finds an entry not reproducing a signed root uses them to name it
// (audit.VerifyExport).
//
// With filter parameters it searches instead (auditsearch.go).
func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	const op = "audit entries"
	q := r.URL.Query()
	if isAuditSearch(q) {
		return s.auditSearch(w, r, p)
	}
	start, err := uintParam(op, q, "start")
	if err != nil {
		return err
	}
	end, err := uintParam(op, q, "end")
	if err != nil {
		return err
	}
	if start > end {
		return fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/start", Err: fmt.Errorf("start %d above end %d: %w", start, end, codes.ErrBadRange)})
	}
	if end-start > MaxAuditPage {
		return fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/end", Err: fmt.Errorf("%d entries, at most %d a page: %w", end-start, MaxAuditPage, codes.ErrBadRange)})
	}
	l, err := s.auditLogAt(r.Context(), op, "end", end)
	if err != nil {
		return err
	}
	entries, err := l.Entries(start, end)
	if err != nil {
		return proofErr(op, err)
	}
	leaves, err := l.LeafHashes(start, end)
	if err != nil {
		return proofErr(op, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"start": start, "end": end, "entries": b64s(entries), "leaf_hashes": b64s(leaves)})
	return nil
}

// auditVerifiers serves the signed-note verifier keys of the exchange's
// audit key versions that are not revoked, one a line, oldest first: what
// a C2SP tlog tool or note.NewVerifier needs to check a checkpoint
// (audit.NoteVerifierKey of each; the same keys GET /v1/keys lists).
func (s *Server) auditVerifiers(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	if s.d.Keys == nil {
		return fmt.Errorf("audit verifiers: no key directory: %w", codes.ErrNotFound)
	}
	var b []byte
	for _, k := range s.d.Keys.All() {
		if k.Use != keys.UseAudit || k.Status == keys.Revoked {
			continue
		}
		vk, err := audit.NoteVerifierKey(k)
		if err != nil {
			return fmt.Errorf("audit verifiers: %w", err)
		}
		b = append(b, vk+"\n"...)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write(b)
	return err
}
