package receipt_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/receipt"
)

// fixedKeys is a directory of keys made from fixed seeds, so the seed
// corpus verifies on every run: the exchange's receipt and token keys
// and a receipt-use key of another owner.
func fixedKeys(t testing.TB) (*keys.Directory, map[string]keys.Signer) {
	dir := keys.NewDirectory()
	signers := map[string]keys.Signer{}
	for i, k := range []struct {
		kid, owner string
		use        keys.Use
	}{
		{"exchange-receipt#1", keys.OwnerExchange, keys.UseReceipt},
		{"exchange-token#1", keys.OwnerExchange, keys.UseToken},
		{"tax-bureau-receipt#1", "tax-bureau", keys.UseReceipt},
	} {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(i + 1)
		priv := ed25519.NewKeyFromSeed(seed)
		if err := dir.Add(keys.PublicKey{KID: k.kid, Owner: k.owner, Use: k.use, Key: priv.Public().(ed25519.PublicKey), Status: keys.Active}); err != nil {
			t.Fatal(err)
		}
		signers[k.kid] = keys.NewLocalSigner(k.kid, priv)
	}
	return dir, signers
}

func receiptSeeds(t *testing.T) map[string]string {
	_, s := fixedKeys(t)
	sign := func(kid string, c receipt.Claims) string {
		tok, err := receipt.Sign(context.Background(), s[kid], c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	c := claims()
	c.IssuedAt = jwt.NewNumericDate(time.Unix(1767225600, 0))
	other := c
	other.Subject = "newborn-registration"
	good := sign("exchange-receipt#1", c)
	parts := strings.Split(good, ".")
	return map[string]string{
		"good":            good,
		"other-consumer":  sign("exchange-receipt#1", other),
		"token-key":       sign("exchange-token#1", c),
		"foreign-receipt": sign("tax-bureau-receipt#1", c),
		"alg-none":        noneToken(c),
		"no-signature":    parts[0] + "." + parts[1] + ".",
		"garbage":         "..",
	}
}

func TestFuzzSeedCorpus(t *testing.T) {
	testkit.SeedCorpus(t, "FuzzVerify", receiptSeeds(t))
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	// The good seed verifies: the corpus exercises the accepting path.
	b, err := os.ReadFile(filepath.Join(dir, "good"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(string(b), "go test fuzz v1\nstring("), ")\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := fixedKeys(t)
	if _, err := receipt.Verify(tok, d, theRec, consumer); err != nil {
		t.Errorf("the good seed does not verify: %v", err)
	}
}

// FuzzVerify: Verify never panics, fails only with a documented error,
// and accepts only a receipt to this consumer for this record.
func FuzzVerify(f *testing.F) {
	dir, _ := fixedKeys(f)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := receipt.Verify(token, dir, theRec, consumer)
		if err != nil {
			for _, want := range []error{receipt.ErrMismatch, keys.ErrMalformedJWT, keys.ErrAlgorithm, keys.ErrBadType,
				keys.ErrWrongUse, keys.ErrBadSignature, keys.ErrInvalidClaims, keys.ErrUnknownKey, keys.ErrRevoked} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("undocumented error: %v", err)
		}
		if c.Subject != consumer || c.Issuer != receipt.Issuer || c.RecordSHA256 != receipt.Digest(theRec) {
			t.Fatalf("accepted %+v", c)
		}
	})
}
