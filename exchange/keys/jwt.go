package keys

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// AlgEdDSA is the only JWS algorithm OneVisit signs or accepts.
const AlgEdDSA = "EdDSA"

// OwnerExchange is the Owner of the exchange's own keys (token, receipt,
// audit).
const OwnerExchange = "exchange"

var (
	// ErrMalformedJWT: the token is not a compact JWS with a strict JSON
	// header (alg, kid, typ only) and canonical base64url. Reject it.
	ErrMalformedJWT = errors.New("malformed JWS")
	// ErrAlgorithm: the header names an algorithm other than EdDSA
	// (none, HS256, RS256, ...). Reject it; never retry with another key.
	ErrAlgorithm = errors.New("JWS algorithm not allowed")
	// ErrBadType: the header typ is not the one this kind of token must
	// carry (explicit typing, RFC 8725 §3.11), e.g. an access token
	// offered as a client assertion. Reject it.
	ErrBadType = errors.New("wrong JWS type")
	// ErrWrongUse: the kid names a key made for another purpose (a record
	// key offered as an auth key). Reject it.
	ErrWrongUse = wire.WithCode("wrong_key_use", errors.New("key not valid for this use"))
	// ErrBadSignature: the signature does not verify with the key the kid
	// names. Reject it; the material was altered or forged.
	ErrBadSignature = errors.New("JWS signature invalid")
	// ErrInvalidClaims: the signature is good but a time or audience
	// claim fails (expired, not yet valid, wrong aud or iss). The jwt/v5
	// sentinel (jwt.ErrTokenExpired, ...) is wrapped too.
	ErrInvalidClaims = errors.New("JWT claims invalid")
)

