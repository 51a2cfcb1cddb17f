package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/wire"
)

// Citizens verifies residents' ID tokens for the citizen routes
// (exchange/citizen.Verifier).
type Citizens interface {
	// Resident returns the resident ID number a valid ID token names.
	Resident(ctx context.Context, idToken string) (string, error)
	// SignInURL is where the citizen page sends a resident to sign in.
	SignInURL() string
}

// citizenActor is the actor of the audit entries a resident's own
// requests make: the resident is the entry's subject, as a pseudonym.
const citizenActor = "citizen"

// authorizeCitizen admits a request to a citizen route: its bearer token
// must be an ID token the citizen provider signed for a resident (401
// unauthenticated without one, 401 invalid_token for one that does not
// verify); a client's access token is 403 forbidden there. The request it
// returns carries the resident the token names, for citizenSubject: the
// token is verified once a request. The principal names no client:
// refusals here are not audited (nobody authenticated, and the resident's
// ID number must not reach the log).
func (s *Server) authorizeCitizen(r *http.Request) (*http.Request, auth.Principal, error) {
	if s.d.Citizens == nil {
		return r, auth.Principal{}, fmt.Errorf("citizen route: citizen sign-in is not configured on this node: %w", codes.ErrNotFound)
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return r, auth.Principal{}, codes.ErrUnauthenticated
	}
	id, cerr := s.d.Citizens.Resident(r.Context(), tok)
	if cerr == nil {
		return r.WithContext(context.WithValue(r.Context(), residentKey{}, id)), auth.Principal{Role: RoleCitizen}, nil
	}
	if p, err := s.d.Auth.Verify(tok); err == nil {
		return r, auth.Principal{}, fmt.Errorf("api: %s is a %s, not a signed-in resident: %w", p.ClientID, p.Role, codes.ErrForbidden)
	}
	return r, auth.Principal{}, fmt.Errorf("citizen route: %v: %w", cerr, auth.ErrInvalidToken)
}

// residentKey holds the resident ID number authorizeCitizen verified.
type residentKey struct{}

// citizenSubject returns the pseudonym of the resident whose ID token
// authorizeCitizen verified. The subject comes from the verified token
// only: the citizen routes take no subject from the request, so a
// resident reaches their own entries and nobody else's.
func (s *Server) citizenSubject(r *http.Request, op string) (string, error) {
	id, ok := r.Context().Value(residentKey{}).(string)
	if !ok || id == "" {
		return "", fmt.Errorf("%s: no verified ID token: %w", op, codes.ErrUnauthenticated)
	}
	if q := r.URL.Query(); len(q) > 0 {
		return "", fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + slices.Min(slices.Collect(maps.Keys(q))), Err: fmt.Errorf("this route takes no query parameters; the resident comes from the ID token: %w", codes.ErrBadRequest)})
	}
	return s.d.Pseudonym.Of(r.Context(), id)
}

// citizenConfig tells the citizen page where residents sign in.
func (s *Server) citizenConfig(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	if s.d.Citizens == nil {
		return fmt.Errorf("citizen config: citizen sign-in is not configured on this node: %w", codes.ErrNotFound)
	}
	writeJSON(w, http.StatusOK, map[string]string{"signin_url": s.d.Citizens.SignInURL()})
	return nil
}

// citizenEntry is one audit entry as the citizen page shows it: its
// index, its exact bytes (what the log hashes, so the page can check the
// inclusion proof) and the entry decoded.
type citizenEntry struct {
	Index uint64          `json:"index"`
	Leaf  string          `json:"leaf"`
	Entry json.RawMessage `json:"entry"`
}

