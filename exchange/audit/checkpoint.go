package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// CheckpointType is the JWS typ header of a signed tree head.
const CheckpointType = "onevisit-checkpoint+jwt"

// MaxCheckpointSize bounds a checkpoint token, in bytes.
const MaxCheckpointSize = 4 << 10

// Checkpoint is a tree head: the log named Origin had Size entries whose
// Merkle root was Root at Time.
type Checkpoint struct {
	Origin string    // names the log, e.g. "onevisit.zj.gov/audit"
	Size   uint64    // number of entries
	Root   []byte    // RFC 9162 root of the first Size entries (32 bytes)
	Time   time.Time // when the head was taken, UTC
}

// checkpointClaims is the JWS payload:
// {"origin":"…","size":n,"root":"<base64 std>","time":"<RFC 3339 UTC>"}.
type checkpointClaims struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"`
	Time   string `json:"time"`
}

var _ jwt.Claims = (*checkpointClaims)(nil)

// The registered claims are absent: a checkpoint does not expire, and its
// time is the "time" claim at nanosecond precision.
func (c *checkpointClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *checkpointClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *checkpointClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *checkpointClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *checkpointClaims) GetSubject() (string, error)                  { return "", nil }
func (c *checkpointClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// UnmarshalJSON decodes the payload strictly: no duplicate, case-variant
// or unknown members.
func (c *checkpointClaims) UnmarshalJSON(b []byte) error {
	type plain checkpointClaims
	var p plain
	if err := jsonstrict.Decode(b, &p); err != nil {
		return err
	}
	*c = checkpointClaims(p)
	return nil
}

func (c Checkpoint) validate() error {
	if c.Origin == "" {
		return fmt.Errorf("origin is empty")
	}
	if len(c.Root) != hashSize {
		return fmt.Errorf("root has %d bytes, want %d", len(c.Root), hashSize)
	}
	if c.Time.IsZero() {
		return fmt.Errorf("time is missing")
	}
	if y := c.Time.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("time year %d outside 1..9999", y)
	}
	return nil
}

// SignCheckpoint signs c as a compact JWS (EdDSA, typ CheckpointType,
// kid s.KeyID()) with keys.SignJWT. s must hold an audit key
// (keys.UseAudit): VerifyCheckpoint refuses any other.
func SignCheckpoint(ctx context.Context, s keys.Signer, c Checkpoint) (string, error) {
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("sign checkpoint: %w", err)
	}
	claims := &checkpointClaims{
		Origin: c.Origin,
		Size:   c.Size,
		Root:   base64.StdEncoding.EncodeToString(c.Root),
		Time:   c.Time.UTC().Format(time.RFC3339Nano),
	}
	tok, err := keys.SignJWT(ctx, s, CheckpointType, claims)
	if err != nil {
		return "", fmt.Errorf("sign checkpoint: %w", err)
	}
	return tok, nil
}

// VerifyCheckpoint checks a signed tree head with keys.ParseJWT: EdDSA
// only, typ CheckpointType, the kid resolved through r to a key of use
// keys.UseAudit that is not revoked, the signature, and a strict payload
// with a non-empty origin, a 32-byte root and an RFC 3339 UTC time. Every
// failure wraps ErrBadSignature, together with the keys sentinel that
// says why (keys.ErrUnknownKey, keys.ErrWrongUse, keys.ErrRevoked, ...)
// where there is one.
func VerifyCheckpoint(token string, r keys.Resolver) (Checkpoint, error) {
	if len(token) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: %d bytes, limit %d", ErrBadSignature, len(token), MaxCheckpointSize)
	}
	var claims checkpointClaims
	if _, err := keys.ParseJWT(token, r, keys.UseAudit, CheckpointType, &claims); err != nil {
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: %w", ErrBadSignature, err)
	}
	root, err := base64.StdEncoding.Strict().DecodeString(claims.Root)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: root is not base64", ErrBadSignature)
	}
	t, err := time.Parse(time.RFC3339Nano, claims.Time)
	if err != nil || !strings.HasSuffix(claims.Time, "Z") {
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: time %q is not RFC 3339 UTC", ErrBadSignature, claims.Time)
	}
	c := Checkpoint{Origin: claims.Origin, Size: claims.Size, Root: root, Time: t.UTC()}
	if err := c.validate(); err != nil {
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: %w", ErrBadSignature, err)
	}
	return c, nil
}
