// Package control is the control-plane event format: a change of the
// exchange's governed state (the policy, the client registrations and
// the schema versions) that an officer signs with their own client key
// and every node verifies before it applies it. The CLI signs (the
// officer's private key never reaches the exchange); the node and its API
// verify. The package imports no server-side package, so both sides use it.
//
// # Format
//
// An event is a compact JWS (RFC 7515), at most MaxEventSize bytes:
//
//   - header: alg EdDSA (the only one accepted), typ EventType
//     ("onevisit-control+jwt"), kid the signer's key version;
//   - claims: iss (the acting officer's client id), jti (unique, 1 to 64
//     of letters, digits, '-', '_', '.'), iat (NumericDate), action, proposal
//     (the proposal id, same alphabet as jti), base (the policy version the
//     officer saw, a number), reason (1 to MaxReasonLen bytes, no control
//     characters; reason, proposal and jti hold no identity number or
//     credit code, schemas.ContainsIdentity), and per action:
//     policy (the whole proposed set, policy.Set.YAML) for policy.propose
//     and policy.narrow (and policy.seed); rollback_to (an earlier version
//     number) for policy.rollback; client (an object: client_id, role,
//     and optionally name, datasets, purposes, as in the client registry
//     file, exchange/clients; decoded strictly: no other member, no
//     repeated key), jwk (the client's public Ed25519 auth
//     JWK, with a kid "<client_id>-<name>#<version>" and no private part)
//     and, for a publisher or the consent service only, optionally
//     record_jwk (its public record key, the same shape, another kid) for
//     clients.add; client_id for clients.disable; schema (the schema
//     file, a JSON object, as schemas/<dataset>/v<N>.json) for
//     schemas.propose. An action carries no claim of another action.
//
// Actions are "<area>.<verb>": policy.propose, policy.approve,
// policy.reject, policy.narrow, policy.rollback, policy.seed,
// clients.add, clients.disable and schemas.propose. A node refuses an
// action it does not know.
//
// # Clients
//
// clients.add enrols a client: it gives access, so it is a proposal like
// a widening policy change (same proposal id space, same base version,
// approved with policy.approve by N distinct officers, or rejected with
// policy.reject). Once approved it becomes the next control-plane version
// (the policy set unchanged) and every node adds the client to its
// registry and its auth key (and record key) to its key directory,
// active from the event's iat. clients.disable takes
// a client's access away, so one officer alone applies it at once, like
// policy.narrow: the next version, on every node, after which the
// client's assertions and every token issued to it are refused, and its
// key versions are revoked from the event's iat on (records accepted
// before stay served). A
// rollback restores an earlier policy set, not client registrations.
// Client ids and kids are never reused.
//
// # Schemas
//
// schemas.propose registers the next version of a dataset the exchange
// serves (its $id names the dataset and the version after the latest).
// Every node checks it as schemas.Registry.Prepare does: the OneVisit
// schema profile, strict JSON, and compatibility with the latest version
// under the union of both versions' modes (bad_schema,
// incompatible_schema). It is a proposal like a widening, approved with
// policy.approve by N officers; once approved, every node adds it to its
// registry without a restart, and records of every version are served.
//
// # Verification
//
// Parse verifies the signature (keys.ParseJWT: EdDSA pinned, typ, strict
// header) with the key the node's key directory lists under kid, and then
// that the key is an auth key owned by iss, not revoked, and that iss is a
// client with the officer role in the node's client registry. The seed is
// the one exception: iss "onevisit", signed by the exchange's own audit key
// from the key backend, as key events are (exchange/keys/event.go); a node
// accepts a seed only as the first event it applies.
//
// Fresh checks what only an event submitted now must meet: its signing
// key is active (not retired) and its iat is within MaxSkew of the node's
// clock. A node replaying the control topic at start applies the events it
// verified then, in topic order, even if the officer's key was retired
// since or the event is old; jti makes a replayed message a no-op.
package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/schemas"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// EventType is the JWS typ of a control-plane event.
const EventType = "onevisit-control+jwt"

