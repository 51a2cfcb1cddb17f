package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/wire"
)

const (
	// MaxReason bounds the reason an officer gives, in characters.
	MaxReason = 256
)

// identityLike reports whether s holds a run of 15 or more letters and
// digits with at least 6 digits: the shape of a resident identity number
// (15 or 18 characters) or a unified social credit code (18).
func identityLike(s string) bool {
	run, digits := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 'a' && s[i] <= 'z') {
			run++
			if s[i] <= '9' {
				digits++
			}
			continue
		}
		if run >= 15 && digits >= 6 {
			return true
		}
		run, digits = 0, 0
	}
	return false
}

// checkReason checks the reason an officer gives, which goes into the
// audit log verbatim: required, at most MaxReason characters, no control
// characters, no identity number or credit code (name the case, not the
// person: the subject is already in the entry as a pseudonym).
func checkReason(op, reason string) error {
	switch {
	case reason == "":
		return fmt.Errorf("%s: a reason is required: %w", op, codes.ErrBadRequest)
	case utf8.RuneCountInString(reason) > MaxReason:
		return fmt.Errorf("%s: reason longer than %d characters: %w", op, MaxReason, codes.ErrBadRequest)
	case identityLike(reason):
		return fmt.Errorf("%s: reason holds an identity number or credit code: %w", op, codes.ErrBadRequest)
	}
	for _, c := range reason {
		if unicode.IsControl(c) {
			return fmt.Errorf("%s: reason holds a control character: %w", op, codes.ErrBadRequest)
		}
	}
	return nil
}

// auditRefusal writes the deny entry of a request an authenticated caller
// made and the exchange refused (4xx) before any data was read: a
// forbidden route, a token that verified but is no longer good, a
// malformed body. Nothing of the body goes in: route and code say what
// was refused. Handlers that audit their own refusals (query, token)
// return auditDone. At most one entry a second per client, route and
// code is written; onevisit_api_audit_suppressed_total counts the rest.
// If the entry cannot be written the caller gets 503, as for a query.
func (s *Server) auditRefusal(r *http.Request, rt route, p auth.Principal, err error) error {
	var done auditDone
	c := wire.Of(err)
	if p.ClientID == "" || c.Status >= 500 || errors.As(err, &done) || s.d.Audit == nil {
		return err
	}
	name := rt.method + " " + rt.pattern
	now := s.d.Now()
	if !s.sampler.take(p.ClientID, name, c.Name, now) {
		s.auditSuppressed.WithLabelValues(string(audit.KindDeny)).Inc()
		return err
	}
	if werr := s.writeDeny(r, p, name, c.Name); werr != nil {
		return werr
	}
	return err
}

// writeDeny durably writes the deny entry of a refused request of p.
func (s *Server) writeDeny(r *http.Request, p auth.Principal, route, code string) error {
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	e := audit.Entry{
		Time: s.d.Now().UTC(), Kind: audit.KindDeny, Actor: p.ClientID, Role: p.Role, Route: route,
		Decision: audit.DecisionDeny, Code: code, RequestID: requestID(ctx), Node: s.d.Node,
	}
	if err := s.d.Audit.Write(ctx, e); err != nil {
		return fmt.Errorf("%s: audit refusal %s: %v: %w", route, code, err, codes.ErrUnavailable)
	}
	return nil
}