// myAccesses lists every audit entry about the signed-in resident, newest
// first, with the log size they were read at (for inclusion proofs).
// Correction requests and their decisions (kind correction) are among
// them.
func (s *Server) myAccesses(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	const op = "my accesses"
	pseud, err := s.citizenSubject(r, op)
	if err != nil {
		return err
	}
	if s.d.AuditLog == nil {
		return fmt.Errorf("%s: no audit log on this node: %w", op, codes.ErrNotFound)
	}
	if err := s.d.AuditLog.CatchUp(r.Context()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	size := s.d.AuditLog.Log().Size()
	out := []citizenEntry{}
	for _, e := range s.d.AuditLog.BySubject(pseud) {
		if e.Index >= size {
			continue
		}
		out = append(out, citizenEntry{Index: e.Index, Leaf: base64.StdEncoding.EncodeToString(e.Raw), Entry: e.Raw})
	}
	slices.Reverse(out)
	writeJSON(w, http.StatusOK, map[string]any{"size": size, "entries": out})
	return nil
}

// Each resident may file correctionBurst correction requests per
// correctionWindow on a node: every one is an audit entry, and a valid ID
// token must not let anyone grow the log at their own pace.
const (
	correctionBurst  = 5
	correctionWindow = time.Hour
	// correctionKeep bounds the residents remembered; past it the window
	// starts again for everyone (the bound holds per window, not exactly).
	correctionKeep = 100_000
)

// correctionLimiter counts correction requests per resident pseudonym in
// fixed windows, each starting at the first request after the last one
// ended (not at a clock hour, so a resident's burst is not split, and
// doubled, by an hour boundary).
type correctionLimiter struct {
	mu     sync.Mutex
	window time.Time // when the current window started
	counts map[string]int
}

func (l *correctionLimiter) allow(pseud string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil || now.Sub(l.window) >= correctionWindow || len(l.counts) >= correctionKeep {
		l.window, l.counts = now, map[string]int{}
	}
	if l.counts[pseud] >= correctionBurst {
		return false
	}
	l.counts[pseud]++
	return true
}

type correctionRequest struct {
	Dataset string `json:"dataset"`
	Field   string `json:"field"`
	Comment string `json:"comment"`
}

// myCorrection files a resident's request to correct one field of a
// dataset about them in the departments' correction workflow
// (exchange.Node.FileResidentCorrection): routed to the inbox of the
// department that published the record the node holds of them, decided
// there with POST /v1/corrections/{id}; its filing and decision are audit
// entries about the resident. The answer is the correction (201).
func (s *Server) myCorrection(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	const op = "correction request"
	pseud, err := s.citizenSubject(r, op)
	if err != nil {
		return err
	}
	if s.d.Corrections == nil {
		return fmt.Errorf("%s: no correction workflow on this node: %w", op, codes.ErrNotFound)
	}
	var q correctionRequest
	if err := decodeBody(r, queryBodyLimit, &q); err != nil {
		return err
	}
	if err := query.Required(op, "/dataset", q.Dataset, "/field", q.Field, "/comment", q.Comment); err != nil {
		return err
	}
	d, ok := s.d.Schemas.Dataset(q.Dataset)
	if !ok {
		return fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/dataset", Err: codes.ErrUnknownDataset})
	}
	if !slices.Contains(d.Fields, q.Field) || q.Field == d.Subject {
		return fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/field", Err: fmt.Errorf("%q is not a correctable field of %s: %w", q.Field, q.Dataset, codes.ErrBadRequest)})
	}
	if err := checkReason(op, q.Comment); err != nil {
		return &codes.FieldError{Pointer: "/comment", Err: err}
	}
	if !s.corrections.allow(pseud, s.d.Now()) {
		return fmt.Errorf("%s: more than %d requests in %s from one resident: %w", op, correctionBurst, correctionWindow, codes.ErrRateLimited)
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	c, err := s.d.Corrections.FileResidentCorrection(ctx, pseud, q.Dataset, q.Field, q.Comment)
	if err != nil {
		if errors.Is(err, codes.ErrNotFound) {
			return err
		}
		return fmt.Errorf("%s: %v: %w", op, err, codes.ErrUnavailable)
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// myCorrections lists the signed-in resident's correction requests, newest
// first, with their status (open, accepted, rejected) as this node holds
// it.
func (s *Server) myCorrections(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	const op = "my corrections"
	pseud, err := s.citizenSubject(r, op)
	if err != nil {
		return err
	}
	out := []wire.Correction{}
	if s.d.Corrections != nil {
		out = append(out, s.d.Corrections.ResidentCorrections(pseud)...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"corrections": out})
	return nil
}
