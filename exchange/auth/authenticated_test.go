package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

// TestVerifyRefusalsNameTheClient: a refusal of a token the exchange
// signed names its client (so the API can audit it), on the first
// verification and on a cache hit; a forged token names nobody.
func TestVerifyRefusalsNameTheClient(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		cached     bool // verify once before the change
		change     func(f *fixture)
		forge      bool
		wantClient string
		wantErr    error
	}{
		{"role changed, first verification", false, func(f *fixture) { f.clients.set(school, "officer") }, false, school, ErrInvalidToken},
		{"role changed, cache hit", true, func(f *fixture) { f.clients.set(school, "officer") }, false, school, ErrInvalidToken},
		{"forged signature", false, nil, true, "", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func() time.Time { return t0 })
			a, err := NewAssertion(ctx, keys.NewLocalSigner("school-auth#1", schoolAuth), school, tokenURL, t0)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.issuer.Token(ctx, form(a))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Client != school || resp.Role != "requester" {
				t.Fatalf("token response names %q %q, want %q requester", resp.Client, resp.Role, school)
			}
			tok := resp.AccessToken
			if tt.forge {
				tok = tok[:len(tok)-4] + "AAAA"
			}
			if tt.cached {
				if _, err := f.issuer.Verify(tok); err != nil {
					t.Fatal(err)
				}
			}
			if tt.change != nil {
				tt.change(f)
			}
			_, err = f.issuer.Verify(tok)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if client, ok := Authenticated(err); client != tt.wantClient || ok != (tt.wantClient != "") {
				t.Fatalf("Authenticated = %q %v, want %q", client, ok, tt.wantClient)
			}
		})
	}
}
