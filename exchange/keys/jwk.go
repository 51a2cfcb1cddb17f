package keys

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// ErrBadJWK: the data is not a JWK or JWK set OneVisit accepts (an
// Ed25519 OKP key per RFC 8037, members spelled exactly, no unknown
// members, a private part only where one is expected). Fix the file or
// the published set; retrying the same bytes cannot succeed.
var ErrBadJWK = errors.New("invalid JWK")

// b64 is the unpadded base64url of JOSE, strict: trailing bits must be
// zero so one value has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// jwk is the JSON form of one key: an Ed25519 OKP key (RFC 8037) or, in
// the file store only, an oct key for HMAC, with the OneVisit directory
// members.
type jwk struct {
	Kty       string `json:"kty"`
	Crv       string `json:"crv,omitempty"`
	X         string `json:"x,omitempty"`
	D         string `json:"d,omitempty"`
	K         string `json:"k,omitempty"`
	Kid       string `json:"kid,omitempty"`
	Alg       string `json:"alg,omitempty"`
	Use       string `json:"use,omitempty"`
	Owner     string `json:"owner,omitempty"`
	KeyUse    string `json:"key_use,omitempty"`
	Status    string `json:"status,omitempty"`
	Created   string `json:"created,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

// jwkMembers lists the member names decodeJWK accepts, spelled exactly.
var jwkMembers = map[string]bool{
	"kty": true, "crv": true, "x": true, "d": true, "k": true, "kid": true,
	"alg": true, "use": true, "owner": true, "key_use": true, "status": true,
	"created": true, "revoked_at": true,
}

// decodeJWK decodes one JWK strictly: no duplicate or case-variant
// members, no member outside jwkMembers (matched exactly, not with
// encoding/json's case folding), every member a string.
func decodeJWK(data []byte) (jwk, error) {
	var raw map[string]json.RawMessage
	if err := jsonstrict.Decode(data, &raw); err != nil {
		return jwk{}, fmt.Errorf("%w: %w", ErrBadJWK, err)
	}
	if raw == nil {
		return jwk{}, fmt.Errorf("%w: not an object", ErrBadJWK)
	}
	for name := range raw {
		if !jwkMembers[name] {
			return jwk{}, fmt.Errorf("%w: unknown member %q", ErrBadJWK, name)
		}
	}
	var j jwk
	if err := json.Unmarshal(data, &j); err != nil {
		return jwk{}, fmt.Errorf("%w: %v", ErrBadJWK, err)
	}
	return j, nil
}

// publicFromJWK checks the OKP/Ed25519 members and returns x.
func publicFromJWK(j jwk) (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, fmt.Errorf("%w: kty %q crv %q, want OKP Ed25519", ErrBadJWK, j.Kty, j.Crv)
	}
	if j.Alg != "" && j.Alg != AlgEdDSA {
		return nil, fmt.Errorf("%w: alg %q", ErrBadJWK, j.Alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("%w: use %q", ErrBadJWK, j.Use)
	}
	x, err := b64.DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: x is not a 32-byte base64url value", ErrBadJWK)
	}
	return ed25519.PublicKey(x), nil
}

// privateFromJWK checks d against x and returns the private key.
func privateFromJWK(j jwk) (ed25519.PrivateKey, error) {
	pub, err := publicFromJWK(j)
	if err != nil {
		return nil, err
	}
	d, err := b64.DecodeString(j.D)
	if err != nil || len(d) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: d is not a 32-byte base64url value", ErrBadJWK)
	}
	k := ed25519.NewKeyFromSeed(d)
	if subtle.ConstantTimeCompare(k.Public().(ed25519.PublicKey), pub) != 1 {
		return nil, fmt.Errorf("%w: x does not match d", ErrBadJWK)
	}
	return k, nil
}

// MarshalPrivateJWK renders k as a private OKP JWK (RFC 8037: d is the
// 32-byte seed) with kid, alg EdDSA and use sig. The output is key
// material: write it with mode 0600 and never log it.
func MarshalPrivateJWK(kid string, k ed25519.PrivateKey) ([]byte, error) {
	if kid == "" {
		return nil, fmt.Errorf("marshal private jwk: %w: empty kid", ErrBadJWK)
	}
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("marshal private jwk: %w: private key has %d bytes", ErrBadJWK, len(k))
	}
	return json.Marshal(jwk{
		Kty: "OKP", Crv: "Ed25519", Kid: kid, Alg: AlgEdDSA, Use: "sig",
		X: b64.EncodeToString(k.Public().(ed25519.PublicKey)),
		D: b64.EncodeToString(k.Seed()),
	})
}

// ParsePrivateJWK parses a private Ed25519 JWK such as MarshalPrivateJWK
// or the file store writes. kid, x and d are required and x must be the
// public half of d. The OneVisit directory members (owner, key_use,
// status, created, revoked_at) are tolerated so a file-store version file
// can be handed to a connector; any other member is ErrBadJWK.
func ParsePrivateJWK(data []byte) (kid string, k ed25519.PrivateKey, err error) {
	j, err := decodeJWK(data)
	if err != nil {
		return "", nil, fmt.Errorf("parse private jwk: %w", err)
	}
	if j.Kid == "" {
		return "", nil, fmt.Errorf("parse private jwk: %w: no kid", ErrBadJWK)
	}
	if k, err = privateFromJWK(j); err != nil {
		return "", nil, fmt.Errorf("parse private jwk: %w", err)
	}
	return j.Kid, k, nil
}

// MarshalPublicJWK renders k as a public OKP JWK with kid, alg EdDSA and
// use sig.
func MarshalPublicJWK(kid string, k ed25519.PublicKey) ([]byte, error) {
	if kid == "" {
		return nil, fmt.Errorf("marshal public jwk: %w: empty kid", ErrBadJWK)
	}
	if len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("marshal public jwk: %w: public key has %d bytes", ErrBadJWK, len(k))
	}
	return json.Marshal(jwk{Kty: "OKP", Crv: "Ed25519", Kid: kid, Alg: AlgEdDSA, Use: "sig", X: b64.EncodeToString(k)})
}

// ParsePublicJWK parses a public Ed25519 JWK. A JWK carrying a private
// part (d) is refused: a public key file must not hold a secret.
func ParsePublicJWK(data []byte) (kid string, k ed25519.PublicKey, err error) {
	j, err := decodeJWK(data)
	if err != nil {
		return "", nil, fmt.Errorf("parse public jwk: %w", err)
	}
	if j.Kid == "" {
		return "", nil, fmt.Errorf("parse public jwk: %w: no kid", ErrBadJWK)
	}
	if j.D != "" || j.K != "" {
		return "", nil, fmt.Errorf("parse public jwk: %w: holds private key material", ErrBadJWK)
	}
	if k, err = publicFromJWK(j); err != nil {
		return "", nil, fmt.Errorf("parse public jwk: %w", err)
	}
	return j.Kid, k, nil
}
