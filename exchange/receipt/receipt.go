// Package receipt is the exchange's signed answer to a query: a JWS (typ
// onevisit-receipt+jwt, EdDSA, signed with the exchange's receipt key)
// naming who asked, for which purpose and case, which record and which
// fields were released, the subject it answered about (as the digest of
// the record's subject disclosure, subject_sd), and the SHA-256 of the
// exact record string the answer carried. A procedure service keeps it as proof of what it was
// given; an officer can match it to the audit entry with the same
// request id (jti).
package receipt

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
)

// Type is the receipt's typ header.
const Type = "onevisit-receipt+jwt"

// Issuer is the iss of every receipt.
const Issuer = "onevisit"

// Claims is what a receipt signs. jti is the request id; sub the consumer.
type Claims struct {
	jwt.RegisteredClaims
	RecordID     string   `json:"record_id"`
	RecordIssuer string   `json:"record_iss"`
	Dataset      string   `json:"dataset"`
	Purpose      string   `json:"purpose"`
	CaseID       string   `json:"case_id,omitempty"`
	Fields       []string `json:"fields"`
	Policy       string   `json:"policy"`
	// RecordAcceptedAt is when the exchange accepted the record, in unix
	// milliseconds. A consumer verifies the record with the key directory
	// as of that moment (keys.AcceptedBefore), so a key revoked later
	// does not void records accepted before.
	RecordAcceptedAt int64 `json:"record_accepted_at"`
	// RecordSHA256 is base64url(sha256(record)) of the answer's record.
	RecordSHA256 string `json:"record_sha256"`
	// SubjectSD names the subject the answer is about by a commitment:
	// the digest (as in the record's _sd) of the record's subject
	// disclosure, which the answer always carries. The requester checks
	// that this disclosure holds exactly the identifier it asked about
	// (see "Subject binding" in exchange/record). Salted, so the receipt
	// reveals no identity number to whoever else holds it.
	SubjectSD string `json:"subject_sd,omitempty"`
}

// ErrMismatch: the receipt is genuine but does not describe the record it
// came with. Treat the answer as not received.
var ErrMismatch = errors.New("receipt does not match the record")

// Digest is the RecordSHA256 of a record string.
func Digest(record string) string {
	sum := sha256.Sum256([]byte(record))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Sign makes a receipt.
func Sign(ctx context.Context, s keys.Signer, c Claims) (string, error) {
	c.Issuer = Issuer
	tok, err := keys.SignJWT(ctx, s, Type, &c)
	if err != nil {
		return "", fmt.Errorf("sign receipt: %w", err)
	}
	return tok, nil
}

// Verify checks a receipt against the key directory and the record string
// it came with, and that it was issued to consumer.
func Verify(token string, r keys.Resolver, record, consumer string) (Claims, error) {
	var c Claims
	if err := parseExchangeJWT(token, r, Type, consumer, &c); err != nil {
		return Claims{}, fmt.Errorf("verify receipt: %w", err)
	}
	if c.RecordSHA256 != Digest(record) {
		return Claims{}, fmt.Errorf("verify receipt: %w", ErrMismatch)
	}
	return c, nil
}

// parseExchangeJWT verifies a JWS of typ the exchange issued to consumer
// with its receipt key into claims: EdDSA, iss Issuer, sub consumer, iat,
// and a receipt-use key the exchange owns.
func parseExchangeJWT(token string, r keys.Resolver, typ, consumer string, claims jwt.Claims) error {
	if consumer == "" {
		// jwt/v5 checks nothing for an empty expected subject.
		return fmt.Errorf("%w: no consumer given", keys.ErrInvalidClaims)
	}
	k, err := keys.ParseJWT(token, r, keys.UseReceipt, typ, claims, jwt.WithIssuer(Issuer), jwt.WithSubject(consumer), jwt.WithIssuedAt())
	if err != nil {
		return err
	}
	if k.Owner != keys.OwnerExchange {
		return fmt.Errorf("key %s belongs to %s: %w", k.KID, k.Owner, keys.ErrWrongUse)
	}
	return nil
}
