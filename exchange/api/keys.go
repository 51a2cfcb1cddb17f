package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/query"
)

type registerKeyRequest struct {
	ClientID string          `json:"client_id"`
	Use      string          `json:"use"` // record or auth
	JWK      json.RawMessage `json:"jwk"` // public Ed25519 JWK with its kid
	Reason   string          `json:"reason"`
}

// registerKey lists a client's new key version as active and retires the
// client's other active versions of the same use. Records signed with a
// retired version still verify; new ones should use the new version.
func (s *Server) registerKey(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var q registerKeyRequest
	if err := decodeBody(r, queryBodyLimit, &q); err != nil {
		return err
	}
	role, ok := s.d.Clients.Role(q.ClientID)
	if !ok {
		return fmt.Errorf("register key: unknown client %q: %w", q.ClientID, codes.ErrBadRequest)
	}
	use := keys.Use(q.Use)
	switch {
	case use == keys.UseAuth:
	case use == keys.UseRecord && (role == RolePublisher || role == RoleConsent):
	default:
		return fmt.Errorf("register key: use %q for a %s: want auth, or record for a publisher or the consent service: %w", q.Use, role, codes.ErrBadRequest)
	}
	if err := query.Required("register key", "/reason", q.Reason); err != nil {
		return err
	}
	if err := checkReason("register key", q.Reason); err != nil {
		return err
	}
	kid, pub, err := keys.ParsePublicJWK(q.JWK)
	if err != nil {
		return fmt.Errorf("register key: %v: %w", err, codes.ErrBadRequest)
	}
	if err := keys.ValidKID(kid); err != nil {
		return fmt.Errorf("register key: jwk.kid: %w", err)
	}
	if !strings.HasPrefix(kid, q.ClientID+"-") {
		return fmt.Errorf("register key: jwk.kid %q must be \"%s-<name>#<version>\": %w", kid, q.ClientID, keys.ErrBadKID)
	}
	if err := checkKID("register key", kid); err != nil {
		return err
	}
	if _, err := s.d.Keys.PublicKey(kid); err == nil {
		return fmt.Errorf("register key: kid %s already listed (kids are never reused): %w", kid, codes.ErrBadRequest)
	}
	for _, k := range s.d.Keys.All() {
		if k.Key.Equal(pub) && k.Owner != q.ClientID {
			return fmt.Errorf("register key: jwk.x is %s's key %s: %w", k.Owner, k.KID, keys.ErrKeyInUse)
		}
	}
	now := s.d.Now().UTC()
	changes := []keys.PublicKey{{KID: kid, Owner: q.ClientID, Use: use, Key: pub, Status: keys.Active, Created: now}}
	for _, k := range s.d.Keys.All() {
		if k.Owner == q.ClientID && k.Use == use && k.Status == keys.Active {
			k.Status = keys.Retired
			changes = append(changes, k)
		}
	}
	return s.changeKeys(w, r, p, changes, keys.ChangeRegistered, q.Reason)
}

type revokeKeyRequest struct {
	KID       string    `json:"kid"`
	RevokedAt time.Time `json:"revoked_at"` // default now
	Reason    string    `json:"reason"`
}

// revokeKey marks a key version revoked from a moment on: material it
// signed and the exchange accepted from then on is refused.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var q revokeKeyRequest
	if err := decodeBody(r, queryBodyLimit, &q); err != nil {
		return err
	}
	if err := query.Required("revoke key", "/reason", q.Reason); err != nil {
		return err
	}
	if err := checkReason("revoke key", q.Reason); err != nil {
		return err
	}
	k, err := s.d.Keys.PublicKey(q.KID)
	if err != nil {
		return fmt.Errorf("revoke key: %v: %w", err, codes.ErrNotFound)
	}
	if err := keys.ClientKeyChange(k); errors.Is(err, keys.ErrExchangeKey) {
		// Revoking an exchange key would end every token, receipt or
		// checkpoint at once: that is the break-glass procedure, through
		// the key backend only (deploy/README.md).
		return fmt.Errorf("revoke key: %w", err)
	}
	if k.Status == keys.Revoked {
		return fmt.Errorf("revoke key: %s is already revoked: %w", q.KID, codes.ErrBadRequest)
	}
	if q.RevokedAt.IsZero() {
		q.RevokedAt = s.d.Now()
	}
	k.Status, k.RevokedAt = keys.Revoked, q.RevokedAt.UTC()
	return s.changeKeys(w, r, p, []keys.PublicKey{k}, keys.ChangeRevoked, q.Reason)
}

// changeKeys audits, publishes (one signed event per key version, naming
// the officer and the reason) and answers a key directory change.
func (s *Server) changeKeys(w http.ResponseWriter, r *http.Request, p auth.Principal, ks []keys.PublicKey, code, reason string) error {
	ctx := r.Context()
	entries := make([]audit.Entry, len(ks))
	for i, k := range ks {
		entries[i] = audit.Entry{
			Time: s.d.Now().UTC(), Kind: audit.KindKeyChange, Actor: p.ClientID, Role: p.Role, Reason: reason,
			RecordID: k.KID, Decision: audit.DecisionPermit, Code: code + ":" + string(k.Status),
			RequestID: requestID(ctx), Node: s.d.Node,
		}
	}
	if err := s.d.Audit.Write(ctx, entries...); err != nil {
		return fmt.Errorf("change keys: audit: %v: %w", err, codes.ErrUnavailable)
	}
	for _, k := range ks {
		err := s.d.KeyLog.PublishKeyEvent(ctx, keys.Event{Actor: p.ClientID, Reason: reason, Change: code, Key: k})
		switch {
		case errors.Is(err, keys.ErrExchangeKey), errors.Is(err, keys.ErrBadKID):
			return fmt.Errorf("change keys: %w", err)
		case errors.Is(err, keys.ErrBadEvent): // e.g. a reason too long for an event
			return fmt.Errorf("change keys: %v: %w", err, codes.ErrBadRequest)
		case err != nil:
			return fmt.Errorf("change keys: %v: %w", err, codes.ErrUnavailable)
		}
	}
	b, err := keys.MarshalJWKS(ks)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}
