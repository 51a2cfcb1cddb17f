package exchange

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

// TestActiveSigner: the node never signs with a version its directory
// lists as retired or revoked, whatever the backend's signer says.
func TestActiveSigner(t *testing.T) {
	ctx := context.Background()
	_, priv1, _ := ed25519.GenerateKey(nil)
	_, priv2, _ := ed25519.GenerateKey(nil)
	dir := keys.NewDirectory()
	add := func(kid string, priv ed25519.PrivateKey, st keys.Status) {
		k := keys.PublicKey{KID: kid, Owner: keys.OwnerExchange, Use: keys.UseToken, Key: priv.Public().(ed25519.PublicKey), Status: st}
		if st == keys.Revoked {
			k.RevokedAt = time.Now()
		}
		if _, err := dir.Apply(k); err != nil {
			t.Fatal(err)
		}
	}
	add("exchange-token#1", priv1, keys.Active)
	s := activeOnly(keys.NewLocalSigner("exchange-token#1", priv1), dir)
	if _, err := s.Sign(ctx, "exchange-token#1", []byte("m")); err != nil {
		t.Fatalf("active version: %v", err)
	}
	add("exchange-token#1", priv1, keys.Retired)
	add("exchange-token#2", priv2, keys.Active)
	if _, err := s.Sign(ctx, "exchange-token#1", []byte("m")); !errors.Is(err, keys.ErrRetired) {
		t.Fatalf("retired version: %v, want ErrRetired", err)
	}
	if _, _, err := s.(keys.BatchSigner).SignBatch(ctx, "exchange-token#1", [][]byte{[]byte("m")}); !errors.Is(err, keys.ErrRetired) {
		t.Fatalf("retired version, batch: %v, want ErrRetired", err)
	}
	if got := s.KeyID(); got != "exchange-token#2" {
		t.Fatalf("KeyID with the backend behind the directory = %s, want exchange-token#2", got)
	}
	add("exchange-token#1", priv1, keys.Revoked)
	if _, err := s.Sign(ctx, "exchange-token#1", []byte("m")); !errors.Is(err, keys.ErrRevoked) {
		t.Fatalf("revoked version: %v, want ErrRevoked", err)
	}
}
