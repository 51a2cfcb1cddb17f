package record

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

const (
	// Type is the typ header of every record JWT.
	Type = "onevisit+sd-jwt"
	// MaxSize bounds a whole compact record, in bytes.
	MaxSize = 1 << 20
	// HashAlg is the only _sd_alg records use or accept.
	HashAlg = "sha-256"
	// SaltSize is the number of random bytes in a disclosure salt.
	SaltSize = 16
)

// Op is what a record does to its subject's entry.
type Op string

const (
	Upsert Op = "upsert" // the record replaces the subject's entry
	Delete Op = "delete" // the record removes it
)

var (
	// ErrMalformed: not a record (bad compact form, base64url, JSON, a
	// claim of the wrong type, a claim outside the allowed set, a key
	// binding JWT). Reject it to the dead letter; retrying cannot help.
	ErrMalformed = wire.WithCode("malformed_record", errors.New("malformed record"))
	// ErrTooLarge: the record exceeds MaxSize. Reject it unread.
	ErrTooLarge = wire.WithCode("record_too_large", errors.New("record too large"))
	// ErrBadSignature: the signature does not verify: the record was
	// altered. Reject it and alert; never deliver it.
	ErrBadSignature = wire.WithCode("bad_signature", errors.New("record signature invalid"))
	// ErrAlgorithm: alg is not EdDSA or _sd_alg is not sha-256. Reject.
	ErrAlgorithm = wire.WithCode("algorithm_not_allowed", errors.New("record algorithm not allowed"))
	// ErrType: the JWT typ is not onevisit+sd-jwt (another kind of token
	// offered as a record). Reject.
	ErrType = wire.WithCode("bad_type", errors.New("not a record token type"))
	// ErrUnknownKey: the kid is not in the key directory (it wraps
	// keys.ErrUnknownKey). Reject; if the publisher just rotated, the
	// directory may lag: reject now, the publisher resends.
	ErrUnknownKey = wire.WithCode("unknown_key", fmt.Errorf("record key: %w", keys.ErrUnknownKey))
	// ErrWrongIssuerKey: the kid names a key that is not a record key of
	// the department named in iss (signed by another department's key, or
	// with its auth key). Reject and alert: it is an impersonation
	// attempt or a misconfigured connector.
	ErrWrongIssuerKey = wire.WithCode("wrong_issuer_key", errors.New("record signed by a key not the issuer's record key"))
	// ErrBadDisclosure: a disclosure is not [salt, name, value], is an
	// array-element disclosure, names a reserved claim, nests _sd or
	// "...", or its digest is not in _sd. Reject the record.
	ErrBadDisclosure = wire.WithCode("bad_disclosure", errors.New("bad disclosure"))
	// ErrDuplicateDisclosure: a digest appears twice (in _sd or among the
	// disclosures) or two disclosures name the same field. Reject.
	ErrDuplicateDisclosure = wire.WithCode("duplicate_disclosure", errors.New("duplicate disclosure"))
	// ErrMissingClaim: iss, dataset, schema, jti, iat or op is absent or
	// empty, or op is unknown. Reject.
	ErrMissingClaim = wire.WithCode("missing_claim", errors.New("record claim missing"))
	// ErrNotValidNow: the record carries exp or nbf and now is outside
	// that window. Reject; the publisher must send a fresh record.
	ErrNotValidNow = wire.WithCode("record_not_valid_now", errors.New("record outside its validity window"))
	// ErrNoSubjectBinding: the record has no sub_field claim, or the field
	// it names is not disclosed with a non-empty string value, so it cannot
	// be tied to a subject. Ingest rejects it; a requester treats the
	// answer as not received (see "Subject binding" in the package doc).
	ErrNoSubjectBinding = wire.WithCode("no_subject_binding", errors.New("record not bound to a subject"))
)

// Claims are a record's always-visible claims.
type Claims struct {
	Issuer   string    // iss: the publisher's client id
	Dataset  string    // dataset
	Schema   string    // schema, e.g. "household/v1"
	ID       string    // jti: the record id, the idempotency key
	IssuedAt time.Time // iat, whole seconds
	Op       Op        // op
	// SubjectField is sub_field: the name of the disclosure that holds the
	// subject's identifier (the dataset's subject field, e.g.
	// "resident_id"). Publishers always set it; see "Subject binding".
	SubjectField string
	// Expires and NotBefore are exp and nbf; zero when absent. Sign
	// writes them when set; OneVisit publishers normally leave them zero.
	Expires, NotBefore time.Time
}

