// Package pseudonym turns a subject's identity number into the pseudonym
// the exchange uses everywhere it needs a stable key: Kafka message keys,
// the view, audit entries. A pseudonym is the hex HMAC-SHA256 of the
// identity number under a key that only the HMACer holds (a file in dev
// mode, Vault transit in production), so the topics can be partitioned
// and compacted per citizen without carrying identity numbers, and nobody
// without the key can reverse a pseudonym by trying every birth date.
package pseudonym

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/onevisit/onevisit/exchange/keys"
)

// domain separates subject pseudonyms from any other use of the key.
const domain = "onevisit/subject/v1\x00"

// Pseudonymizer is safe for concurrent use when its HMACer is.
type Pseudonymizer struct{ h keys.HMACer }

// New returns a pseudonymizer over h.
func New(h keys.HMACer) *Pseudonymizer { return &Pseudonymizer{h: h} }

// Of returns the pseudonym of subject.
func (p *Pseudonymizer) Of(ctx context.Context, subject string) (string, error) {
	mac, err := p.h.HMAC(ctx, []byte(domain+subject))
	if err != nil {
		return "", fmt.Errorf("pseudonym: %w", err)
	}
	return hex.EncodeToString(mac), nil
}
