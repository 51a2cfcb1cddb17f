package audit_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
)

func newSealer(t *testing.T, dir string) *audit.Sealer {
	t.Helper()
	h, err := keys.OpenFileStore(dir).HMACer("pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSealer(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSealer: a MAC made by one node checks on another node with the same
// key backend key, and on nothing else: another key, altered bytes, a
// missing, truncated or re-encoded MAC.
func TestSealer(t *testing.T) {
	dir := t.TempDir()
	node1, node2 := newSealer(t, dir), newSealer(t, dir)
	other := newSealer(t, t.TempDir())
	entry := audit.Entry{Time: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC), Kind: audit.KindQuery, Actor: "school-enrolment", Decision: audit.DecisionPermit}.MarshalCanonical()
	mac := node1.Seal(entry)
	altered := append([]byte{}, entry...)
	altered[len(altered)-3] ^= 1
	tests := []struct {
		name    string
		s       *audit.Sealer
		entry   []byte
		mac     []byte
		wantErr error
	}{
		{"same node", node1, entry, mac, nil},
		{"another node, same backend key", node2, entry, mac, nil},
		{"another backend key", other, entry, mac, audit.ErrNotAuthentic},
		{"altered entry", node2, altered, mac, audit.ErrNotAuthentic},
		{"no MAC", node2, entry, nil, audit.ErrNotAuthentic},
		{"truncated MAC", node2, entry, mac[:len(mac)-1], audit.ErrNotAuthentic},
		{"padded MAC", node2, entry, append(append([]byte{}, mac...), '='), audit.ErrNotAuthentic},
		{"MAC of another entry", node2, entry, node1.Seal(altered), audit.ErrNotAuthentic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Check(tt.entry, tt.mac); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Check = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestSealerKeyIsNotAPseudonym: the MAC key is derived under its own
// domain, so it differs from the pseudonym of any subject, and the MAC of
// an entry is not the HMAC of its bytes under the backend key.
func TestSealerKeyIsNotAPseudonym(t *testing.T) {
	dir := t.TempDir()
	h, err := keys.OpenFileStore(dir).HMACer("pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	s := newSealer(t, dir)
	entry := []byte(`{"time":"2026-11-28T08:00:00Z","kind":"query"}`)
	raw, err := h.HMAC(context.Background(), entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(entry, []byte(base64.RawURLEncoding.EncodeToString(raw))); !errors.Is(err, audit.ErrNotAuthentic) {
		t.Errorf("the backend's plain HMAC of the entry checks as its MAC: %v", err)
	}
}

// BenchmarkSeal: the cost the MAC adds to every audit write (a typical
// query entry is about 420 bytes).
func BenchmarkSeal(b *testing.B) {
	h, err := keys.OpenFileStore(b.TempDir()).HMACer("pseudonym")
	if err != nil {
		b.Fatal(err)
	}
	s, err := audit.NewSealer(context.Background(), h)
	if err != nil {
		b.Fatal(err)
	}
	entry := make([]byte, 420)
	b.SetBytes(int64(len(entry)))
	for b.Loop() {
		s.Seal(entry)
	}
}
