package keys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/wire"
)

// EventType is the JWS typ of a key directory event.
const EventType = "onevisit-key-event+jwt"

// EventIssuer is the iss of every key directory event.
const EventIssuer = "onevisit"

// MaxEventSize bounds a key event on the topic, in bytes.
const MaxEventSize = 16 << 10

// The changes a key event records.
const (
	ChangeRegistered = "key_registered" // a new client key version, or one retired by a newer one
	ChangeRevoked    = "key_revoked"    // a client key version revoked from revoked_at on
)

var (
	// ErrBadEvent: a key event is not a JWS of this profile, or its claims
	// are missing, malformed or out of bounds. Skip it.
	ErrBadEvent = errors.New("malformed key event")
	// ErrExchangeKey: a change names one of the exchange's own keys (owner
	// "exchange", or a token, receipt or audit key). Those come from the
	// key backend only, never from an event or an API call; see the
	// break-glass procedure in deploy/README.md. Skip or refuse it.
	ErrExchangeKey = wire.WithCode("exchange_key", errors.New("the exchange's own keys are managed in the key backend only"))
	// ErrBadKID: a client kid is not "<name>#<version>" with a name of
	// ASCII letters, digits, '.', '_' and '-' (at most 128 bytes in all)
	// and a decimal version: no control characters, spaces or look-alike
	// runes ever reach a log line or an audit entry. Pick another kid.
	ErrBadKID = wire.WithCode("bad_kid", errors.New("bad kid"))
	// ErrKeyInUse: the public key is already listed for another client.
	// One key pair belongs to one client: make a new one.
	ErrKeyInUse = wire.WithCode("key_in_use", errors.New("public key already registered to another client"))
)

// ValidKID checks a client kid's shape (see ErrBadKID).
func ValidKID(kid string) error {
	name, ver, ok := strings.Cut(kid, "#")
	if !ok || name == "" || len(kid) > 128 || ver == "" || len(ver) > 9 || ver[0] == '0' {
		return fmt.Errorf("%w: %q is not <name>#<version>", ErrBadKID, kid)
	}
	for _, c := range ver {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: version of %q is not a decimal number", ErrBadKID, kid)
		}
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %+q has a character other than letters, digits, '.', '_' and '-'", ErrBadKID, kid)
		}
	}
	return nil
}

// Event is one key directory change as the exchange publishes it: the
// new state of one key version, who asked (an officer authenticated at
// the HTTP API) and why.
type Event struct {
	ID       string    // jti: 128 random bits, hex
	IssuedAt time.Time // iat, whole seconds
	Node     string    // the node that published it
	Actor    string    // client id of the officer who asked
	Reason   string    // the reason the officer gave
	Change   string    // ChangeRegistered or ChangeRevoked
	Key      PublicKey
}

type eventClaims struct {
	jwt.RegisteredClaims
	Node   string          `json:"node"`
	Actor  string          `json:"actor"`
	Reason string          `json:"reason"`
	Change string          `json:"change"`
	JWKS   json.RawMessage `json:"jwks"`
}

// ClientKeyChange checks that k may be changed through a key event or
// the key API: a client's auth or record key, whose kid starts with
// "<owner>-". Anything of the exchange's own is ErrExchangeKey.
func ClientKeyChange(k PublicKey) error {
	if err := ValidKID(k.KID); err != nil {
		return err
	}
	switch {
	case k.Owner == OwnerExchange || strings.HasPrefix(k.KID, OwnerExchange+"-"):
		return fmt.Errorf("%w: %q", ErrExchangeKey, k.KID)
	case k.Use != UseAuth && k.Use != UseRecord:
		return fmt.Errorf("%w: %q has key_use %q", ErrExchangeKey, k.KID, k.Use)
	case !strings.HasPrefix(k.KID, k.Owner+"-"):
		return fmt.Errorf("%w: kid %q does not start with its owner %q", ErrBadEvent, k.KID, k.Owner)
	}
	return nil
}

func checkEvent(e Event) error {
	switch {
	case e.Change != ChangeRegistered && e.Change != ChangeRevoked:
		return fmt.Errorf("%w: change %q", ErrBadEvent, e.Change)
	case e.Actor == "" || e.Reason == "" || e.Node == "":
		return fmt.Errorf("%w: actor, reason and node are required", ErrBadEvent)
	case e.Change == ChangeRevoked && e.Key.Status != Revoked:
		return fmt.Errorf("%w: a revocation with status %q", ErrBadEvent, e.Key.Status)
	}
	return ClientKeyChange(e.Key)
}

