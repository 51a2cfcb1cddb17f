package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

// edSigner is a real Ed25519 signer held in memory: it signs. The file
// keystore and Vault transit implement the same keys.Signer contract.
type edSigner struct {
	kid  string
	priv ed25519.PrivateKey
}

var _ keys.Signer = edSigner{}

func (s edSigner) KeyID() string { return s.kid }

func (s edSigner) Sign(_ context.Context, kid string, msg []byte) ([]byte, error) {
	if kid != s.kid {
		return nil, fmt.Errorf("sign: %w: %q", keys.ErrUnknownKey, kid)
	}
	return ed25519.Sign(s.priv, msg), nil
}

// directory is a pinned key set, as the exchange's key directory is.
type directory map[string]keys.PublicKey

var _ keys.Resolver = directory{}

func (d directory) PublicKey(kid string) (keys.PublicKey, error) {
	pk, ok := d[kid]
	if !ok {
		return keys.PublicKey{}, fmt.Errorf("resolve %q: %w", kid, keys.ErrUnknownKey)
	}
	return pk, nil
}

// newKey makes a deterministic key from name, so tokens in the fuzz seed
// corpus keep verifying.
func newKey(name string, use keys.Use, status keys.Status) (edSigner, keys.PublicKey) {
	seed := sha256.Sum256([]byte("onevisit audit test key " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	kid := name + "#1"
	return edSigner{kid: kid, priv: priv}, keys.PublicKey{
		KID: kid, Owner: keys.OwnerExchange, Use: use, Key: priv.Public().(ed25519.PublicKey),
		Status: status, Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

// testKeys returns the audit signer and a directory holding it plus keys
// that must be refused: a record key, a revoked audit key.
func testKeys() (audit edSigner, record edSigner, revoked edSigner, dir directory) {
	audit, apk := newKey("audit", keys.UseAudit, keys.Active)
	record, rpk := newKey("record", keys.UseRecord, keys.Active)
	revoked, vpk := newKey("audit-old", keys.UseAudit, keys.Revoked)
	vpk.RevokedAt = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	return audit, record, revoked, directory{apk.KID: apk, rpk.KID: rpk, vpk.KID: vpk}
}

// pseudonym makes a subject pseudonym the way the exchange does: a keyed
// HMAC, here a plain hash of a test label (never an identity number).
func pseudonym(label string) string {
	h := sha256.Sum256([]byte(label))
	return fmt.Sprintf("%x", h)
}

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// sampleEntry returns a realistic query entry number i.
func sampleEntry(i int) Entry {
	return Entry{
		Time:          t0.Add(time.Duration(i) * time.Second),
		Kind:          KindQuery,
		Actor:         "school-enrolment",
		Role:          "procedure-service",
		Dataset:       "household",
		Purpose:       "enrolment",
		CaseID:        fmt.Sprintf("case-%d", i),
		Subject:       pseudonym(fmt.Sprintf("citizen-%d", i%5)),
		RecordID:      fmt.Sprintf("rec-%d", i),
		Fields:        []string{"name", "address"},
		Decision:      DecisionPermit,
		Code:          "ok",
		Policy:        "enrolment-household",
		PolicyVersion: "3",
		RequestID:     fmt.Sprintf("req-%d", i),
		Node:          "node-a",
	}
}

func sampleEntries(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = sampleEntry(i).MarshalCanonical()
	}
	return out
}