// Disclosure is one selectively disclosable field.
type Disclosure struct {
	Encoded string // the base64url disclosure exactly as received or made
	Digest  string // base64url(sha-256(Encoded))
	Salt    string
	Name    string
	Value   any // decoded strictly; numbers are json.Number
}

// Record is a parsed record.
type Record struct {
	Claims
	KID         string         // kid of the signing key
	Key         keys.PublicKey // the verifying key; zero after Parse
	JWT         string         // the issuer-signed JWT, exactly as received
	Disclosures []Disclosure   // in received order
}

// Unsigned is one record to sign with SignMany.
type Unsigned struct {
	Claims Claims
	Fields map[string]any
}

// reserved names cannot be disclosure names: the payload's own claims,
// and the SD-JWT markers.
var reserved = map[string]bool{
	"iss": true, "dataset": true, "schema": true, "jti": true, "iat": true, "op": true,
	"exp": true, "nbf": true, "_sd": true, "_sd_alg": true, "...": true, "sub_field": true,
}

var b64 = base64.RawURLEncoding.Strict()

// payload is the JWT claims set of a record.
type payload struct {
	Iss     string           `json:"iss"`
	Dataset string           `json:"dataset"`
	Schema  string           `json:"schema"`
	Jti     string           `json:"jti"`
	Iat     *jwt.NumericDate `json:"iat"`
	Op      Op               `json:"op"`
	SubF    string           `json:"sub_field,omitempty"`
	SD      []string         `json:"_sd"`
	SDAlg   string           `json:"_sd_alg,omitempty"`
	Exp     *jwt.NumericDate `json:"exp,omitempty"`
	Nbf     *jwt.NumericDate `json:"nbf,omitempty"`
}

var _ jwt.Claims = (*payload)(nil)

func (p *payload) GetExpirationTime() (*jwt.NumericDate, error) { return p.Exp, nil }
func (p *payload) GetIssuedAt() (*jwt.NumericDate, error)       { return p.Iat, nil }
func (p *payload) GetNotBefore() (*jwt.NumericDate, error)      { return p.Nbf, nil }
func (p *payload) GetIssuer() (string, error)                   { return p.Iss, nil }
func (p *payload) GetSubject() (string, error)                  { return "", nil }
func (p *payload) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// UnmarshalJSON decodes a payload strictly: no duplicate or case-variant
// keys, claim names matched exactly, only the allowed claims, each of its
// type.
func (p *payload) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := jsonstrict.Decode(data, &raw); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	if raw == nil {
		return fmt.Errorf("%w: payload is not an object", ErrMalformed)
	}
	*p = payload{}
	var err error
	for name, v := range raw {
		switch name {
		case "iss":
			err = keys.StringClaim(v, &p.Iss)
		case "dataset":
			err = keys.StringClaim(v, &p.Dataset)
		case "schema":
			err = keys.StringClaim(v, &p.Schema)
		case "jti":
			err = keys.StringClaim(v, &p.Jti)
		case "op":
			err = keys.StringClaim(v, (*string)(&p.Op))
		case "sub_field":
			err = keys.StringClaim(v, &p.SubF)
			if err == nil && (p.SubF == "" || reserved[p.SubF]) {
				err = errors.New("empty or a reserved name")
			}
		case "_sd_alg":
			err = keys.StringClaim(v, &p.SDAlg)
			if err == nil && p.SDAlg == "" {
				err = errors.New("empty")
			}
		case "iat":
			p.Iat, err = keys.DateClaim(v)
		case "exp":
			p.Exp, err = keys.DateClaim(v)
		case "nbf":
			p.Nbf, err = keys.DateClaim(v)
		case "_sd":
			if len(v) == 0 || v[0] != '[' {
				err = errors.New("not an array")
			} else if err = jsonstrict.Decode(v, &p.SD); err == nil && p.SD == nil {
				p.SD = []string{}
			}
		default:
			return fmt.Errorf("%w: claim %q not allowed", ErrMalformed, name)
		}
		if err != nil {
			return fmt.Errorf("%w: claim %q: %v", ErrMalformed, name, err)
		}
	}
	return nil
}

