package keys

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/onevisit/onevisit/exchange/wire"
)

// Signer signs with one named Ed25519 key whose private half it never
// hands out. A file keystore and Vault's transit engine implement it.
type Signer interface {
	// KeyID is the kid, "<key>#<version>", of the version Sign uses now:
	// the newest active version. It goes into a JWS header before the
	// signing input is built.
	KeyID() string
	// Sign returns the raw 64-byte Ed25519 signature of msg made with the
	// key version named by kid. It fails with ErrUnknownKey for a kid this
	// signer does not hold, ErrRevoked for a revoked version and
	// ErrRetired for any version but the newest active one.
	Sign(ctx context.Context, kid string, msg []byte) ([]byte, error)
}

// BatchSigner is an optional capability of a Signer that signs many
// messages in one round trip. Results are in input order; errs[i] is the
// error of item i alone, so one bad item never sinks the batch. A non-nil
// err means the whole call failed and no item was signed.
type BatchSigner interface {
	SignBatch(ctx context.Context, kid string, msgs [][]byte) (sigs [][]byte, errs []error, err error)
}

// HMACer computes a keyed HMAC-SHA256, used for subject pseudonyms. The
// key stays with the implementation (a file or Vault transit).
type HMACer interface {
	HMAC(ctx context.Context, msg []byte) ([]byte, error)
}

// Status is the lifecycle state of one key version.
type Status string

const (
	// Active versions sign new material and verify.
	Active Status = "active"
	// Retired versions no longer sign but still verify.
	Retired Status = "retired"
	// Revoked versions verify only material accepted before RevokedAt.
	Revoked Status = "revoked"
)

// Use says what a key signs, so a key made for one purpose is never
// accepted for another (RFC 8725 §3.12).
type Use string

const (
	UseRecord  Use = "record"  // a publisher's record signatures
	UseAuth    Use = "auth"    // a client's assertions at the token endpoint
	UseToken   Use = "token"   // the exchange's access tokens
	UseReceipt Use = "receipt" // the exchange's query receipts
	UseAudit   Use = "audit"   // the exchange's signed audit tree heads
)

// PublicKey is one version of a key as the key directory lists it.
type PublicKey struct {
	KID       string            // "<key>#<version>"
	Owner     string            // client id of the holder, or "exchange"
	Use       Use               // what the key may verify
	Key       ed25519.PublicKey // the raw public key
	Status    Status            // active, retired or revoked
	Created   time.Time         // when the version was made
	RevokedAt time.Time         // zero unless Status is Revoked
}

// Resolver looks up a public key version by kid. Lookups are map reads of
// a pinned key set: nothing named in a token (kid, jku, x5u) ever causes
// I/O.
type Resolver interface {
	PublicKey(kid string) (PublicKey, error)
}

var (
	// ErrUnknownKey: the kid names no key version this resolver or signer
	// holds. Callers reject the material; it is not retryable.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrRevoked: the key version was revoked. Material signed with it and
	// accepted after the revocation time must be rejected.
	ErrRevoked = wire.WithCode("key_revoked", errors.New("key version revoked"))
	// ErrUnavailable: the key backend (Vault) cannot be reached or is
	// sealed. Callers retry with backoff; they never fall back to unsigned.
	ErrUnavailable = wire.WithCode("keys_unavailable", errors.New("key backend unavailable"))
	// ErrRetired: a signer was asked to sign with a version that is no
	// longer its newest active one. Retired versions verify, never sign:
	// take KeyID again and sign with the version it names (SignJWT and
	// SignJWTBatch do this once by themselves).
	ErrRetired = errors.New("key version retired: it verifies but no longer signs")
)
