package live_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/live"
	"github.com/onevisit/onevisit/exchange/receipt"
)

func TestVerifyRequest(t *testing.T) {
	ctx := context.Background()
	dir := keys.NewDirectory()
	add := func(kid, owner string, use keys.Use, st keys.Status) keys.Signer {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k := keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: st}
		if st == keys.Revoked {
			k.RevokedAt = time.Unix(1, 0)
		}
		if err := dir.Add(k); err != nil {
			t.Fatal(err)
		}
		return keys.NewLocalSigner(kid, priv)
	}
	exchangeKey := add("exchange-receipt#1", keys.OwnerExchange, keys.UseReceipt, keys.Active)
	revoked := add("exchange-receipt#0", keys.OwnerExchange, keys.UseReceipt, keys.Revoked)
	token := add("exchange-token#1", keys.OwnerExchange, keys.UseToken, keys.Active)
	foreign := add("tax-bureau-receipt#1", "tax-bureau", keys.UseReceipt, keys.Active)
	record := add("tax-bureau-record#1", "tax-bureau", keys.UseRecord, keys.Active)

	now := time.Unix(1767225600, 0)
	req := live.Request{ID: live.NewRequestID(), Dataset: "tax_certificate", Subject: "330106198503120415", IssuedAt: now, Expires: now.Add(5 * time.Second)}
	sign := func(s keys.Signer, r live.Request) string {
		tok, err := live.SignRequest(ctx, s, r)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(exchangeKey, req)
	withID := req
	withID.ID = "330106198503120415"
	aReceipt, err := receipt.Sign(ctx, exchangeKey, receipt.Claims{RecordID: req.ID, Dataset: req.Dataset})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		token   string
		dataset string
		at      time.Time
		wantErr error
	}{
		{"the exchange's request", good, "tax_certificate", now.Add(time.Second), nil},
		{"for another dataset", good, "household", now.Add(time.Second), live.ErrBadRequest},
		{"past its deadline", good, "tax_certificate", now.Add(6 * time.Second), keys.ErrInvalidClaims},
		{"signed with a revoked exchange key", sign(revoked, req), "tax_certificate", now, keys.ErrRevoked},
		{"signed with the token key", sign(token, req), "tax_certificate", now, keys.ErrWrongUse},
		{"signed with a receipt key someone else owns", sign(foreign, req), "tax_certificate", now, keys.ErrWrongUse},
		{"signed with a department's record key", sign(record, req), "tax_certificate", now, keys.ErrWrongUse},
		{"a receipt passed off as a request", aReceipt, "tax_certificate", now, keys.ErrBadType},
		{"tampered payload", good[:len(good)/2] + "A" + good[len(good)/2+1:], "tax_certificate", now, live.ErrBadRequest},
		{"request id not of the exchange's form", sign(exchangeKey, withID), "tax_certificate", now, live.ErrBadRequest},
		{"oversized", good + string(make([]byte, live.MaxRequestSize)), "tax_certificate", now, live.ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := live.VerifyRequest(tc.token, dir, tc.dataset, tc.at)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && got != req {
				t.Errorf("request = %+v, want %+v", got, req)
			}
			if tc.wantErr != nil && !errors.Is(err, live.ErrBadRequest) {
				t.Errorf("err %v does not wrap ErrBadRequest", err)
			}
		})
	}
}