func (p *payload) claims() Claims {
	c := Claims{Issuer: p.Iss, Dataset: p.Dataset, Schema: p.Schema, ID: p.Jti, Op: p.Op, SubjectField: p.SubF}
	if p.Iat != nil {
		c.IssuedAt = p.Iat.Time.UTC()
	}
	if p.Exp != nil {
		c.Expires = p.Exp.Time.UTC()
	}
	if p.Nbf != nil {
		c.NotBefore = p.Nbf.Time.UTC()
	}
	return c
}

func checkClaims(c Claims) error {
	var missing []string
	for _, f := range [...]struct {
		name string
		ok   bool
	}{
		{"iss", c.Issuer != ""}, {"dataset", c.Dataset != ""}, {"schema", c.Schema != ""},
		{"jti", c.ID != ""}, {"iat", !c.IssuedAt.IsZero()}, {"op", c.Op != ""},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingClaim, strings.Join(missing, ", "))
	}
	if c.Op != Upsert && c.Op != Delete {
		return fmt.Errorf("%w: op %q is not upsert or delete", ErrMissingClaim, c.Op)
	}
	return nil
}

// split cuts a compact record into its JWT and disclosures.
func split(compact string) (string, []string, error) {
	if len(compact) > MaxSize {
		return "", nil, fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(compact), MaxSize)
	}
	body, ok := strings.CutSuffix(compact, "~")
	if !ok {
		return "", nil, fmt.Errorf("%w: no trailing ~ (key binding JWTs are not accepted)", ErrMalformed)
	}
	jwtPart, rest, _ := strings.Cut(body, "~")
	if jwtPart == "" {
		return "", nil, fmt.Errorf("%w: no issuer-signed JWT", ErrMalformed)
	}
	if rest == "" {
		return jwtPart, nil, nil
	}
	discs := strings.Split(rest, "~")
	for _, d := range discs {
		if d == "" {
			return "", nil, fmt.Errorf("%w: empty disclosure", ErrMalformed)
		}
	}
	return jwtPart, discs, nil
}

