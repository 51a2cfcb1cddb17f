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
//     (schemas/jsonstrict, members spelled exactly), and
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
// revoked; Reload re-reads the folder (another process rotated or
// revoked). HMAC keys (kty "oct", 32 random bytes) live in the same
// layout and are never rotated, so pseudonyms stay stable.
//
// # Rotation retires
//
// A status only moves forward: active → retired → revoked
// (Directory.Apply refuses anything else with ErrStatusBackwards, and a
// revocation time never moves). A Signer's KeyID is its newest active
// version and Sign refuses every other version: ErrRetired for a retired
// one, ErrRevoked for a revoked one. A retired version still verifies
// what it signed (records, tokens, receipts, checkpoints) but never signs
// anything new. SignJWT and SignJWTBatch take KeyID again once when a
// rotation lands between KeyID and Sign. Both backends keep this promise
// (FileStore signers and exchange/keys/vault); an exchange node also
// refuses to sign with a version its own directory lists as retired or
// revoked.
//
// # Where keys come from
//
// The exchange's own keys (owner "exchange": token, receipt and audit
// keys, and the pseudonym HMAC) come only from the key backend (the file
// store or Vault), read at start and on every refresh. Nothing read from
// a topic or sent to the API can add, change or revoke one
// (ErrExchangeKey); revoking one is the break-glass procedure of
// deploy/README.md, through the key backend. Client keys (a publisher's
// record key, any client's auth key) come from the client registry file
// and from key directory events.
//
// # Key directory events
//
// The keys topic is untrusted: anyone holding a broker credential can
// produce to it. Every change of a client key is published there as one
// key event, a compact JWS of this package's profile (EdDSA, header
// exactly {"alg","kid","typ"}) with typ "onevisit-key-event+jwt", signed
// by the exchange's audit key through the key backend (SignEvent); the
// Kafka message key is the kid it changes. Its claims:
//
//	iss     "onevisit"
//	jti     128 random bits, hex
//	iat     NumericDate (seconds) when the exchange signed it
//	node    the node that published it
//	actor   client id of the officer who asked (authenticated at the API)
//	reason  the reason the officer gave
//	change  "key_registered" (a new version, or one a newer version
//	        retires) or "key_revoked" (status must be revoked)
//	jwks    a JWK set of exactly one key, as Directory.JWKS renders it:
//	        the new state of that version, with its key material
//
// ParseEvent applies every check of ParseJWT with a resolver that holds
// only exchange-owned keys, requires a key_use "audit" version that is not
// revoked, then checks the claims: every one present, and the key a
// client's (owner not "exchange", key_use record or auth, kid
// "<owner>-<name>#<version>" of ASCII letters, digits, '.', '_', '-':
// ValidKID). A node then applies the key with Directory.Apply, so an
// event can list a new version or move a listed one forward, never
// change its key material, owner or use (ErrKeyConflict) and never move
// it back (ErrStatusBackwards). An old, genuinely signed event produced
// again later therefore cannot undo a newer retirement or revocation.
// The topic is never compacted: compaction would let a produced message
// with the same key erase a revocation.
//
// An event that fails any check is skipped and counted in
// onevisit_keys_events_refused_total{reason} (see package exchange), and
// the node that reads it live writes an audit entry: kind "key_change",
// decision "deny", code "key_event_refused:<reason>", record_id
// "keys:<partition>:<offset>" (the event's own bytes are never copied
// into logs or the audit log; at most 60 such entries a minute per node,
// the rest only counted). The reasons: malformed (not a JWS of this
// profile, or bad claims), bad_signature, unknown_signer (a kid that is
// not an exchange audit key), revoked_signer, exchange_key, conflict,
// backwards, unknown_client (the owner is not in the client registry).
//
// A revoked audit key version verifies no event, not even one signed
// before its revocation (a thief could back-date iat): after the
// break-glass revocation of an audit key, officers register the client
// key versions listed since its compromise again.
package keys
