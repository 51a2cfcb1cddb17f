package receipt_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/receipt"
)

func caseClaims() receipt.CaseClaims {
	return receipt.CaseClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			ID:       "req-0002",
			Subject:  "newborn-registration",
			IssuedAt: jwt.NewNumericDate(time.Unix(1767225600, 0)),
		},
		Procedure: "newborn_registration",
		Purpose:   "newborn_registration",
		CaseID:    "NB-2026-0001",
		Items: []receipt.CaseItem{
			{Role: "child", Dataset: "birth", ReceiptSHA256: receipt.Digest("item-1")},
			{Role: "father", Dataset: "household", ReceiptSHA256: receipt.Digest("item-2")},
		},
		Missing: []receipt.CaseMissing{{Role: "mother", Dataset: "household", Reason: "no_subject"}},
	}
}

// TestCaseSignVerifyRoundTrip: a case receipt verifies to exactly the
// claims signed, with the exchange's iss and its own typ.
func TestCaseSignVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	tok, err := receipt.SignCase(context.Background(), f.receipt, caseClaims())
	if err != nil {
		t.Fatal(err)
	}
	h, err := keys.DecodeHeader(tok)
	if err != nil {
		t.Fatal(err)
	}
	if h.Alg != "EdDSA" || h.Typ != receipt.CaseType {
		t.Errorf("header = %+v; want EdDSA and typ %s", h, receipt.CaseType)
	}
	got, err := receipt.VerifyCase(tok, f.dir, "newborn-registration")
	if err != nil {
		t.Fatalf("VerifyCase: %v", err)
	}
	want := caseClaims()
	want.Issuer = receipt.Issuer
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %+v\nwant %+v", got, want)
	}
}

// TestCaseVerifyRefuses: an item's receipt is not a case receipt and a
// case receipt is not an item's (typ); another consumer, a key that is
// not the exchange's receipt key, and a key not in the directory are
// refused.
func TestCaseVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	signCase := func(s keys.Signer) string {
		tok, err := receipt.SignCase(ctx, s, caseClaims())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	item, err := receipt.Sign(ctx, f.receipt, claims())
	if err != nil {
		t.Fatal(err)
	}
	good := signCase(f.receipt)
	tests := []struct {
		name  string
		check func() error
		want  error
	}{
		{"an item receipt as a case receipt", func() error { _, err := receipt.VerifyCase(item, f.dir, consumer); return err }, keys.ErrBadType},
		{"a case receipt as an item receipt", func() error { _, err := receipt.Verify(good, f.dir, theRec, "newborn-registration"); return err }, keys.ErrBadType},
		{"another consumer", func() error { _, err := receipt.VerifyCase(good, f.dir, consumer); return err }, keys.ErrInvalidClaims},
		{"no consumer", func() error { _, err := receipt.VerifyCase(good, f.dir, ""); return err }, keys.ErrInvalidClaims},
		{"the token key", func() error {
			_, err := receipt.VerifyCase(signCase(f.token), f.dir, "newborn-registration")
			return err
		}, keys.ErrWrongUse},
		{"a department's receipt-use key", func() error {
			_, err := receipt.VerifyCase(signCase(f.foreignReceipt), f.dir, "newborn-registration")
			return err
		}, keys.ErrWrongUse},
		{"a key not in the directory", func() error {
			_, err := receipt.VerifyCase(signCase(f.unlisted), f.dir, "newborn-registration")
			return err
		}, keys.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
		})
	}
}