// Digest returns base64url(sha-256(ASCII(encoded))), the digest of an
// encoded disclosure (RFC 9901 §4.2.3).
func Digest(encoded string) string {
	sum := sha256.Sum256([]byte(encoded))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// smallSet is the size up to which disclose compares digests and names
// pairwise instead of building maps.
const smallSet = 16

// disclose checks every disclosure against p.
func disclose(p *payload, encoded []string) ([]Disclosure, error) {
	if p.SDAlg != "" && p.SDAlg != HashAlg {
		return nil, fmt.Errorf("%w: _sd_alg %q", ErrAlgorithm, p.SDAlg)
	}
	sd, err := newDigestSet(p.SD)
	if err != nil {
		return nil, err
	}
	if len(encoded) == 0 {
		return []Disclosure{}, nil
	}
	// One buffer holds every encoded disclosure (so hashing and base64
	// decoding need no copy each) and then every decoded one.
	n, dn := 0, 0
	for _, e := range encoded {
		n += len(e)
		dn += b64.DecodedLen(len(e))
	}
	buf := make([]byte, n+dn)
	src, dst := buf[:n], buf[n:]
	out := make([]Disclosure, len(encoded))
	var names map[string]bool // once there are many fields
	if len(encoded) > smallSet {
		names = make(map[string]bool, len(encoded))
	}
	for i, e := range encoded {
		raw := src[:len(e):len(e)]
		copy(raw, e)
		src = src[len(e):]
		d := &out[i]
		d.Encoded = e
		var digest [43]byte // base64url of 32 bytes, unpadded
		sum := sha256.Sum256(raw)
		base64.RawURLEncoding.Encode(digest[:], sum[:])
		j := sd.find(digest[:])
		if j < 0 {
			return nil, fmt.Errorf("%w: disclosure %d: digest not in _sd", ErrBadDisclosure, i)
		}
		if sd.used[j] {
			return nil, fmt.Errorf("%w: disclosure %d: presented twice", ErrDuplicateDisclosure, i)
		}
		sd.used[j] = true
		d.Digest = p.SD[j] // the same characters as Digest(e)
		m, err := b64.Decode(dst, raw)
		if err != nil {
			return nil, fmt.Errorf("disclosure %d: %w: not base64url", i, ErrBadDisclosure)
		}
		if err := parseDisclosure(d, dst[:m:m]); err != nil {
			return nil, fmt.Errorf("disclosure %d: %w", i, err)
		}
		dst = dst[m:]
		dup := false
		if names != nil {
			dup = names[d.Name]
			names[d.Name] = true
		} else {
			for _, prev := range out[:i] {
				dup = dup || prev.Name == d.Name
			}
		}
		if dup {
			return nil, fmt.Errorf("%w: disclosure %d: field %q twice", ErrDuplicateDisclosure, i, d.Name)
		}
	}
	return out, nil
}

// digestSet is the digests of _sd, each usable by one disclosure.
type digestSet struct {
	sd   []string
	idx  map[string]int // when _sd is large
	used []bool
}

// newDigestSet refuses a digest twice in sd.
func newDigestSet(sd []string) (*digestSet, error) {
	s := &digestSet{sd: sd, used: make([]bool, len(sd))}
	if len(sd) > smallSet {
		s.idx = make(map[string]int, len(sd))
	}
	for i, d := range sd {
		dup := false
		if s.idx != nil {
			_, dup = s.idx[d]
			s.idx[d] = i
		} else {
			dup = slices.Contains(sd[:i], d)
		}
		if dup {
			return nil, fmt.Errorf("%w: digest %q twice in _sd", ErrDuplicateDisclosure, d)
		}
	}
	return s, nil
}

// find returns the index in _sd of digest, or -1.
func (s *digestSet) find(digest []byte) int {
	if s.idx != nil {
		if i, ok := s.idx[string(digest)]; ok {
			return i
		}
		return -1
	}
	for i, d := range s.sd {
		if d == string(digest) {
			return i
		}
	}
	return -1
}

// decodeDisclosure decodes d.Encoded into d's other fields, except
// Digest.
func decodeDisclosure(d *Disclosure) error {
	data, err := b64.DecodeString(d.Encoded)
	if err != nil {
		return fmt.Errorf("%w: not base64url", ErrBadDisclosure)
	}
	return parseDisclosure(d, data)
}

// parseDisclosure decodes the JSON of a disclosure into d's Salt, Name
// and Value.
func parseDisclosure(d *Disclosure, data []byte) error {
	var arr []any
	if err := jsonstrict.Decode(data, &arr); err != nil {
		return fmt.Errorf("%w: %w", ErrBadDisclosure, err)
	}
	switch len(arr) {
	case 3:
	case 2:
		return fmt.Errorf("%w: array-element disclosures are not used in records", ErrBadDisclosure)
	default:
		return fmt.Errorf("%w: %d elements, want [salt, name, value]", ErrBadDisclosure, len(arr))
	}
	var ok1, ok2 bool
	d.Salt, ok1 = arr[0].(string)
	d.Name, ok2 = arr[1].(string)
	if !ok1 || !ok2 || d.Salt == "" || d.Name == "" {
		return fmt.Errorf("%w: salt and name must be non-empty strings", ErrBadDisclosure)
	}
	if reserved[d.Name] {
		return fmt.Errorf("%w: name %q is reserved", ErrBadDisclosure, d.Name)
	}
	if err := checkFlat(arr[2], 0); err != nil {
		return err
	}
	d.Value = arr[2]
	return nil
}

// checkFlat refuses nested selective disclosure (_sd or "..." keys) in a
// value: records are flat.
func checkFlat(v any, depth int) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "_sd" || k == "..." {
				return fmt.Errorf("%w: nested %q in a value", ErrBadDisclosure, k)
			}
			if err := checkFlat(e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkFlat(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Parse decodes a compact record and checks its syntax and its
// disclosures against _sd, without verifying the signature: use it only
// on records already verified (for example read back from the exchange's
// own accepted topic). Key is zero.
func Parse(compact string) (*Record, error) {
	u, err := parseUnverified(compact, "parse record")
	if err != nil {
		return nil, err
	}
	return finish(u.p, u.kid, u.jwt, u.discs, "parse record")
}

// unverified is a record split and decoded, its signature not checked.
type unverified struct {
	jwt, kid string
	discs    []string
	p        *payload
}

// parseUnverified is Parse up to the claims: it splits compact, checks
// the header (alg EdDSA, typ, a kid) and the signature's shape, and
// decodes the payload strictly. op prefixes its errors.
func parseUnverified(compact, op string) (unverified, error) {
	fail := func(format string, args ...any) (unverified, error) {
		return unverified{}, fmt.Errorf(op+": "+format, args...)
	}
	jwtPart, discs, err := split(compact)
	if err != nil {
		return fail("%w", err)
	}
	h, err := keys.DecodeHeader(jwtPart)
	if err != nil {
		return fail("%w: %w", ErrMalformed, err)
	}
	switch {
	case h.Alg != keys.AlgEdDSA:
		return fail("%w: alg %q", ErrAlgorithm, h.Alg)
	case !strings.EqualFold(h.Typ, Type) && !strings.EqualFold(h.Typ, "application/"+Type):
		return fail("%w: %q", ErrType, h.Typ)
	case h.Kid == "":
		return fail("%w: no kid", ErrMalformed)
	}
	parts := strings.Split(jwtPart, ".")
	if len(parts) != 3 {
		return fail("%w: JWT has %d parts", ErrMalformed, len(parts))
	}
	if sig, err := b64.DecodeString(parts[2]); err != nil || len(sig) != 64 {
		return fail("%w: signature is not 64 base64url bytes", ErrMalformed)
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return fail("%w: payload is not base64url", ErrMalformed)
	}
	p := new(payload)
	if err := p.UnmarshalJSON(body); err != nil {
		return fail("%w", err)
	}
	return unverified{jwt: jwtPart, kid: h.Kid, discs: discs, p: p}, nil
}

func finish(p *payload, kid, jwtPart string, discs []string, op string) (*Record, error) {
	c := p.claims()
	if err := checkClaims(c); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	ds, err := disclose(p, discs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return &Record{Claims: c, KID: kid, JWT: jwtPart, Disclosures: ds}, nil
}

// Verify checks a compact record completely, over the exact bytes
// received: size, syntax, alg EdDSA, typ, the signature with the key its
// kid names in r (which must be a record key owned by iss), exp/nbf when
// present, the required claims, and every disclosure (digest in _sd, no
// digest or field twice). Besides the record sentinels it may return
// keys.ErrRevoked (the key version was revoked; wrap r with
// keys.AcceptedBefore to check a record accepted before that).
func Verify(compact string, r keys.Resolver) (*Record, error) {
	jwtPart, discs, err := split(compact)
	if err != nil {
		return nil, fmt.Errorf("verify record: %w", err)
	}
	var p payload
	pk, err := keys.ParseJWT(jwtPart, r, keys.UseRecord, Type, &p)
	if err != nil {
		return nil, fmt.Errorf("verify record: %w", classify(err))
	}
	return finishKeyed(&p, pk, jwtPart, discs, "verify record")
}

// finishKeyed is finish for a record whose kid resolved to pk: pk must be
// a key of the issuer the record names, and becomes the record's Key.
func finishKeyed(p *payload, pk keys.PublicKey, jwtPart string, discs []string, op string) (*Record, error) {
	if pk.Owner != p.Iss {
		return nil, fmt.Errorf("%s: %w: kid %q belongs to %q, iss is %q", op, ErrWrongIssuerKey, pk.KID, pk.Owner, p.Iss)
	}
	rec, err := finish(p, pk.KID, jwtPart, discs, op)
	if err != nil {
		return nil, err
	}
	rec.Key = pk
	return rec, nil
}

// Vouched checks a record that an exchange node verified already and
// vouches for with its MAC over these exact bytes (a message of the
// exchange's accepted topic whose node MAC the caller has checked): what
// Verify checks, with r, but the Ed25519 signature itself. The kid must
// still name a record key owned by iss and not revoked in r (wrap r with
// keys.AcceptedBefore for the acceptance time), and the syntax, claims and
// disclosures are checked as Verify checks them. Signature math is the
// one thing the MAC proves already, and the largest cost of a node
// rebuilding its view from the topic. Never call it on bytes no verified
// MAC covers: anyone can write a record with a valid kid and a bad
// signature.
func Vouched(compact string, r keys.Resolver) (*Record, error) {
	const op = "vouched record"
	u, err := parseUnverified(compact, op)
	if err != nil {
		return nil, err
	}
	pk, err := keys.Resolve(r, u.kid, keys.UseRecord)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, classify(err))
	}
	if err := jwt.NewValidator().Validate(u.p); err != nil {
		return nil, fmt.Errorf("%s: %w", op, classify(fmt.Errorf("%w: %w", keys.ErrInvalidClaims, err)))
	}
	return finishKeyed(u.p, pk, u.jwt, u.discs, op)
}

// classify maps a keys.ParseJWT error to the record sentinels, keeping
// the original in the chain.
func classify(err error) error {
	var s error
	switch {
	case errors.Is(err, ErrMalformed):
		return err // our own payload decoding, already classified
	case errors.Is(err, keys.ErrAlgorithm):
		s = ErrAlgorithm
	case errors.Is(err, keys.ErrBadType):
		s = ErrType
	case errors.Is(err, keys.ErrUnknownKey):
		s = ErrUnknownKey
	case errors.Is(err, keys.ErrWrongUse):
		s = ErrWrongIssuerKey
	case errors.Is(err, keys.ErrRevoked):
		return err
	case errors.Is(err, keys.ErrBadSignature):
		s = ErrBadSignature
	case errors.Is(err, keys.ErrInvalidClaims):
		s = ErrNotValidNow
	default:
		s = ErrMalformed
	}
	return fmt.Errorf("%w: %w", s, err)
}

// Fields returns the disclosed fields by name.
func (r *Record) Fields() map[string]any {
	m := make(map[string]any, len(r.Disclosures))
	for _, d := range r.Disclosures {
		m[d.Name] = d.Value
	}
	return m
}

// Field returns one disclosed field.
func (r *Record) Field(name string) (any, bool) {
	for _, d := range r.Disclosures {
		if d.Name == name {
			return d.Value, true
		}
	}
	return nil, false
}

// Subject returns the record's subject binding: the disclosure that
// sub_field names and its identifier. It fails with ErrNoSubjectBinding
// when the record has no sub_field, or that field is not disclosed (in
// this copy) with a non-empty string value.
func (r *Record) Subject() (Disclosure, string, error) {
	if r.SubjectField == "" {
		return Disclosure{}, "", fmt.Errorf("%w: no sub_field claim", ErrNoSubjectBinding)
	}
	for _, d := range r.Disclosures {
		if d.Name == r.SubjectField {
			id, ok := d.Value.(string)
			if !ok || id == "" {
				return Disclosure{}, "", fmt.Errorf("%w: field %q is not a non-empty string", ErrNoSubjectBinding, d.Name)
			}
			return d, id, nil
		}
	}
	return Disclosure{}, "", fmt.Errorf("%w: field %q is not disclosed", ErrNoSubjectBinding, r.SubjectField)
}

// Project returns the record with only the disclosures whose field is in
// allowed: the same issuer-signed JWT, the kept disclosures in their
// original encoding and order, and the trailing ~. The result verifies
// against the publisher's key like the original.
func (r *Record) Project(allowed []string) string {
	n := len(r.JWT) + 1
	for _, d := range r.Disclosures {
		if slices.Contains(allowed, d.Name) {
			n += len(d.Encoded) + 1
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(r.JWT)
	b.WriteByte('~')
	for _, d := range r.Disclosures {
		if slices.Contains(allowed, d.Name) {
			b.WriteString(d.Encoded)
			b.WriteByte('~')
		}
	}
	return b.String()
}

// prepared is a record ready for signing.
type prepared struct {
	payload     payload
	disclosures []string
}

func prepare(c Claims, fields map[string]any) (*prepared, error) {
	c.IssuedAt = c.IssuedAt.Truncate(time.Second)
	if err := checkClaims(c); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		if name == "" || reserved[name] {
			return nil, fmt.Errorf("%w: field name %q is reserved", ErrBadDisclosure, name)
		}
		names = append(names, name)
	}
	if c.SubjectField != "" {
		if v, ok := fields[c.SubjectField].(string); !ok || v == "" {
			return nil, fmt.Errorf("%w: sub_field names %q, which is not a non-empty string field", ErrNoSubjectBinding, c.SubjectField)
		}
	}
	sort.Strings(names)
	salts := make([]byte, SaltSize*len(names))
	if _, err := rand.Read(salts); err != nil {
		return nil, err
	}
	pr := &prepared{
		payload: payload{
			Iss: c.Issuer, Dataset: c.Dataset, Schema: c.Schema, Jti: c.ID,
			Iat: jwt.NewNumericDate(c.IssuedAt), Op: c.Op, SubF: c.SubjectField, SD: make([]string, 0, len(names)), SDAlg: HashAlg,
		},
		disclosures: make([]string, 0, len(names)),
	}
	if !c.Expires.IsZero() {
		pr.payload.Exp = jwt.NewNumericDate(c.Expires)
	}
	if !c.NotBefore.IsZero() {
		pr.payload.Nbf = jwt.NewNumericDate(c.NotBefore)
	}
	for i, name := range names {
		salt := b64.EncodeToString(salts[i*SaltSize : (i+1)*SaltSize])
		data, err := json.Marshal([3]any{salt, name, fields[name]})
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrBadDisclosure, name, err)
		}
		// Refuse now what Verify would refuse later: case-variant keys in
		// a map value, nested _sd.
		var back []any
		if err := jsonstrict.Decode(data, &back); err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", ErrBadDisclosure, name, err)
		}
		if err := checkFlat(back[2], 0); err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		enc := b64.EncodeToString(data)
		pr.disclosures = append(pr.disclosures, enc)
		pr.payload.SD = append(pr.payload.SD, Digest(enc))
	}
	sort.Strings(pr.payload.SD)
	return pr, nil
}

