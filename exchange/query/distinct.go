package query

import (
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

const (
	// distinctWindow is the window in which a consumer's reads of one
	// subject count once (onevisit_query_distinct_subjects_total).
	distinctWindow = time.Hour
	// distinctCap bounds the subjects remembered per consumer and window;
	// past it every read counts as a new subject (the alert errs towards
	// firing, memory stays bounded: 8 bytes a subject).
	distinctCap = 1 << 16
)

// distinct counts, per consumer, the subjects it reads for the first time
// in the current window (onevisit_query_distinct_subjects_total): a
// scraping consumer reads many distinct subjects, a procedure service a
// few, each a few times. Only 8 bytes of each pseudonym are kept.
type distinct struct {
	mu     sync.Mutex
	window int64
	seen   map[string]map[uint64]struct{}
}

// first reports whether consumer reads subject (a pseudonym) for the
// first time in the window holding now.
func (d *distinct) first(consumer, subject string, now time.Time) bool {
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(subject[:min(16, len(subject))])); err != nil {
		return true
	}
	h := binary.BigEndian.Uint64(b[:])
	w := now.Unix() / int64(distinctWindow/time.Second)
	d.mu.Lock()
	defer d.mu.Unlock()
	if w != d.window || d.seen == nil {
		d.window, d.seen = w, map[string]map[uint64]struct{}{}
	}
	set := d.seen[consumer]
	if set == nil {
		set = map[uint64]struct{}{}
		d.seen[consumer] = set
	}
	if _, ok := set[h]; ok {
		return false
	}
	if len(set) < distinctCap {
		set[h] = struct{}{}
	}
	return true
}