// SeedIssuer is the iss of a seed event, signed by the exchange.
const SeedIssuer = "onevisit"

// Limits.
const (
	// MaxEventSize bounds one event, in bytes (a whole policy set).
	MaxEventSize = 512 << 10
	// MaxReasonLen bounds a reason, in bytes.
	MaxReasonLen = 1000
	// MaxSkew bounds how far an event's iat may be from the clock of the
	// node it is submitted to.
	MaxSkew = 5 * time.Minute
)

// The actions.
const (
	ActionSeed     = "policy.seed"
	ActionPropose  = "policy.propose"
	ActionApprove  = "policy.approve"
	ActionReject   = "policy.reject"
	ActionNarrow   = "policy.narrow"
	ActionRollback = "policy.rollback"

	ActionClientsAdd     = "clients.add"
	ActionClientsDisable = "clients.disable"

	ActionSchemasPropose = "schemas.propose"
)

// RoleOfficer is the client role that may sign control events.
const RoleOfficer = "officer"

// Errors. Each names its stable code (exchange/wire).
var (
	// ErrBadEvent: not a control event of this profile, badly signed,
	// signed by a key that is not the issuer's active auth key, by a
	// client that is not an officer, or with a claim missing or out of
	// bounds. The node skips it; the API refuses it.
	ErrBadEvent = wire.WithCode("bad_event", errors.New("bad control-plane event"))
	// ErrSelfApproval: the proposer approved their own proposal.
	ErrSelfApproval = wire.WithCode("self_approval", errors.New("an officer cannot approve their own proposal"))
	// ErrAlreadyApproved: this officer approved the proposal already.
	ErrAlreadyApproved = wire.WithCode("already_approved", errors.New("this officer already approved the proposal"))
	// ErrStaleBase: the event names a base version that is not current.
	ErrStaleBase = wire.WithCode("stale_base", errors.New("the proposal's base version is no longer current"))
	// ErrNeedsApproval: narrow-now on a change that widens access.
	ErrNeedsApproval = wire.WithCode("needs_approval", errors.New("the change widens access and needs approval"))
	// ErrUnknownProposal: no proposal has this id, or it is no longer
	// pending.
	ErrUnknownProposal = wire.WithCode("unknown_proposal", errors.New("no pending proposal has this id"))
	// ErrClientExists: clients.add names a client id, kid or public key
	// registered already (ids and kids are never reused).
	ErrClientExists = wire.WithCode("client_exists", errors.New("client id, key id or public key already registered"))
	// ErrUnknownClient: clients.disable names no enabled client.
	ErrUnknownClient = wire.WithCode("unknown_client", errors.New("no enabled client has this id"))
)

// Event is one control-plane change.
type Event struct {
	Issuer     string    // iss: the acting officer's client id (SeedIssuer for a seed)
	ID         string    // jti
	IssuedAt   time.Time // iat, whole seconds
	Action     string
	Proposal   string // proposal id
	Base       uint64 // the version the officer saw
	Reason     string
	Policy     string // policy.Set.YAML of the proposed set (propose, narrow, seed)
	RollbackTo uint64 // rollback target (rollback)
	// Client is the enrolled client (clients.add).
	Client *clients.Client
	// JWK is the enrolled client's public auth JWK (clients.add).
	JWK json.RawMessage
	// RecordJWK is an enrolled publisher's or consent service's public
	// record JWK (clients.add; optional).
	RecordJWK json.RawMessage
	// ClientID is the client to disable (clients.disable).
	ClientID string
	// Schema is the proposed schema file, a JSON object
	// (schemas.propose).
	Schema json.RawMessage
}

