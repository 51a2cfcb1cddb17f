// Package view is the exchange's materialised view: the latest accepted
// record of every subject of every dataset, held in memory and rebuilt
// from the compacted accepted topics when a node starts.
//
// Order does not depend on arrival: for one subject the record with the
// greater (iat, record id) wins, so nodes that read the accepted topics in
// different interleavings hold the same view. A delete record removes the
// subject but is remembered, so an older upsert that arrives later cannot
// bring it back.
//
// A record is held as its compact SD-JWT string; the JWT and each
// disclosure are substrings of it, so the memory a record costs is about
// its own length plus a small fixed overhead (onevisit bench measures it).
package view

import (
	"strings"
	"sync"

	"github.com/onevisit/onevisit/exchange/record"
)

// Entry is one accepted record as the view keeps it.
type Entry struct {
	Dataset    string
	ID         string // record id (jti)
	Issuer     string
	KID        string
	Schema     string
	IssuedAt   int64 // unix seconds, from the signed iat
	AcceptedAt int64 // unix milliseconds, when the exchange accepted it
	Deleted    bool
	JWT        string
	Disclosure []Disclosure
}

// Disclosure is one field's disclosure, kept exactly as the publisher
// encoded it so the consumer can check it against the signed digest.
type Disclosure struct {
	Name    string
	Encoded string
}

// Newer reports whether e should replace old: the greater (iat, record
// id) wins. Ingest uses the same rule to refuse stale records.
func (e *Entry) Newer(old *Entry) bool {
	if e.IssuedAt != old.IssuedAt {
		return e.IssuedAt > old.IssuedAt
	}
	return e.ID > old.ID
}

// Project returns the compact SD-JWT with only the named fields'
// disclosures, in the order the publisher gave them.
func (e *Entry) Project(allowed []string) string {
	var b strings.Builder
	b.Grow(len(e.JWT) + 64*len(allowed))
	b.WriteString(e.JWT)
	b.WriteByte('~')
	for _, d := range e.Disclosure {
		for _, a := range allowed {
			if a == d.Name {
				b.WriteString(d.Encoded)
				b.WriteByte('~')
				break
			}
		}
	}
	return b.String()
}

// Same reports whether raw is exactly the compact record e was built
// from (its JWT and every disclosure, in order), so a record the view
// already holds need not be verified again.
func (e *Entry) Same(raw string) bool {
	rest, ok := strings.CutPrefix(raw, e.JWT)
	for _, d := range e.Disclosure {
		if !ok {
			return false
		}
		if rest, ok = strings.CutPrefix(rest, "~"); ok {
			rest, ok = strings.CutPrefix(rest, d.Encoded)
		}
	}
	return ok && rest == "~"
}

// FromRecord builds an entry from a parsed record. Field names are
// interned so a million records share one copy of each name.
func FromRecord(r *record.Record, acceptedAtMillis int64) *Entry {
	e := &Entry{
		Dataset:    r.Dataset,
		ID:         r.ID,
		Issuer:     r.Issuer,
		KID:        r.KID,
		Schema:     r.Schema,
		IssuedAt:   r.IssuedAt.Unix(),
		AcceptedAt: acceptedAtMillis,
		Deleted:    r.Op == record.Delete,
		JWT:        r.JWT,
		Disclosure: make([]Disclosure, len(r.Disclosures)),
	}
	for i, d := range r.Disclosures {
		e.Disclosure[i] = Disclosure{Name: intern(d.Name), Encoded: d.Encoded}
	}
	return e
}

var names sync.Map

func intern(s string) string {
	if v, ok := names.Load(s); ok {
		return v.(string)
	}
	v, _ := names.LoadOrStore(strings.Clone(s), strings.Clone(s))
	return v.(string)
}

type key struct{ dataset, subject string }

// View is safe for concurrent use.
type View struct {
	mu      sync.RWMutex
	entries map[key]*Entry
	seen    *idSet
	live    int
}

// New returns an empty view that remembers up to maxIDs record ids for
// replay detection (older ids are still caught by the (iat, id) order).
func New(maxIDs int) *View {
	if maxIDs <= 0 {
		maxIDs = 1 << 20
	}
	return &View{entries: make(map[key]*Entry), seen: newIDSet(maxIDs)}
}

// Apply installs e for subject (a pseudonym) unless the view already has
// a newer record. It reports whether e replaced what was there.
func (v *View) Apply(subject string, e *Entry) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen.add(e.ID)
	k := key{e.Dataset, subject}
	old, ok := v.entries[k]
	if ok && !e.Newer(old) {
		return false
	}
	switch {
	case ok && !old.Deleted && e.Deleted:
		v.live--
	case (!ok || old.Deleted) && !e.Deleted:
		v.live++
	}
	v.entries[k] = e
	return true
}

// Get returns the live record of subject in dataset.
func (v *View) Get(dataset, subject string) (*Entry, bool) {
	v.mu.RLock()
	e, ok := v.entries[key{dataset, subject}]
	v.mu.RUnlock()
	if !ok || e.Deleted {
		return nil, false
	}
	return e, true
}

// Current returns what the view holds for subject, deleted or not, so the
// ingest pipeline can refuse records older than it.
func (v *View) Current(dataset, subject string) (*Entry, bool) {
	v.mu.RLock()
	e, ok := v.entries[key{dataset, subject}]
	v.mu.RUnlock()
	return e, ok
}

// Seen reports whether a record id was applied recently.
func (v *View) Seen(id string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.seen.has(id)
}

// Len is the number of live records.
func (v *View) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.live
}

// idSet is a bounded set: past its capacity the oldest id is forgotten.
type idSet struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newIDSet(n int) *idSet { return &idSet{ids: make(map[string]struct{}), ring: make([]string, n)} }

func (s *idSet) has(id string) bool { _, ok := s.ids[id]; return ok }

func (s *idSet) add(id string) {
	if s.has(id) {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.ids[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
