package receipt

import (
	"context"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
)

// CaseType is the typ header of a case receipt: the exchange's signature
// over a whole case bundle (POST /v1/cases). Its own typ, so an item's
// receipt never passes for a bundle's, nor the other way round.
const CaseType = "onevisit-case-receipt+jwt"

// CaseClaims is what a case receipt signs: the procedure, purpose and case
// id, every item released (by role, dataset and the digest of the item's
// own receipt) and every item not released (by role, dataset and reason),
// each list in the order of the procedure's evidence. The item receipts
// name the records; this one makes the bundle whole, so whoever relays it
// can neither drop an item nor turn a released one into a missing one.
// jti is the request id; sub the consumer.
type CaseClaims struct {
	jwt.RegisteredClaims
	Procedure string        `json:"procedure"`
	Purpose   string        `json:"purpose"`
	CaseID    string        `json:"case_id"`
	Items     []CaseItem    `json:"items"`
	Missing   []CaseMissing `json:"missing"`
}

// CaseItem names a released item of a case receipt.
type CaseItem struct {
	Role    string `json:"role"`
	Dataset string `json:"dataset"`
	// ReceiptSHA256 is Digest of the item's receipt.
	ReceiptSHA256 string `json:"receipt_sha256"`
}

// CaseMissing names an item of a case receipt that was not released.
type CaseMissing struct {
	Role    string `json:"role"`
	Dataset string `json:"dataset"`
	Reason  string `json:"reason"`
}

// SignCase makes a case receipt.
func SignCase(ctx context.Context, s keys.Signer, c CaseClaims) (string, error) {
	c.Issuer = Issuer
	if c.Items == nil {
		c.Items = []CaseItem{}
	}
	if c.Missing == nil {
		c.Missing = []CaseMissing{}
	}
	tok, err := keys.SignJWT(ctx, s, CaseType, &c)
	if err != nil {
		return "", fmt.Errorf("sign case receipt: %w", err)
	}
	return tok, nil
}

// VerifyCase checks a case receipt against the key directory and that it
// was issued to consumer by the exchange. Comparing what it lists with the
// bundle it came with is the caller's.
func VerifyCase(token string, r keys.Resolver, consumer string) (CaseClaims, error) {
	var c CaseClaims
	if err := parseExchangeJWT(token, r, CaseType, consumer, &c); err != nil {
		return CaseClaims{}, fmt.Errorf("verify case receipt: %w", err)
	}
	return c, nil
}
