// Package keys holds the key contracts of OneVisit: the Signer that signs
// records, tokens, receipts and audit tree heads without handing out its
// private key, the HMACer behind subject pseudonyms, and the key directory
// that lists every public key version with its status.
//
// Two backends implement Signer: a file keystore (dev mode; keys are made
// at first start and kept under the data directory with mode 0600) and
// Vault's transit engine (production; keys never leave Vault).
//
// A kid is "<key>#<version>". Version numbers start at 1 and only grow.
//
// # What this package promises
//
// Every JWS in OneVisit is built by SignJWT (or SignJWTBatch) and checked
// by ParseJWT, so there is one JOSE profile:
//   - alg is EdDSA (Ed25519) and nothing else; the header is exactly
//     {"alg","kid","typ"} and typ names the kind of token (explicit
//     typing, RFC 8725 §3.11), so a token of one kind is never accepted as
//     another;
//   - the verification key comes only from a pinned Resolver (a
//     Directory, filled from the file store, Vault or a published JWKS):
//     no kid, jku, jwk or x5u ever causes network I/O or selects a key
//     outside the set; the Keyfunc handed to golang-jwt/jwt/v5 returns
//     only an ed25519.PublicKey, and the parser is pinned with
//     jwt.WithValidMethods([]string{"EdDSA"});
//   - a key carries a Use, and a key of one use never verifies material
//     of another (ErrWrongUse); a revoked version verifies nothing
//     (ErrRevoked) unless the caller asks, with AcceptedBefore, about
//     material the exchange accepted before the revocation;
//   - JSON in headers, JWKs and JWK sets is decoded strictly
//     (exchange/internal/jsonstrict, members spelled exactly), and
//     base64url must be canonical.
//
// # Keys as JWKs
//
// Ed25519 keys are OKP JWKs (RFC 8037): x is the public key, d the 32-byte
// seed. The key directory is published as a JWK set whose entries carry,
// beside the standard members, "owner" (client id, or "exchange"),
// "key_use" (record, auth, token, receipt, audit), "status" (active,
// retired, revoked), "created" and, for revoked versions, "revoked_at"
// (RFC 3339). ParseJWKS reads it back and refuses anything but Ed25519
// public keys.
//
// The FileStore keeps each version as <dir>/<name>/<version>.jwk (0600,
// folders 0700): the private JWK plus the directory members. Rotate makes
// a new active version and retires the old; Revoke marks a version
// revoked. HMAC keys (kty "oct", 32 random bytes) live in the same layout
// and are never rotated, so pseudonyms stay stable.
package keys