func (pr *prepared) assemble(signed string) string {
	n := len(signed) + 1
	for _, d := range pr.disclosures {
		n += len(d) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(signed)
	b.WriteByte('~')
	for _, d := range pr.disclosures {
		b.WriteString(d)
		b.WriteByte('~')
	}
	return b.String()
}

// Sign makes a record: every field becomes a disclosure with a fresh
// 128-bit salt, their digests go sorted into _sd, and the JWT is signed
// with s (keys.SignJWT, typ onevisit+sd-jwt). Field names must be
// non-empty and not reserved; values must be JSON without nested _sd or
// "..." keys and without case-variant keys.
func Sign(ctx context.Context, s keys.Signer, c Claims, fields map[string]any) (string, error) {
	pr, err := prepare(c, fields)
	if err != nil {
		return "", fmt.Errorf("sign record: %w", err)
	}
	signed, err := keys.SignJWT(ctx, s, Type, &pr.payload)
	if err != nil {
		return "", fmt.Errorf("sign record: %w", err)
	}
	out := pr.assemble(signed)
	if len(out) > MaxSize {
		return "", fmt.Errorf("sign record: %w: %d bytes", ErrTooLarge, len(out))
	}
	return out, nil
}

// SignMany signs many records with one kid, in one round trip when s is
// a keys.BatchSigner. records[i] and errs[i] belong to items[i]; a
// non-nil err means nothing was signed.
func SignMany(ctx context.Context, s keys.Signer, items []Unsigned) (records []string, errs []error, err error) {
	records = make([]string, len(items))
	errs = make([]error, len(items))
	prs := make([]*prepared, 0, len(items))
	claims := make([]jwt.Claims, 0, len(items))
	idx := make([]int, 0, len(items))
	for i, it := range items {
		pr, err := prepare(it.Claims, it.Fields)
		if err != nil {
			errs[i] = fmt.Errorf("sign record: %w", err)
			continue
		}
		prs = append(prs, pr)
		claims = append(claims, &pr.payload)
		idx = append(idx, i)
	}
	if len(claims) == 0 {
		return records, errs, nil
	}
	signed, signErrs, err := keys.SignJWTBatch(ctx, s, Type, claims)
	if err != nil {
		return nil, nil, fmt.Errorf("sign records: %w", err)
	}
	for j, i := range idx {
		if signErrs[j] != nil {
			errs[i] = fmt.Errorf("sign record: %w", signErrs[j])
			continue
		}
		out := prs[j].assemble(signed[j])
		if len(out) > MaxSize {
			errs[i] = fmt.Errorf("sign record: %w: %d bytes", ErrTooLarge, len(out))
			continue
		}
		records[i] = out
	}
	return records, errs, nil
}
