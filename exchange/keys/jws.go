package keys

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// verifyCompact is the part of ParseJWT after the header checks: it
// decodes the header once (h, by DecodeHeader) and the claims once, and
// uses jwt/v5 only for what it is trusted with, the pinned algorithm's
// signature check (jwt.SigningMethodEdDSA.Verify over the signing input)
// and the time-claim validator built from opts. jwt.Parser would decode
// the header and the claims a second time with encoding/json; for a
// record that was a third of its verification cost.
//
// The steps and their errors are jwt.Parser's, in its order: exactly
// three segments, the claims (base64url, then JSON), the signature
// (base64url), the key, the signature check, the claims' validation. So
// a token refused before keeps being refused with the same sentinel.
func verifyCompact(token string, h Header, r Resolver, use Use, claims jwt.Claims, opts []jwt.ParserOption) (PublicKey, error) {
	hdr, rest, _ := strings.Cut(token, ".")
	body, sigSeg, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sigSeg, ".") {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %w: token contains an invalid number of segments", ErrMalformedJWT, jwt.ErrTokenMalformed)
	}
	claimBytes, err := b64.DecodeString(body)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %w: could not base64 decode claim: %w", ErrMalformedJWT, jwt.ErrTokenMalformed, err)
	}
	// A claims type with its own UnmarshalJSON (every one in OneVisit:
	// strict decoders that check the whole input) is called directly,
	// sparing encoding/json's validity scan in front of it.
	if u, ok := claims.(json.Unmarshaler); ok {
		err = u.UnmarshalJSON(claimBytes)
	} else {
		err = json.Unmarshal(claimBytes, claims)
	}
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %w: could not JSON decode claim: %w", ErrMalformedJWT, jwt.ErrTokenMalformed, err)
	}
	sig, err := b64.DecodeString(sigSeg)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %w: could not base64 decode signature: %w", ErrMalformedJWT, jwt.ErrTokenMalformed, err)
	}
	pk, err := Resolve(r, h.Kid, use)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse jwt: %w", err)
	}
	// Only an ed25519.PublicKey reaches the pinned method, never bytes
	// usable as an HMAC secret.
	signingInput := token[:len(hdr)+1+len(body)]
	if err := jwt.SigningMethodEdDSA.Verify(signingInput, sig, pk.Key); err != nil {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %w: %w", ErrBadSignature, jwt.ErrTokenSignatureInvalid, err)
	}
	if err := jwt.NewValidator(opts...).Validate(claims); err != nil {
		return PublicKey{}, fmt.Errorf("parse jwt: %w: %w: %w", ErrInvalidClaims, jwt.ErrTokenInvalidClaims, err)
	}
	return pk, nil
}

// Resolve returns the key version kid names in r, if it may check
// material made for use: known (ErrUnknownKey), a key of that use
// (ErrWrongUse), not revoked (ErrRevoked; wrap r with AcceptedBefore to
// ask as of an earlier time) and an Ed25519 key. ParseJWT resolves every
// kid through it.
func Resolve(r Resolver, kid string, use Use) (PublicKey, error) {
	pk, err := r.PublicKey(kid)
	switch {
	case err != nil:
	case pk.Use != use:
		err = fmt.Errorf("%w: kid %q is a %s key, want %s", ErrWrongUse, kid, pk.Use, use)
	case pk.Status == Revoked:
		err = fmt.Errorf("%w: kid %q", ErrRevoked, kid)
	case len(pk.Key) != ed25519.PublicKeySize:
		err = fmt.Errorf("%w: kid %q has no Ed25519 key", ErrUnknownKey, kid)
	}
	if err != nil {
		return PublicKey{}, err
	}
	return pk, nil
}
