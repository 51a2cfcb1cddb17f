// Package pseudonym turns a subject's identity number into the pseudonym
// the exchange uses everywhere it needs a stable key: Kafka message keys,
// the view, audit entries. A pseudonym is the hex HMAC-SHA256 of the
// identity number under a key that only the HMACer holds (a file in dev
// mode, Vault transit in production), so the topics can be partitioned
// and compacted per citizen without carrying identity numbers, and nobody
// without the key can reverse a pseudonym by trying every birth date.
//
// Pseudonyms are cached in memory (two generations of at most Capacity
// subjects each), so a subject seen recently costs no HMAC call, and
// while Vault is unreachable the exchange can still key the subjects it
// has seen. A subject it has not seen fails with the HMACer's error
// (keys.ErrUnavailable): the record waits, it is never keyed otherwise.
package pseudonym

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/onevisit/onevisit/exchange/keys"
)

// domain separates subject pseudonyms from any other use of the key.
const domain = "onevisit/subject/v1\x00"

// Capacity is the default number of subjects one cache generation holds.
const Capacity = 1 << 20

// Pseudonymizer is safe for concurrent use when its HMACer is.
type Pseudonymizer struct {
	h        keys.HMACer
	capacity int

	mu       sync.RWMutex
	cur, old map[string]string
}

// New returns a pseudonymizer over h with the default cache capacity.
func New(h keys.HMACer) *Pseudonymizer { return NewWithCapacity(h, Capacity) }

// NewWithCapacity returns a pseudonymizer whose cache generations hold at
// most n subjects each (n <= 0 disables the cache).
func NewWithCapacity(h keys.HMACer, n int) *Pseudonymizer {
	return &Pseudonymizer{h: h, capacity: n, cur: map[string]string{}, old: map[string]string{}}
}

// Of returns the pseudonym of subject.
func (p *Pseudonymizer) Of(ctx context.Context, subject string) (string, error) {
	if p.capacity > 0 {
		p.mu.RLock()
		v, ok := p.cur[subject]
		if !ok {
			v, ok = p.old[subject]
		}
		p.mu.RUnlock()
		if ok {
			return v, nil
		}
	}
	mac, err := p.h.HMAC(ctx, []byte(domain+subject))
	if err != nil {
		return "", fmt.Errorf("pseudonym: %w", err)
	}
	v := hex.EncodeToString(mac)
	if p.capacity > 0 {
		p.mu.Lock()
		if len(p.cur) >= p.capacity {
			p.old, p.cur = p.cur, make(map[string]string, p.capacity/4)
		}
		p.cur[subject] = v
		p.mu.Unlock()
	}
	return v, nil
}
