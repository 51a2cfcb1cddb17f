// Package view is the exchange's materialised view: the latest accepted
// record of every subject of every dataset, rebuilt from the compacted
// accepted topics. New keeps it in memory (tests, and a node without
// view.dir), rebuilt in full when a node starts; Open keeps it on disk in
// a Pebble database (see disk.go for the layout), with each accepted
// partition's checkpoint written in the same batch as the entries read
// from it, so a restarted node resumes at its checkpoints (Resume)
// instead of rebuilding, and its heap does not grow with the records.
//
// Entries on disk were verified before the node wrote them; on re-read
// they are trusted only as far as their MAC goes. Each is sealed with
// HMAC-SHA256 under a key the node derives from its key backend, over the
// entry and the dataset and subject it is stored under, and checked on
// every read: a changed, truncated or moved entry is not served (Get and
// Current report nothing, Corrupt counts it) and the next accepted
// record for the subject replaces it. Re-verifying the publisher's
// signature on every read would cost an Ed25519 verification per query;
// the MAC costs two SHA-256 passes over the entry. Checkpoints are MACed
// too: one that does not verify is not resumed at (the partition is read
// from the start), so nobody with only the disk can make a node skip
// records.
//
// Order: for one subject the record with the greater iat wins; of two
// with the same iat (two updates in the same second), the one later in
// the accepted topic's log wins — never the greater record id, which a
// publisher picks and which says nothing about which update came last.
// Every record of a subject goes to one partition (keyed by the subject),
// so its log order is one order that every node reads alike. An entry
// read from the log carries its position (Pos); this node's own write,
// applied as soon as it is acknowledged, has none yet: it is later in the
// log than everything the node has read so far, and earlier than
// whatever the node reads before its own copy comes back. Apply uses
// exactly that, so nodes that interleave their own writes and the log
// differently still end with the same view. A delete record removes the
// subject but is remembered, so an older upsert that arrives later cannot
// bring it back.
//
// Duplicates are detected per (issuer, dataset, record id): one
// department's record id says nothing about another's.
//
// A record is held as its compact SD-JWT string; the JWT and each
// disclosure are substrings of it, so the memory a record costs is about
// its own length plus a small fixed overhead (onevisit bench measures it).
package view

