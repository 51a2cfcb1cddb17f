package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// fuzzSeeds are valid and hostile tokens at t0 (jtis are random, so the
// written files are the reference).
func fuzzSeeds(t *testing.T) map[string]string {
	ctx := context.Background()
	f := newFixture(t, func() time.Time { return t0 })
	a, err := NewAssertion(ctx, keys.NewLocalSigner("school-auth#1", schoolAuth), school, tokenURL, t0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.issuer.Token(ctx, form(a))
	if err != nil {
		t.Fatal(err)
	}
	base := assertionClaimsAt(t0, "seed")
	return map[string]string{
		"assertion":       a,
		"access-token":    resp.AccessToken,
		"alg-none":        craft(hdr("none", "school-auth#1", "JWT"), claimsJSON(base), func([]byte) []byte { return nil }),
		"aud-array":       craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "aud", []string{"x", tokenURL})), ed(schoolAuth)),
		"record-key":      craft(hdr("EdDSA", "tax-record#1", "JWT"), claimsJSON(with(base, "iss", tax, "sub", tax)), ed(taxRecord)),
		"duplicate-claim": craft(hdr("EdDSA", "school-auth#1", "JWT"), strings.Replace(claimsJSON(base), `"iss":"school-enrol"`, `"iss":"school-enrol","Iss":"tax-bureau"`, 1), ed(schoolAuth)),
		"garbage":         "..",
	}
}

func TestFuzzSeedCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	for _, target := range []string{"FuzzToken", "FuzzVerify"} {
		testkit.SeedCorpus(t, target, seeds)
	}
}

// FuzzToken: the token endpoint never panics and fails only with
// ErrInvalidClient on any assertion, or grants a token that Verify
// accepts for the assertion's own client.
func FuzzToken(f *testing.F) {
	fx := newFixture(f, func() time.Time { return t0 })
	f.Fuzz(func(t *testing.T, assertion string) {
		resp, err := fx.issuer.Token(context.Background(), form(assertion))
		if err != nil {
			if !errors.Is(err, ErrInvalidClient) && !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		p, err := fx.issuer.Verify(resp.AccessToken)
		if err != nil {
			t.Fatalf("granted token rejected: %v", err)
		}
		if h, _ := keys.DecodeHeader(assertion); h.Kid != "" {
			if k, _ := fx.dir.PublicKey(h.Kid); k.Owner != p.ClientID {
				t.Fatalf("token for %q from a key of %q", p.ClientID, k.Owner)
			}
		}
	})
}

// FuzzVerify: Verify never panics, fails only with ErrInvalidToken, and
// accepts only tokens signed by the exchange's token key.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, func() time.Time { return t0 })
	f.Fuzz(func(t *testing.T, token string) {
		p, err := fx.issuer.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) || p != (Principal{}) {
				t.Fatalf("Verify = %+v, %v", p, err)
			}
			return
		}
		if h, _ := keys.DecodeHeader(token); h.Kid != "exchange-token#1" {
			t.Fatalf("accepted a token with kid %q", h.Kid)
		}
	})
}