type claims struct {
	jwt.RegisteredClaims
	Action     string          `json:"action"`
	Proposal   string          `json:"proposal"`
	Base       uint64          `json:"base"`
	Reason     string          `json:"reason"`
	Policy     string          `json:"policy,omitempty"`
	RollbackTo uint64          `json:"rollback_to,omitempty"`
	Client     json.RawMessage `json:"client,omitempty"` // a clients.Client, decoded strictly
	JWK        json.RawMessage `json:"jwk,omitempty"`
	RecordJWK  json.RawMessage `json:"record_jwk,omitempty"`
	ClientID   string          `json:"client_id,omitempty"`
	Schema     json.RawMessage `json:"schema,omitempty"`
}

// NewID returns 128 random bits in hex: a jti or a proposal id.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Check reports whether e is well formed for its action, naming the claim.
func (e Event) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadEvent, fmt.Sprintf(format, a...))
	}
	switch {
	case e.Issuer == "":
		return bad("iss is required")
	case !validID(e.ID):
		return bad("jti must be 1 to 64 letters, digits, '-', '_' or '.'")
	case e.IssuedAt.IsZero():
		return bad("iat is required")
	case e.Reason == "" || len(e.Reason) > MaxReasonLen || !utf8.ValidString(e.Reason):
		return bad("reason must be 1 to %d bytes of UTF-8", MaxReasonLen)
	}
	for _, r := range e.Reason {
		if unicode.IsControl(r) {
			return bad("reason has a control character")
		}
	}
	// Reasons and ids go into the permanent audit log.
	if schemas.ContainsIdentity(e.Reason) || schemas.ContainsIdentity(e.Proposal) || schemas.ContainsIdentity(e.ID) {
		return bad("reason, proposal and jti must not hold an identity number or credit code")
	}
	switch e.Action {
	case ActionSeed:
		if e.Issuer != SeedIssuer || e.Policy == "" {
			return bad("a seed is issued by %q and carries a policy", SeedIssuer)
		}
		return nil
	case ActionPropose, ActionNarrow:
		if e.Policy == "" {
			return bad("%s needs the policy claim", e.Action)
		}
	case ActionRollback:
		if e.RollbackTo == 0 {
			return bad("%s needs rollback_to", e.Action)
		}
	case ActionClientsAdd:
		if err := checkEnrolment(e.Client, e.JWK, e.RecordJWK); err != nil {
			return bad("%s: %v", e.Action, err)
		}
	case ActionClientsDisable:
		if !clients.ValidID(e.ClientID) {
			return bad("%s needs client_id, lower-case letters, digits and dashes", e.Action)
		}
	case ActionSchemasPropose:
		if len(e.Schema) == 0 || e.Schema[0] != '{' {
			return bad("%s needs the schema claim, a JSON object", e.Action)
		}
	case ActionApprove, ActionReject:
	default:
		return bad("unknown action %q", e.Action)
	}
	if e.Issuer == SeedIssuer {
		return bad("iss %q signs seeds only", SeedIssuer)
	}
	if !validID(e.Proposal) {
		return bad("proposal must be 1 to 64 letters, digits, '-', '_' or '.'")
	}
	if e.extraClaim() {
		return bad("%s carries a claim of another action", e.Action)
	}
	return nil
}

// extraClaim reports whether e carries a claim its action does not use.
func (e Event) extraClaim() bool {
	policyClaim := e.Action == ActionSeed || e.Action == ActionPropose || e.Action == ActionNarrow
	return (e.Policy != "" && !policyClaim) ||
		(e.RollbackTo != 0 && e.Action != ActionRollback) ||
		((e.Client != nil || len(e.JWK) > 0 || len(e.RecordJWK) > 0) && e.Action != ActionClientsAdd) ||
		(e.ClientID != "" && e.Action != ActionClientsDisable) ||
		(len(e.Schema) > 0 && e.Action != ActionSchemasPropose)
}