import (
	"fmt"
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
	// Pos is 1 + the record's offset in its accepted-topic partition when
	// it was read from the log; 0 for this node's own write not read back
	// yet.
	Pos        int64
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

// Key is the scope in which a record id identifies one record.
type Key struct{ Issuer, Dataset, ID string }

// Key returns e's record key.
func (e *Entry) Key() Key { return Key{e.Issuer, e.Dataset, e.ID} }

// At returns a copy of e that sits at offset in its accepted partition.
func (e *Entry) At(offset int64) *Entry {
	c := *e
	c.Pos = offset + 1
	return &c
}

// Older reports whether e must be refused as stale while held is the
// subject's record: it was issued in an earlier second. A record issued
// in the same second as held is not stale: it is written after held, so
// it is later in the log and wins. Ingest uses this rule.
func (e *Entry) Older(held *Entry) bool { return e.IssuedAt < held.IssuedAt }

// replaces reports whether e should replace old; applied says whether
// this node applied e's record before (see the package doc).
func (e *Entry) replaces(old *Entry, applied bool) bool {
	if e.IssuedAt != old.IssuedAt {
		return e.IssuedAt > old.IssuedAt
	}
	if e.Key() == old.Key() {
		// The same record: learn its place in the log.
		return old.Pos == 0 && e.Pos > 0
	}
	switch {
	case e.Pos > 0 && old.Pos > 0:
		return e.Pos > old.Pos
	case e.Pos > 0:
		// old is this node's own write, not read back yet: it is later.
		return false
	default:
		// e is this node's own write, just acknowledged: later than all
		// the node has read, unless the log has delivered it already.
		return !applied
	}
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
	disk    *disk // set by Open: entries on disk, not in entries
}

// New returns an empty view that remembers up to maxIDs record ids for
// replay detection (older ids are still caught by the (iat, id) order).
func New(maxIDs int) *View {
	if maxIDs <= 0 {
		maxIDs = 1 << 20
	}
	return &View{entries: make(map[key]*Entry), seen: newIDSet(maxIDs)}
}

// Apply installs e, this node's own write, for subject (a pseudonym)
// unless the view already has a newer record. It reports whether e
// replaced what was there. On disk, a store that cannot be read or written
// leaves the view as it was and reports false; the tail that reads the
// record back applies it then (ApplyBatch, which reports the error).
func (v *View) Apply(subject string, e *Entry) bool {
	replaced := []bool{false}
	_ = v.applyItems([]Item{{Subject: subject, Entry: e}}, replaced)
	return replaced[0]
}

// Item is one step for ApplyBatch: Entry (if not nil) to install for
// Subject, then, for Topic not "", the checkpoint of Partition of Topic
// moved to Next (the log read up to Next, exclusive). An entry read from
// the log has Next == Entry.Pos; an item without Entry is a message that
// did not change the view (refused, or held already); this node's own
// write has no Topic.
type Item struct {
	Subject   string
	Entry     *Entry
	Topic     string
	Partition int
	Next      int64
}

// ApplyBatch applies items in order, as if one by one, under one lock
// and, on disk, in one write: either every entry and checkpoint of the
// batch is in the store, or (error) none is, and the caller applies them
// again before its tail goes past them. An error comes only from a store
// on disk that could not be read or written. In memory it cannot fail,
// and checkpoints mean nothing.
func (v *View) ApplyBatch(items []Item) error { return v.applyItems(items, nil) }

func (v *View) applyItems(items []Item, replaced []bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.disk != nil {
		return v.applyDisk(items, replaced)
	}
	for i, it := range items {
		if it.Entry != nil {
			r := v.applyLocked(it.Subject, it.Entry)
			if replaced != nil {
				replaced[i] = r
			}
		}
	}
	return nil
}

func (v *View) applyLocked(subject string, e *Entry) bool {
	id := e.Key().flat()
	applied := v.seen.has(id)
	v.seen.add(id)
	k := key{e.Dataset, subject}
	old, ok := v.entries[k]
	if ok && !e.replaces(old, applied) {
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
	if v.disk != nil {
		e, err := v.diskEntry(dataset, subject)
		if err != nil || e == nil || e.Deleted {
			return nil, false
		}
		return e, true
	}
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
	if v.disk != nil {
		e, err := v.diskEntry(dataset, subject)
		return e, err == nil && e != nil
	}
	v.mu.RLock()
	e, ok := v.entries[key{dataset, subject}]
	v.mu.RUnlock()
	return e, ok
}

// Seen reports whether the record issuer published in dataset with
// record id id was applied recently.
func (v *View) Seen(issuer, dataset, id string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.disk != nil {
		// A store that cannot be read says not seen: the record goes on,
		// and the view's (iat, id) order still refuses a replay of an
		// older one when it is applied.
		ok, _ := v.disk.has(seenKey(Key{issuer, dataset, id}.flat()))
		return ok
	}
	return v.seen.has(Key{issuer, dataset, id}.flat())
}

// Query asks Lookup about one record: whether its record id was applied
// (Seen) and what the view holds for its subject (Current).
type Query struct {
	Key     Key
	Subject string
}

// Held is Lookup's answer to one Query: Seen and Current's answers.
type Held struct {
	Seen    bool
	Current *Entry // nil when the view holds nothing for the subject
}

// Lookup answers each query as Seen and Current would, in one pass: on
// disk the keys are read in key order through one iterator, as
// ApplyBatch reads them. Unlike Seen and Current, it reports a store that
// cannot be read as an error: the ingest pipeline orders a batch by these
// answers, and "nothing held" would let a stale record through.
func (v *View) Lookup(qs []Query) ([]Held, error) {
	out := make([]Held, len(qs))
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.disk == nil {
		for i, q := range qs {
			out[i].Seen = v.seen.has(q.Key.flat())
			out[i].Current = v.entries[key{q.Key.Dataset, q.Subject}]
		}
		return out, nil
	}
	if v.disk.closed {
		return nil, errClosed
	}
	h := newHeldKeys(2 * len(qs))
	slots := make([][2]*heldKey, len(qs))
	for i, q := range qs {
		slots[i] = h.want(q.Key, q.Subject)
	}
	if err := v.disk.read(h); err != nil {
		return nil, fmt.Errorf("view: read store: %w", err)
	}
	for i, s := range slots {
		out[i] = Held{Seen: s[0].present, Current: s[1].entry}
	}
	return out, nil
}

// Len is the number of live records.
func (v *View) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.live
}

// idSet is a bounded set: past its capacity the oldest id is forgotten.
// It holds each Key as one string (see flat), so its ring costs a string
// header per slot, as when it held bare record ids.
type idSet struct {
	ids  map[string]struct{}
	ring []string
	next int
}

// flat joins a Key with NUL, which no issuer, dataset or record id holds.
func (k Key) flat() string { return k.Issuer + "\x00" + k.Dataset + "\x00" + k.ID }

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
