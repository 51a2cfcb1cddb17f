package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/onevisit/onevisit/exchange/keys"
)

// MACHeader is the name of the Kafka message header that carries an
// entry's MAC on the audit topic (see "Who wrote an entry" in the package
// doc). The entry bytes themselves, the leaf, do not change.
const MACHeader = "onevisit-audit-mac"

// Domain-separation prefixes: the MAC key is derived from the exchange's
// HMAC key under keyDomain, which no subject pseudonym input can start
// with, and entries are MACed under entryDomain.
const (
	keyDomain   = "onevisit/audit-mac-key/v1\x00"
	entryDomain = "onevisit/audit-entry/v1\x00"
)

// ErrNotAuthentic: a message on the audit topic carries no MAC, or one
// that does not match its bytes under the exchange's key: no exchange node
// wrote it. The reader skips it (it never becomes a leaf), counts it and
// raises an alert: someone with a broker credential is writing to the
// audit topic.
var ErrNotAuthentic = errors.New("audit entry not written by an exchange node")

// Sealer makes and checks the MACs of audit entries. It is safe for
// concurrent use.
type Sealer struct {
	key []byte
}

// NewSealer derives the MAC key from h, the exchange's HMAC key in the
// key backend (one call; the backend's key never leaves it). Every node
// with the same backend key derives the same MAC key, so a node checks the
// entries the others wrote.
func NewSealer(ctx context.Context, h keys.HMACer) (*Sealer, error) {
	k, err := h.HMAC(ctx, []byte(keyDomain))
	if err != nil {
		return nil, fmt.Errorf("audit: derive MAC key: %w", err)
	}
	if len(k) < 32 {
		return nil, fmt.Errorf("audit: derive MAC key: %d-byte HMAC, want 32", len(k))
	}
	return &Sealer{key: k}, nil
}

// Seal returns the MAC of entry, the value of its MACHeader: base64url
// (no padding) of HMAC-SHA256(key, "onevisit/audit-entry/v1\x00" ||
// entry).
func (s *Sealer) Seal(entry []byte) []byte {
	sum := s.mac(entry)
	out := make([]byte, base64.RawURLEncoding.EncodedLen(len(sum)))
	base64.RawURLEncoding.Encode(out, sum)
	return out
}

// Check reports whether mac is the MAC of entry (ErrNotAuthentic if not),
// in constant time.
func (s *Sealer) Check(entry, mac []byte) error {
	got, err := base64.RawURLEncoding.Strict().DecodeString(string(mac))
	if err != nil || !hmac.Equal(got, s.mac(entry)) {
		return ErrNotAuthentic
	}
	return nil
}

func (s *Sealer) mac(entry []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(entryDomain))
	m.Write(entry)
	return m.Sum(nil)
}