// SignJWT builds a compact JWS the one way OneVisit builds them: header
// {"alg":"EdDSA","kid":s.KeyID(),"typ":typ}, the signing input from
// jwt/v5's Token.SigningString, the signature from s.Sign with the same
// kid, assembled with Token.EncodeSegment. When a rotation lands between
// KeyID and Sign (ErrRetired), it builds the header again once with the
// new KeyID: a retired version never signs.
func SignJWT(ctx context.Context, s Signer, typ string, claims jwt.Claims) (string, error) {
	kid := s.KeyID()
	input, tok, err := signingInput(kid, typ, claims)
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	sig, err := s.Sign(ctx, kid, []byte(input))
	if errors.Is(err, ErrRetired) {
		if next := s.KeyID(); next != kid {
			if input, tok, err = signingInput(next, typ, claims); err != nil {
				return "", fmt.Errorf("sign jwt: %w", err)
			}
			sig, err = s.Sign(ctx, next, []byte(input))
		}
	}
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return "", fmt.Errorf("sign jwt: signer returned %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return input + "." + tok.EncodeSegment(sig), nil
}

// SignJWTBatch signs many claim sets with one kid, through BatchSigner
// when s implements it and one Sign call per item otherwise. Results are
// in input order; errs[i] is item i's own error. A non-nil err means
// nothing was signed.
func SignJWTBatch(ctx context.Context, s Signer, typ string, claims []jwt.Claims) (tokens []string, errs []error, err error) {
	kid := s.KeyID()
	tokens, errs, err = signJWTBatch(ctx, s, kid, typ, claims)
	if errors.Is(err, ErrRetired) {
		// A rotation landed between KeyID and the signature: build every
		// header again with the new version, once.
		if next := s.KeyID(); next != kid {
			return signJWTBatch(ctx, s, next, typ, claims)
		}
	}
	return tokens, errs, err
}

func signJWTBatch(ctx context.Context, s Signer, kid, typ string, claims []jwt.Claims) (tokens []string, errs []error, err error) {
	tokens = make([]string, len(claims))
	errs = make([]error, len(claims))
	inputs := make([]string, len(claims))
	var msgs [][]byte
	var idx []int
	var tok *jwt.Token
	for i, c := range claims {
		in, t, err := signingInput(kid, typ, c)
		if err != nil {
			errs[i] = fmt.Errorf("sign jwt: %w", err)
			continue
		}
		tok, inputs[i] = t, in
		msgs = append(msgs, []byte(in))
		idx = append(idx, i)
	}
	if len(msgs) == 0 {
		return tokens, errs, nil
	}
	var sigs [][]byte
	var sigErrs []error
	if b, ok := s.(BatchSigner); ok {
		sigs, sigErrs, err = b.SignBatch(ctx, kid, msgs)
		if err != nil {
			return nil, nil, fmt.Errorf("sign jwt batch: %w", err)
		}
		if len(sigs) != len(msgs) || len(sigErrs) != len(msgs) {
			return nil, nil, fmt.Errorf("sign jwt batch: signer returned %d results for %d messages", len(sigs), len(msgs))
		}
	} else {
		sigs, sigErrs = make([][]byte, len(msgs)), make([]error, len(msgs))
		for j, m := range msgs {
			sigs[j], sigErrs[j] = s.Sign(ctx, kid, m)
			if j == 0 && errors.Is(sigErrs[j], ErrRetired) {
				return nil, nil, fmt.Errorf("sign jwt batch: %w", sigErrs[j])
			}
		}
	}
	for j, i := range idx {
		switch {
		case sigErrs[j] != nil:
			errs[i] = fmt.Errorf("sign jwt: %w", sigErrs[j])
		case len(sigs[j]) != ed25519.SignatureSize:
			errs[i] = fmt.Errorf("sign jwt: signer returned %d bytes, want %d", len(sigs[j]), ed25519.SignatureSize)
		default:
			tokens[i] = inputs[i] + "." + tok.EncodeSegment(sigs[j])
		}
	}
	return tokens, errs, nil
}

func signingInput(kid, typ string, claims jwt.Claims) (string, *jwt.Token, error) {
	if kid == "" || typ == "" {
		return "", nil, fmt.Errorf("%w: empty kid or typ", ErrMalformedJWT)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = kid
	t.Header["typ"] = typ
	in, err := t.SigningString()
	if err != nil {
		return "", nil, err
	}
	return in, t, nil
}

// Header is the only JWS protected header OneVisit accepts.
type Header struct {
	Alg string // always "EdDSA" once ParseJWT accepts the token
	Kid string // "<key>#<version>"
	Typ string // the kind of token
}

// DecodeHeader decodes the protected header of a compact JWS strictly,
// without verifying anything: canonical base64url, strict JSON, members
// alg, kid and typ only (spelled exactly), each a string. Anything else
// (crit, jku, jwk, x5u, b64, ...) is ErrMalformedJWT, so no header member
// can steer key selection or processing. Use the result for routing and
// logs only; trust nothing in it before ParseJWT.
func DecodeHeader(token string) (Header, error) {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return Header{}, fmt.Errorf("%w: not a compact JWS", ErrMalformedJWT)
	}
	data, err := b64.DecodeString(seg)
	if err != nil {
		return Header{}, fmt.Errorf("%w: header is not base64url", ErrMalformedJWT)
	}
	var raw map[string]json.RawMessage
	if err := jsonstrict.Decode(data, &raw); err != nil {
		return Header{}, fmt.Errorf("%w: header: %w", ErrMalformedJWT, err)
	}
	var h Header
	for name, v := range raw {
		var dst *string
		switch name {
		case "alg":
			dst = &h.Alg
		case "kid":
			dst = &h.Kid
		case "typ":
			dst = &h.Typ
		default:
			return Header{}, fmt.Errorf("%w: header member %q not allowed", ErrMalformedJWT, name)
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return Header{}, fmt.Errorf("%w: header member %q is not a string", ErrMalformedJWT, name)
		}
	}
	return h, nil
}

// typMatches compares a header typ with the expected one. RFC 7515
// §4.1.9 makes typ a media type compared case-insensitively, with the
// "application/" prefix optional.
func typMatches(got, want string) bool {
	if len(got) > len("application/") && strings.EqualFold(got[:len("application/")], "application/") {
		got = got[len("application/"):]
	}
	return strings.EqualFold(got, want)
}

// ParseJWT verifies a compact JWS made by SignJWT (or any JOSE library
// following the same profile) and decodes its payload into claims. It:
//   - decodes the header strictly (see DecodeHeader) and requires alg
//     EdDSA (ErrAlgorithm) and typ equal to typ (ErrBadType);
//   - resolves kid through r only, with no network I/O, and requires a
//     key of Use use (ErrWrongUse) that is not revoked (ErrRevoked);
//   - decodes the claims once, strictly, and verifies the signature over
//     the signing input with jwt/v5's EdDSA method (jwt.SigningMethodEdDSA,
//     pinned) and strict base64url, given only the resolved
//     ed25519.PublicKey (see verifyCompact);
//   - validates time claims as opts ask (the caller adds
//     WithExpirationRequired, WithAudience, ...), through jwt/v5's
//     validator. The algorithm and strict base64url are fixed in code, so
//     no option can change them; options that only concern jwt.Parser
//     (padding, skipping claims validation) have no effect.
//
// It returns the resolved key, so the caller can check its Owner.
// Callers bound the token size before calling.
func ParseJWT(token string, r Resolver, use Use, typ string, claims jwt.Claims, opts ...jwt.ParserOption) (PublicKey, error) {
	h, err := DecodeHeader(token)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse jwt: %w", err)
	}
	if h.Alg != AlgEdDSA {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %q", ErrAlgorithm, h.Alg)
	}
	if !typMatches(h.Typ, typ) {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %q, want %q", ErrBadType, h.Typ, typ)
	}
	if h.Kid == "" {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: no kid", ErrMalformedJWT)
	}
	return verifyCompact(token, h, r, use, claims, opts)
}

// StringClaim decodes one claim that must be a JSON string; any other
// JSON type is refused rather than coerced.
func StringClaim(v json.RawMessage, dst *string) error {
	if len(v) == 0 || v[0] != '"' {
		return errors.New("not a string")
	}
	return jsonstrict.Decode(v, dst)
}

// DateClaim decodes a NumericDate (RFC 7519 §2): a non-negative JSON
// number of seconds below 1e11, fractions allowed; strings are refused.
func DateClaim(v json.RawMessage) (*jwt.NumericDate, error) {
	if len(v) == 0 || v[0] == '"' {
		return nil, errors.New("not a NumericDate")
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 || f > 1e11 {
		return nil, errors.New("not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}