// SignEvent signs e as a key event (typ EventType) with s, the
// exchange's audit key from the key backend. ID and IssuedAt are filled
// when empty. It refuses events that ParseEvent would refuse.
func SignEvent(ctx context.Context, s Signer, e Event) (string, error) {
	if e.ID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("sign key event: %w", err)
		}
		e.ID = hex.EncodeToString(b[:])
	}
	if e.IssuedAt.IsZero() {
		e.IssuedAt = time.Now()
	}
	if err := checkEvent(e); err != nil {
		return "", fmt.Errorf("sign key event: %w", err)
	}
	ks, err := MarshalJWKS([]PublicKey{e.Key})
	if err != nil {
		return "", fmt.Errorf("sign key event: %w", err)
	}
	c := eventClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: EventIssuer, ID: e.ID, IssuedAt: jwt.NewNumericDate(e.IssuedAt)},
		Node:             e.Node, Actor: e.Actor, Reason: e.Reason, Change: e.Change, JWKS: ks,
	}
	tok, err := SignJWT(ctx, s, EventType, &c)
	if err != nil {
		return "", fmt.Errorf("sign key event: %w", err)
	}
	if len(tok) > MaxEventSize {
		return "", fmt.Errorf("sign key event: %w: %d bytes", ErrBadEvent, len(tok))
	}
	return tok, nil
}

// exchangeAudit resolves only the exchange's own audit key versions, so
// no client key can sign a key event.
type exchangeAudit struct{ r Resolver }

func (x exchangeAudit) PublicKey(kid string) (PublicKey, error) {
	k, err := x.r.PublicKey(kid)
	if err != nil {
		return PublicKey{}, err
	}
	if k.Owner != OwnerExchange {
		return PublicKey{}, fmt.Errorf("%w: %q is not an exchange key", ErrUnknownKey, kid)
	}
	return k, nil
}

// ParseEvent verifies a key event and returns it with the key version
// that signed it. The signature must verify (ParseJWT: EdDSA only,
// typ EventType, strict header) with an exchange-owned audit key that r
// lists and that is not revoked; r must hold only keys from the key
// backend and the client registry. Then iss, jti, iat, node, actor,
// reason and change must be present and jwks must be a JWK set (strict,
// see ParseJWKS) of exactly one client key (ClientKeyChange).
// Errors wrap ErrBadEvent, ErrExchangeKey or ParseJWT's sentinels
// (ErrMalformedJWT, ErrAlgorithm, ErrBadType, ErrUnknownKey, ErrWrongUse,
// ErrRevoked, ErrBadSignature).
func ParseEvent(token string, r Resolver) (Event, PublicKey, error) {
	if len(token) > MaxEventSize {
		return Event{}, PublicKey{}, fmt.Errorf("parse key event: %w: %d bytes", ErrBadEvent, len(token))
	}
	var c eventClaims
	signer, err := ParseJWT(token, exchangeAudit{r}, UseAudit, EventType, &c, jwt.WithIssuer(EventIssuer))
	if err != nil {
		return Event{}, PublicKey{}, fmt.Errorf("parse key event: %w", err)
	}
	if c.ID == "" || c.IssuedAt == nil {
		return Event{}, PublicKey{}, fmt.Errorf("parse key event: %w: jti and iat are required", ErrBadEvent)
	}
	e := Event{ID: c.ID, IssuedAt: c.IssuedAt.Time.UTC(), Node: c.Node, Actor: c.Actor, Reason: c.Reason, Change: c.Change}
	ks, err := ParseJWKS(c.JWKS)
	if err != nil {
		return Event{}, PublicKey{}, fmt.Errorf("parse key event: %w: %w", ErrBadEvent, err)
	}
	if len(ks) != 1 {
		return Event{}, PublicKey{}, fmt.Errorf("parse key event: %w: %d keys, want exactly 1", ErrBadEvent, len(ks))
	}
	e.Key = ks[0]
	if err := checkEvent(e); err != nil {
		return Event{}, PublicKey{}, fmt.Errorf("parse key event: %w", err)
	}
	return e, signer, nil
}