// checkEnrolment checks the client, jwk and record_jwk claims of
// clients.add.
func checkEnrolment(c *clients.Client, jwk, recordJWK json.RawMessage) error {
	if c == nil {
		return errors.New("client is required")
	}
	if err := clients.Check(*c); err != nil {
		return fmt.Errorf("client: %v", err)
	}
	for _, s := range append(append([]string{c.Name}, c.Datasets...), c.Purposes...) {
		if schemas.ContainsIdentity(s) || !utf8.ValidString(s) || len(s) > 200 {
			return errors.New("client: name, datasets and purposes must be UTF-8 of at most 200 bytes with no identity number")
		}
	}
	kid, err := checkJWK("jwk", c.ID, jwk)
	if err != nil {
		return err
	}
	if len(recordJWK) == 0 {
		return nil
	}
	if c.Role != "publisher" && c.Role != "consent" {
		return fmt.Errorf("record_jwk: a %s holds no record key", c.Role)
	}
	rkid, err := checkJWK("record_jwk", c.ID, recordJWK)
	if err == nil && rkid == kid {
		err = errors.New("record_jwk.kid is jwk.kid; each key version has its own kid")
	}
	return err
}

// checkJWK checks a public JWK claim of the client id and returns its kid.
func checkJWK(claim, id string, jwk json.RawMessage) (string, error) {
	kid, _, err := keys.ParsePublicJWK(jwk)
	if err != nil {
		return "", fmt.Errorf("%s: %v", claim, err)
	}
	if err := keys.ValidKID(kid); err != nil {
		return "", fmt.Errorf("%s.kid: %v", claim, err)
	}
	if !strings.HasPrefix(kid, id+"-") {
		return "", fmt.Errorf("%s.kid %q must be \"%s-<name>#<version>\"", claim, kid, id)
	}
	return kid, nil
}

// EnrolledKeys are the key versions a verified clients.add event enrols:
// its auth key, then its record key if it has one; active, created at the
// event's iat.
func (e Event) EnrolledKeys() ([]keys.PublicKey, error) {
	if e.Action != ActionClientsAdd || e.Client == nil {
		return nil, fmt.Errorf("%w: %s enrols no key", ErrBadEvent, e.Action)
	}
	var out []keys.PublicKey
	for _, k := range []struct {
		claim string
		use   keys.Use
		jwk   json.RawMessage
	}{{"jwk", keys.UseAuth, e.JWK}, {"record_jwk", keys.UseRecord, e.RecordJWK}} {
		if len(k.jwk) == 0 && k.use == keys.UseRecord {
			continue
		}
		kid, pub, err := keys.ParsePublicJWK(k.jwk)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadEvent, k.claim, err)
		}
		out = append(out, keys.PublicKey{KID: kid, Owner: e.Client.ID, Use: k.use, Key: pub, Status: keys.Active, Created: e.IssuedAt})
	}
	return out, nil
}

