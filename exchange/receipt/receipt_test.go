package receipt_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/receipt"
)

const (
	consumer = "school-enrolment"
	theRec   = "eyJhbGciOiJFZERTQSJ9.e30.c2ln~WyJzYWx0IiwibmFtZSIsIngiXQ~"
)

// fixture is a key directory with the exchange's receipt key and the
// keys a forger might try instead, each with its signer.
type fixture struct {
	dir                                               *keys.Directory
	receipt, token, foreignReceipt, revoked, unlisted keys.Signer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: keys.NewDirectory()}
	add := func(kid, owner string, use keys.Use, st keys.Status) keys.Signer {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k := keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: st}
		if st == keys.Revoked {
			k.RevokedAt = time.Unix(1, 0)
		}
		if err := f.dir.Add(k); err != nil {
			t.Fatal(err)
		}
		return keys.NewLocalSigner(kid, priv)
	}
	f.receipt = add("exchange-receipt#2", keys.OwnerExchange, keys.UseReceipt, keys.Active)
	f.revoked = add("exchange-receipt#1", keys.OwnerExchange, keys.UseReceipt, keys.Revoked)
	f.token = add("exchange-token#1", keys.OwnerExchange, keys.UseToken, keys.Active)
	// A receipt-use key listed for someone else than the exchange.
	f.foreignReceipt = add("tax-bureau-receipt#1", "tax-bureau", keys.UseReceipt, keys.Active)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	f.unlisted = keys.NewLocalSigner("exchange-receipt#9", priv)
	return f
}

func claims() receipt.Claims {
	return receipt.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			ID:       "req-0001",
			Subject:  consumer,
			IssuedAt: jwt.NewNumericDate(time.Unix(1767225600, 0)),
		},
		RecordID:         "rec-42",
		RecordIssuer:     "public-security",
		Dataset:          "household",
		Purpose:          "school_enrolment",
		CaseID:           "SE-2026-0001",
		Fields:           []string{"address", "name"},
		Policy:           "school-enrolment-household",
		RecordAcceptedAt: 1767225500123,
		RecordSHA256:     receipt.Digest(theRec),
	}
}

func TestDigest(t *testing.T) {
	// FIPS 180-2 test vector for "abc".
	if got, want := receipt.Digest("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"; got != want {
		t.Errorf("Digest(abc) = %s, want %s", got, want)
	}
	sum := sha256.Sum256([]byte(theRec))
	if got, want := receipt.Digest(theRec), base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("Digest = %s, want %s", got, want)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := claims()
	c.Issuer = "someone-else" // Sign always writes its own iss
	tok, err := receipt.Sign(context.Background(), f.receipt, c)
	if err != nil {
		t.Fatal(err)
	}
	h, err := keys.DecodeHeader(tok)
	if err != nil {
		t.Fatal(err)
	}
	if h.Alg != "EdDSA" || h.Typ != receipt.Type || h.Kid != "exchange-receipt#2" {
		t.Errorf("header = %+v", h)
	}
	got, err := receipt.Verify(tok, f.dir, theRec, consumer)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := claims()
	want.Issuer = receipt.Issuer
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %+v\nwant %+v", got, want)
	}
	// A key revoked after the receipt was made still verifies it when
	// checked as of then.
	if _, err := receipt.Verify(tok, keys.AcceptedBefore(f.dir, time.Unix(0, 0)), theRec, consumer); err != nil {
		t.Errorf("Verify through AcceptedBefore: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustSign := func(s keys.Signer, c receipt.Claims) string {
		tok, err := receipt.Sign(ctx, s, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := mustSign(f.receipt, claims())
	// raw signs claims exactly as given (iss included) with any typ.
	raw := func(typ string, c receipt.Claims) string {
		tok, err := keys.SignJWT(ctx, f.receipt, typ, &c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withIss := func(iss string) receipt.Claims { c := claims(); c.Issuer = iss; return c }
	parts := strings.Split(good, ".")
	otherClaims := claims()
	otherClaims.Fields = []string{"address", "name", "ethnicity"}
	otherPayload := strings.Split(mustSign(f.receipt, otherClaims), ".")[1]
	future, expired := claims(), claims()
	future.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	expired.ExpiresAt = jwt.NewNumericDate(time.Unix(1767225601, 0))

	tests := []struct {
		name     string
		token    string
		record   string
		consumer string
		wantErr  error
	}{
		{"another record string", good, theRec + "x", consumer, receipt.ErrMismatch},
		{"the record with a disclosure dropped", good, strings.TrimSuffix(theRec, "WyJzYWx0IiwibmFtZSIsIngiXQ~"), consumer, receipt.ErrMismatch},
		{"empty record", good, "", consumer, receipt.ErrMismatch},
		{"another consumer", good, theRec, "newborn-registration", keys.ErrInvalidClaims},
		{"a receipt key not owned by the exchange", mustSign(f.foreignReceipt, claims()), theRec, consumer, keys.ErrWrongUse},
		{"the exchange's token key", mustSign(f.token, claims()), theRec, consumer, keys.ErrWrongUse},
		{"a revoked receipt key", mustSign(f.revoked, claims()), theRec, consumer, keys.ErrRevoked},
		{"a kid not in the directory", mustSign(f.unlisted, claims()), theRec, consumer, keys.ErrUnknownKey},
		{"payload swapped for another receipt's", parts[0] + "." + otherPayload + "." + parts[2], theRec, consumer, keys.ErrBadSignature},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(mustSign(f.receipt, otherClaims), ".")[2], theRec, consumer, keys.ErrBadSignature},
		{"record typ", raw("onevisit+sd-jwt", withIss(receipt.Issuer)), theRec, consumer, keys.ErrBadType},
		{"access token typ", raw("at+jwt", withIss(receipt.Issuer)), theRec, consumer, keys.ErrBadType},
		{"another issuer", raw(receipt.Type, withIss("evil")), theRec, consumer, keys.ErrInvalidClaims},
		{"issued in the future", mustSign(f.receipt, future), theRec, consumer, keys.ErrInvalidClaims},
		{"expired", mustSign(f.receipt, expired), theRec, consumer, keys.ErrInvalidClaims},
		{"alg none", noneToken(claims()), theRec, consumer, keys.ErrAlgorithm},
		{"not a JWS", "not-a-token", theRec, consumer, keys.ErrMalformedJWT},
		// The doc promises the receipt "was issued to consumer"; an empty
		// consumer must not switch the subject check off.
		{"empty consumer", good, theRec, "", keys.ErrInvalidClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := receipt.Verify(tt.token, f.dir, tt.record, tt.consumer)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(c, receipt.Claims{}) {
				t.Errorf("Verify returned claims %+v with its error", c)
			}
			if !strings.HasPrefix(err.Error(), "verify receipt: ") {
				t.Errorf("error %q does not start with the operation", err)
			}
		})
	}
}

// noneToken is an unsigned JWT with alg none and the receipt typ.
func noneToken(c receipt.Claims) string {
	c.Issuer = receipt.Issuer
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, &c)
	tok.Header["typ"] = receipt.Type
	tok.Header["kid"] = "exchange-receipt#2"
	s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}
