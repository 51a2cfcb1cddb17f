package keys

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// ErrDuplicateKey: a kid is already in the directory or appears twice in
// a JWK set. Kids are never reused: pick the next version instead.
var ErrDuplicateKey = errors.New("duplicate key id")

// Directory is the exchange's key directory: every key version of every
// client and of the exchange, with its status. It is a pinned, in-memory
// Resolver (lookups are map reads, never I/O) and is safe for concurrent
// use. The zero value is not usable; call NewDirectory.
type Directory struct {
	mu   sync.RWMutex
	keys map[string]PublicKey
}

var _ Resolver = (*Directory)(nil)

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{keys: make(map[string]PublicKey)}
}

// Add lists a key version. The kid must be new (ErrDuplicateKey), the
// key 32 bytes, the use and status known, and RevokedAt set exactly when
// the status is Revoked.
func (d *Directory) Add(k PublicKey) error {
	if err := validPublicKey(k); err != nil {
		return fmt.Errorf("add key: %w", err)
	}
	k.Key = slices.Clone(k.Key)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.keys[k.KID]; dup {
		return fmt.Errorf("add key: %w: %q", ErrDuplicateKey, k.KID)
	}
	d.keys[k.KID] = k
	return nil
}

// SetStatus changes the status of a listed version. revokedAt is
// required for Revoked and ignored otherwise. A revoked version stays
// revoked: ErrRevoked if asked to change it.
func (d *Directory) SetStatus(kid string, s Status, revokedAt time.Time) error {
	if !validStatus(s) {
		return fmt.Errorf("set key status: %w: status %q", ErrBadJWK, s)
	}
	if s == Revoked && revokedAt.IsZero() {
		return fmt.Errorf("set key status: %w: revoked without a time", ErrBadJWK)
	}
	if s != Revoked {
		revokedAt = time.Time{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.keys[kid]
	if !ok {
		return fmt.Errorf("set key status: %w: %q", ErrUnknownKey, kid)
	}
	if k.Status == Revoked && (s != Revoked || !revokedAt.Equal(k.RevokedAt)) {
		return fmt.Errorf("set key status: %w: %q cannot change", ErrRevoked, kid)
	}
	k.Status, k.RevokedAt = s, revokedAt.UTC()
	d.keys[kid] = k
	return nil
}

var (
	// ErrStatusBackwards: a change would move a version's status
	// backwards (retired to active, revoked to anything) or move a
	// revocation time. Status only moves active → retired → revoked, so
	// an old key event produced again later never undoes a newer one.
	// Skip the change.
	ErrStatusBackwards = errors.New("key status change goes backwards")
	// ErrKeyConflict: a change names a listed kid with other key
	// material, owner or use. Kids are never reused: skip the change.
	ErrKeyConflict = errors.New("kid listed with other key material, owner or use")
)

// statusRank orders statuses along the only way they may move.
func statusRank(s Status) int {
	switch s {
	case Active:
		return 0
	case Retired:
		return 1
	}
	return 2
}

// Apply lists k if its kid is new, or moves a listed version forward to
// k's status. It reports whether the directory changed. The listed key
// material, owner and use must match (ErrKeyConflict); the status may
// only move forward, and a revocation time never changes
// (ErrStatusBackwards). Applying the same change twice is a no-op.
func (d *Directory) Apply(k PublicKey) (bool, error) {
	if err := validPublicKey(k); err != nil {
		return false, fmt.Errorf("apply key: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.keys[k.KID]
	switch {
	case !ok:
		k.Key = slices.Clone(k.Key)
		k.RevokedAt = k.RevokedAt.UTC()
		d.keys[k.KID] = k
		return true, nil
	case !old.Key.Equal(k.Key) || old.Owner != k.Owner || old.Use != k.Use:
		return false, fmt.Errorf("apply key: %w: %q", ErrKeyConflict, k.KID)
	case old.Status == k.Status && old.RevokedAt.Equal(k.RevokedAt):
		return false, nil
	case statusRank(k.Status) <= statusRank(old.Status):
		return false, fmt.Errorf("apply key: %w: %q is %s, change says %s", ErrStatusBackwards, k.KID, old.Status, k.Status)
	}
	old.Status, old.RevokedAt = k.Status, k.RevokedAt.UTC()
	d.keys[k.KID] = old
	return true, nil
}

// PublicKey returns the version kid names, or ErrUnknownKey.
func (d *Directory) PublicKey(kid string) (PublicKey, error) {
	d.mu.RLock()
	k, ok := d.keys[kid]
	d.mu.RUnlock()
	if !ok {
		return PublicKey{}, fmt.Errorf("resolve key: %w: %q", ErrUnknownKey, kid)
	}
	return k, nil
}

// All returns every version sorted by owner, then kid.
func (d *Directory) All() []PublicKey {
	d.mu.RLock()
	out := make([]PublicKey, 0, len(d.keys))
	for _, k := range d.keys {
		out = append(out, k)
	}
	d.mu.RUnlock()
	sortKeys(out)
	return out
}

func sortKeys(ks []PublicKey) {
	slices.SortFunc(ks, func(a, b PublicKey) int {
		if c := strings.Compare(a.Owner, b.Owner); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
}

// jwkSet is the JSON form of the directory.
type jwkSet struct {
	Keys []json.RawMessage `json:"keys"`
}

// JWKS renders the directory as a JWK set (RFC 7517) any JOSE library can
// read, each key with the OneVisit members owner, key_use, status,
// created and, for revoked versions, revoked_at (RFC 3339):
//
//	{"keys":[{"kty":"OKP","crv":"Ed25519","x":"...","kid":"pub-tax#1",
//	  "alg":"EdDSA","use":"sig","owner":"tax-bureau","key_use":"record",
//	  "status":"active","created":"2025-01-02T03:04:05Z"}]}
func (d *Directory) JWKS() ([]byte, error) {
	return MarshalJWKS(d.All())
}

// MarshalJWKS renders keys as a JWK set in the given order (see
// Directory.JWKS).
func MarshalJWKS(ks []PublicKey) ([]byte, error) {
	set := jwkSet{Keys: make([]json.RawMessage, 0, len(ks))}
	for _, k := range ks {
		if err := validPublicKey(k); err != nil {
			return nil, fmt.Errorf("marshal jwks: %w", err)
		}
		j := jwk{
			Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k.Key), Kid: k.KID,
			Alg: AlgEdDSA, Use: "sig", Owner: k.Owner, KeyUse: string(k.Use), Status: string(k.Status),
		}
		if !k.Created.IsZero() {
			j.Created = k.Created.UTC().Format(time.RFC3339Nano)
		}
		if k.Status == Revoked {
			j.RevokedAt = k.RevokedAt.UTC().Format(time.RFC3339Nano)
		}
		b, err := json.Marshal(j)
		if err != nil {
			return nil, fmt.Errorf("marshal jwks: %w", err)
		}
		set.Keys = append(set.Keys, b)
	}
	return json.Marshal(set)
}

// ParseJWKS parses a JWK set as JWKS renders it. It is strict: members
// spelled exactly, no unknown members, Ed25519 OKP keys only, no private
// parts, owner/key_use/status required, revoked_at exactly for revoked
// keys, no kid twice. Any violation is ErrBadJWK (or ErrDuplicateKey).
func ParseJWKS(data []byte) ([]PublicKey, error) {
	var top map[string]json.RawMessage
	if err := jsonstrict.Decode(data, &top); err != nil {
		return nil, fmt.Errorf("parse jwks: %w: %w", ErrBadJWK, err)
	}
	rawKeys, ok := top["keys"]
	if !ok || len(top) != 1 {
		return nil, fmt.Errorf("parse jwks: %w: want exactly the member \"keys\"", ErrBadJWK)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(rawKeys, &items); err != nil {
		return nil, fmt.Errorf("parse jwks: %w: keys is not an array", ErrBadJWK)
	}
	out := make([]PublicKey, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, item := range items {
		j, err := decodeJWK(item)
		if err != nil {
			return nil, fmt.Errorf("parse jwks: key %d: %w", i, err)
		}
		if j.D != "" || j.K != "" {
			return nil, fmt.Errorf("parse jwks: key %d: %w: holds private key material", i, ErrBadJWK)
		}
		x, err := publicFromJWK(j)
		if err != nil {
			return nil, fmt.Errorf("parse jwks: key %d: %w", i, err)
		}
		k := PublicKey{KID: j.Kid, Owner: j.Owner, Use: Use(j.KeyUse), Key: x, Status: Status(j.Status)}
		if j.Created != "" {
			if k.Created, err = time.Parse(time.RFC3339, j.Created); err != nil {
				return nil, fmt.Errorf("parse jwks: key %d: %w: created: %v", i, ErrBadJWK, err)
			}
		}
		if j.RevokedAt != "" {
			if k.RevokedAt, err = time.Parse(time.RFC3339, j.RevokedAt); err != nil {
				return nil, fmt.Errorf("parse jwks: key %d: %w: revoked_at: %v", i, ErrBadJWK, err)
			}
		}
		if err := validPublicKey(k); err != nil {
			return nil, fmt.Errorf("parse jwks: key %d: %w", i, err)
		}
		if seen[k.KID] {
			return nil, fmt.Errorf("parse jwks: %w: %q", ErrDuplicateKey, k.KID)
		}
		seen[k.KID] = true
		out = append(out, k)
	}
	return out, nil
}

func validStatus(s Status) bool { return s == Active || s == Retired || s == Revoked }

func validUse(u Use) bool {
	switch u {
	case UseRecord, UseAuth, UseToken, UseReceipt, UseAudit:
		return true
	}
	return false
}

func validPublicKey(k PublicKey) error {
	switch {
	case k.KID == "":
		return fmt.Errorf("%w: empty kid", ErrBadJWK)
	case k.Owner == "":
		return fmt.Errorf("%w: %q has no owner", ErrBadJWK, k.KID)
	case !validUse(k.Use):
		return fmt.Errorf("%w: %q has key_use %q", ErrBadJWK, k.KID, k.Use)
	case !validStatus(k.Status):
		return fmt.Errorf("%w: %q has status %q", ErrBadJWK, k.KID, k.Status)
	case len(k.Key) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: %q is not a 32-byte Ed25519 key", ErrBadJWK, k.KID)
	case (k.Status == Revoked) != !k.RevokedAt.IsZero():
		return fmt.Errorf("%w: %q: revoked_at must be set exactly for revoked keys", ErrBadJWK, k.KID)
	}
	return nil
}

// acceptedBefore is a Resolver view; see AcceptedBefore.
type acceptedBefore struct {
	r  Resolver
	at time.Time
}

// AcceptedBefore wraps r for checking material the exchange accepted at
// acceptedAt: a version revoked after that moment is presented as
// Retired, so the material still verifies; one revoked at or before it
// stays Revoked. Use it only with an acceptance time the exchange itself
// recorded, never with a time read from the material.
func AcceptedBefore(r Resolver, acceptedAt time.Time) Resolver {
	return acceptedBefore{r: r, at: acceptedAt}
}

func (a acceptedBefore) PublicKey(kid string) (PublicKey, error) {
	k, err := a.r.PublicKey(kid)
	if err != nil {
		return k, err
	}
	if k.Status == Revoked && a.at.Before(k.RevokedAt) {
		k.Status = Retired
	}
	return k, nil
}