// Sign signs e with s: the officer's own auth key (or, for a seed, the
// exchange's audit key). ID and IssuedAt are filled when empty.
func Sign(ctx context.Context, s keys.Signer, e Event) (string, error) {
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.IssuedAt.IsZero() {
		e.IssuedAt = time.Now()
	}
	e.IssuedAt = e.IssuedAt.Truncate(time.Second)
	if err := e.Check(); err != nil {
		return "", fmt.Errorf("sign control event: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: e.Issuer, ID: e.ID, IssuedAt: jwt.NewNumericDate(e.IssuedAt)},
		Action:           e.Action, Proposal: e.Proposal, Base: e.Base, Reason: e.Reason, Policy: e.Policy, RollbackTo: e.RollbackTo,
		JWK: e.JWK, RecordJWK: e.RecordJWK, ClientID: e.ClientID, Schema: e.Schema,
	}
	if e.Client != nil {
		b, err := json.Marshal(e.Client)
		if err != nil {
			return "", fmt.Errorf("sign control event: %w", err)
		}
		c.Client = b
	}
	tok, err := keys.SignJWT(ctx, s, EventType, &c)
	if err != nil {
		return "", fmt.Errorf("sign control event: %w", err)
	}
	if len(tok) > MaxEventSize {
		return "", fmt.Errorf("sign control event: %w: %d bytes, at most %d", ErrBadEvent, len(tok), MaxEventSize)
	}
	return tok, nil
}

// Roles tells a client's role from the client registry.
type Roles interface {
	Role(clientID string) (string, bool)
}

// Verified is an event with the key version that signed it.
type Verified struct {
	Event
	Key keys.PublicKey
}

// Parse verifies token (see the package doc) against r, the node's key
// directory, and roles, its client registry. Errors wrap ErrBadEvent.
func Parse(token string, r keys.Resolver, roles Roles) (Verified, error) {
	if len(token) > MaxEventSize {
		return Verified{}, fmt.Errorf("parse control event: %w: %d bytes, at most %d", ErrBadEvent, len(token), MaxEventSize)
	}
	h, err := keys.DecodeHeader(token)
	if err != nil {
		return Verified{}, fmt.Errorf("parse control event: %w: %w", ErrBadEvent, err)
	}
	use := keys.UseAuth
	if k, err := r.PublicKey(h.Kid); err == nil && k.Owner == keys.OwnerExchange {
		use = keys.UseAudit
	}
	var c claims
	k, err := keys.ParseJWT(token, r, use, EventType, &c)
	if err != nil {
		return Verified{}, fmt.Errorf("parse control event: %w: %w", ErrBadEvent, err)
	}
	if c.IssuedAt == nil {
		return Verified{}, fmt.Errorf("parse control event: %w: iat is required", ErrBadEvent)
	}
	e := Event{Issuer: c.Issuer, ID: c.ID, IssuedAt: c.IssuedAt.Time.UTC(), Action: c.Action, Proposal: c.Proposal,
		Base: c.Base, Reason: c.Reason, Policy: c.Policy, RollbackTo: c.RollbackTo, JWK: c.JWK, RecordJWK: c.RecordJWK, ClientID: c.ClientID, Schema: c.Schema}
	if len(c.Client) > 0 {
		var cl clients.Client
		if err := jsonstrict.Decode(c.Client, &cl); err != nil {
			return Verified{}, fmt.Errorf("parse control event: %w: client: %w", ErrBadEvent, err)
		}
		e.Client = &cl
	}
	if err := e.Check(); err != nil {
		return Verified{}, fmt.Errorf("parse control event: %w", err)
	}
	if e.Action == ActionSeed {
		if k.Owner != keys.OwnerExchange || k.Use != keys.UseAudit {
			return Verified{}, fmt.Errorf("parse control event: %w: a seed must be signed by the exchange's audit key", ErrBadEvent)
		}
		return Verified{Event: e, Key: k}, nil
	}
	if k.Owner != e.Issuer {
		return Verified{}, fmt.Errorf("parse control event: %w: kid %q is not a key of %q", ErrBadEvent, k.KID, e.Issuer)
	}
	if role, ok := roles.Role(e.Issuer); !ok || role != RoleOfficer {
		return Verified{}, fmt.Errorf("parse control event: %w: %q is not an officer", ErrBadEvent, e.Issuer)
	}
	return Verified{Event: e, Key: k}, nil
}

// Fresh checks what an event submitted now must meet on top of Parse: an
// active signing key and an iat within MaxSkew of now.
func (v Verified) Fresh(now time.Time) error {
	if v.Key.Status != keys.Active {
		return fmt.Errorf("control event: %w: key %q is %s, not active", ErrBadEvent, v.Key.KID, v.Key.Status)
	}
	if d := now.Sub(v.IssuedAt); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("control event: %w: iat is %s from now, more than %s", ErrBadEvent, d.Round(time.Second), MaxSkew)
	}
	return nil
}
