package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
)

// RequestType is the typ header of a live request.
const RequestType = "onevisit-live-request+jwt"

// Issuer is the iss of every live request.
const Issuer = "onevisit"

// MaxRequestSize bounds a request message a responder parses.
const MaxRequestSize = 4 << 10

// Request is one live query as the exchange signs it.
type Request struct {
	ID       string // jti, see NewRequestID
	Dataset  string
	Subject  string
	IssuedAt time.Time
	Expires  time.Time
}

type claims struct {
	jwt.RegisteredClaims
	Dataset string `json:"dataset"`
	Subject string `json:"subject"`
}

// ErrBadRequest: a request message is not a live request the exchange
// signed for this dataset, or its deadline has passed. The responder
// drops it.
var ErrBadRequest = errors.New("not a valid live request")

// NewRequestID returns a fresh request id: "lq-" and 32 hex digits from
// crypto/rand. It is a plain record id (exchange/ingest) and says
// nothing about the subject.
func NewRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return "lq-" + hex.EncodeToString(b)
}

// ValidRequestID reports whether id has the form NewRequestID makes.
func ValidRequestID(id string) bool {
	rest, ok := strings.CutPrefix(id, "lq-")
	if !ok || len(rest) != 32 {
		return false
	}
	for _, c := range rest {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// SignRequest signs r with the exchange's receipt signer.
func SignRequest(ctx context.Context, s keys.Signer, r Request) (string, error) {
	c := &claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, ID: r.ID,
			IssuedAt: jwt.NewNumericDate(r.IssuedAt), ExpiresAt: jwt.NewNumericDate(r.Expires),
		},
		Dataset: r.Dataset, Subject: r.Subject,
	}
	tok, err := keys.SignJWT(ctx, s, RequestType, c)
	if err != nil {
		return "", fmt.Errorf("sign live request: %w", err)
	}
	return tok, nil
}

// VerifyRequest checks a request message for a responder of dataset:
// see "Request" in the package doc. now is the responder's clock.
func VerifyRequest(token string, r keys.Resolver, dataset string, now time.Time) (Request, error) {
	if len(token) > MaxRequestSize {
		return Request{}, fmt.Errorf("verify live request: %d bytes: %w", len(token), ErrBadRequest)
	}
	var c claims
	k, err := keys.ParseJWT(token, r, keys.UseReceipt, RequestType, &c,
		jwt.WithIssuer(Issuer), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return Request{}, fmt.Errorf("verify live request: %w: %w", ErrBadRequest, err)
	}
	if k.Owner != keys.OwnerExchange {
		return Request{}, fmt.Errorf("verify live request: key %s belongs to %s: %w: %w", k.KID, k.Owner, ErrBadRequest, keys.ErrWrongUse)
	}
	if c.Dataset != dataset {
		return Request{}, fmt.Errorf("verify live request: for dataset %q, not %q: %w", c.Dataset, dataset, ErrBadRequest)
	}
	if !ValidRequestID(c.ID) || c.Subject == "" || c.IssuedAt == nil {
		return Request{}, fmt.Errorf("verify live request: no request id, subject or iat: %w", ErrBadRequest)
	}
	return Request{ID: c.ID, Dataset: c.Dataset, Subject: c.Subject, IssuedAt: c.IssuedAt.Time, Expires: c.ExpiresAt.Time}, nil
}
