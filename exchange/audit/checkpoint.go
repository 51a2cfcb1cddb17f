package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/onevisit/onevisit/exchange/keys"
)

// MaxCheckpointSize bounds a checkpoint (signed note), in bytes.
const MaxCheckpointSize = 4 << 10

// timePrefix starts the checkpoint's extension line that carries its time.
const timePrefix = "time "

// Checkpoint is a tree head: the log named Origin had Size entries whose
// Merkle root was Root at Time.
type Checkpoint struct {
	Origin string    // names the log, e.g. "onevisit/audit"
	Size   uint64    // number of entries
	Root   []byte    // RFC 9162 root of the first Size entries (32 bytes)
	Time   time.Time // when the head was taken, UTC
}

func (c Checkpoint) validate() error {
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n") || strings.TrimSpace(c.Origin) != c.Origin {
		return fmt.Errorf("origin %q is empty or not one trimmed line", c.Origin)
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

// text is the note body: the C2SP tlog-checkpoint lines (origin, decimal
// size, base64 root) and one extension line with the time.
func (c Checkpoint) text() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" +
		base64.StdEncoding.EncodeToString(c.Root) + "\n" +
		timePrefix + c.Time.UTC().Format(time.RFC3339Nano) + "\n"
}

// parseText reads a note body written by text, strictly.
func parseText(s string) (Checkpoint, error) {
	lines := strings.Split(s, "\n")
	if len(lines) != 5 || lines[4] != "" {
		return Checkpoint{}, fmt.Errorf("checkpoint body has %d lines, want 4", len(lines)-1)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("size %q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil {
		return Checkpoint{}, fmt.Errorf("root is not base64")
	}
	ts, ok := strings.CutPrefix(lines[3], timePrefix)
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !strings.HasSuffix(ts, "Z") || t.UTC().Format(time.RFC3339Nano) != ts {
		return Checkpoint{}, fmt.Errorf("time line %q is not \"time <RFC 3339 UTC>\"", lines[3])
	}
	c := Checkpoint{Origin: lines[0], Size: size, Root: root, Time: t.UTC()}
	if err := c.validate(); err != nil {
		return Checkpoint{}, err
	}
	return c, nil
}

// NoteVerifierKey returns the signed-note verifier key
// (golang.org/x/mod/sumdb/note) of an exchange audit key version:
// "<kid>+<8 hex digits of key hash>+<base64(0x01 || Ed25519 public key)>".
// note.NewVerifier(NoteVerifierKey(k)) checks the checkpoints k signed.
func NoteVerifierKey(k keys.PublicKey) (string, error) {
	if k.Use != keys.UseAudit {
		return "", fmt.Errorf("note verifier key: %w: %q has use %q", keys.ErrWrongUse, k.KID, k.Use)
	}
	vk, err := note.NewEd25519VerifierKey(k.KID, k.Key)
	if err != nil {
		return "", fmt.Errorf("note verifier key of %q: %w", k.KID, err)
	}
	return vk, nil
}

// noteSigner is a keys.Signer seen as a note.Signer: the note key name is
// the kid, the key hash that of NoteVerifierKey.
type noteSigner struct {
	ctx  context.Context
	s    keys.Signer
	kid  string
	hash uint32
}

func (n *noteSigner) Name() string    { return n.kid }
func (n *noteSigner) KeyHash() uint32 { return n.hash }
func (n *noteSigner) Sign(msg []byte) ([]byte, error) {
	return n.s.Sign(n.ctx, n.kid, msg)
}

func newNoteSigner(ctx context.Context, s keys.Signer, r keys.Resolver, kid string) (*noteSigner, error) {
	pk, err := r.PublicKey(kid)
	if err != nil {
		return nil, err
	}
	vk, err := NoteVerifierKey(pk)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		return nil, err
	}
	return &noteSigner{ctx: ctx, s: s, kid: kid, hash: v.KeyHash()}, nil
}

// SignCheckpoint signs c as a C2SP tlog-checkpoint signed note with the
// key version s.KeyID(), whose public key r resolves. s must hold an
// audit key (keys.UseAudit): VerifyCheckpoint refuses any other. A
// rotation between KeyID and the signature is retried once with the new
// version.
func SignCheckpoint(ctx context.Context, s keys.Signer, r keys.Resolver, c Checkpoint) (string, error) {
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("sign checkpoint: %w", err)
	}
	kid := s.KeyID()
	for try := 0; ; try++ {
		ns, err := newNoteSigner(ctx, s, r, kid)
		if err != nil {
			return "", fmt.Errorf("sign checkpoint: %w", err)
		}
		msg, err := note.Sign(&note.Note{Text: c.text()}, ns)
		if errors.Is(err, keys.ErrRetired) && try == 0 {
			if next := s.KeyID(); next != kid {
				kid = next
				continue
			}
		}
		if err != nil {
			return "", fmt.Errorf("sign checkpoint: %w", err)
		}
		return string(msg), nil
	}
}

// dirVerifiers resolves note signature names as kids through a
// keys.Resolver: audit keys only, not revoked. err keeps the reason the
// last signature was not checked.
type dirVerifiers struct {
	r   keys.Resolver
	err error
}

func (d *dirVerifiers) Verifier(name string, hash uint32) (note.Verifier, error) {
	v, err := d.verifier(name, hash)
	if err != nil {
		d.err = err
		return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
	}
	return v, nil
}

func (d *dirVerifiers) verifier(name string, hash uint32) (note.Verifier, error) {
	pk, err := d.r.PublicKey(name)
	if err != nil {
		return nil, err
	}
	if pk.Status == keys.Revoked {
		return nil, fmt.Errorf("%w: %q", keys.ErrRevoked, name)
	}
	vk, err := NoteVerifierKey(pk)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		return nil, err
	}
	if v.KeyHash() != hash {
		return nil, fmt.Errorf("%w: key hash %08x of %q is not that of its listed key", keys.ErrUnknownKey, hash, name)
	}
	return v, nil
}

// VerifyCheckpoint opens a signed checkpoint note (note.Open): at least
// one signature by a key version r lists with use keys.UseAudit that is
// not revoked (the note key name is the kid); other signatures (a
// witness's cosignature) are ignored. The body must be exactly the four
// lines SignCheckpoint writes: origin, decimal size without leading
// zeros, base64 32-byte root, "time <RFC 3339 UTC>". Every failure wraps
// ErrBadSignature, together with the keys sentinel that says why
// (keys.ErrUnknownKey, keys.ErrWrongUse, keys.ErrRevoked) where there is
// one.
func VerifyCheckpoint(msg string, r keys.Resolver) (Checkpoint, error) {
	if len(msg) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: %d bytes, limit %d", ErrBadSignature, len(msg), MaxCheckpointSize)
	}
	vs := &dirVerifiers{r: r}
	n, err := note.Open([]byte(msg), vs)
	if err != nil {
		if vs.err != nil {
			return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: %w", ErrBadSignature, vs.err)
		}
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: %v", ErrBadSignature, err)
	}
	c, err := parseText(n.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verify checkpoint: %w: %w", ErrBadSignature, err)
	}
	return c, nil
}
