package audit

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hashSize is the size of every tree hash (SHA-256).
const hashSize = 32

var (
	hasher  = rfc6962.DefaultHasher
	factory = compact.RangeFactory{Hash: hasher.HashChildren}
)

// LeafHash returns the RFC 6962 leaf hash of one entry's bytes:
// SHA-256(0x00 || entry).
func LeafHash(entry []byte) []byte { return hasher.HashLeaf(entry) }

// EmptyRoot is the root of the empty log: SHA-256 of nothing.
func EmptyRoot() []byte { return hasher.EmptyRoot() }

// Log is the in-memory audit log: the entries in append order and the
// Merkle tree over them. It keeps every node of every complete (perfect)
// subtree, so the root at any earlier size and every proof cost
// O(log n) hash reads. Append is for one writer; every other method may
// run concurrently with it and with each other.
type Log struct {
	mu      sync.RWMutex
	entries [][]byte
	levels  [][][hashSize]byte // levels[l][i]: node (l, i); levels[0] are leaf hashes
	rng     *compact.Range     // the compact range [0, size)
	subject map[string][]uint64
	disk    *logDisk // set by UseDisk: entries, hashes and index on disk (logdisk.go)
}

// NewLog returns an empty log.
func NewLog() *Log {
	return &Log{rng: factory.NewEmptyRange(0), subject: make(map[string][]uint64)}
}

// Append adds one entry's bytes at the end of the log and returns its
// index. The bytes are copied. Bytes that are not a valid canonical Entry
// are still appended (the log mirrors its topic exactly) but BySubject
// never lists them. Append does not parse the entry (a rebuild from the
// topic costs one hash per entry); it finds the subject member by its
// canonical spelling, and BySubject parses strictly.
func (l *Log) Append(entry []byte) uint64 {
	raw := bytes.Clone(entry)
	if raw == nil {
		raw = []byte{}
	}
	leaf := hasher.HashLeaf(raw)
	subj := subjectOf(raw)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disk != nil {
		return l.appendDisk(raw, leaf, subj)
	}
	idx := l.n()
	// Append reports the leaf and every perfect subtree it completes, each
	// level in increasing index order, so each lands at the end of its
	// level. The error is impossible: the hash has the hasher's size.
	_ = l.rng.Append(leaf, func(id compact.NodeID, h []byte) {
		for uint(len(l.levels)) <= id.Level {
			l.levels = append(l.levels, nil)
		}
		l.levels[id.Level] = append(l.levels[id.Level], [hashSize]byte(h))
	})
	l.entries = append(l.entries, raw)
	if subj != "" {
		l.subject[subj] = append(l.subject[subj], idx)
	}
	return idx
}

// Size returns the number of entries.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.n()
}

// Root returns the tree head of the first size entries. Root(0) is
// EmptyRoot(). Sizes beyond Size() are ErrOutOfRange.
func (l *Log) Root(size uint64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.rootLocked(size)
}

func (l *Log) rootLocked(size uint64) ([]byte, error) {
	if size > l.n() {
		return nil, fmt.Errorf("root: %w: size %d, log has %d", ErrOutOfRange, size, l.n())
	}
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	if size == l.n() {
		// The compact range in memory is the whole log: the head the node
		// signs (Checkpoint) reads nothing from a store on disk, which
		// holds only copies.
		return l.rng.GetRootHash(nil)
	}
	ids := compact.RangeNodes(0, size, nil)
	hs, err := l.hashes(ids)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	r, err := factory.NewRange(0, size, hs)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	return r.GetRootHash(nil)
}

// hashes reads stored node hashes; every id must be a complete subtree
// inside the log.
func (l *Log) hashes(ids []compact.NodeID) ([][]byte, error) {
	if l.disk != nil {
		return l.disk.hashes(ids)
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h := l.levels[id.Level][id.Index]
		out[i] = h[:]
	}
	return out, nil
}

// Checkpoint returns the unsigned tree head of the whole log now, for
// SignCheckpoint. Size and root are read together.
func (l *Log) Checkpoint(origin string, now time.Time) Checkpoint {
	l.mu.RLock()
	defer l.mu.RUnlock()
	root, _ := l.rootLocked(l.n()) // cannot fail at the current size: the compact range's
	return Checkpoint{Origin: origin, Size: l.n(), Root: root, Time: now.UTC()}
}

// InclusionProof returns the RFC 9162 inclusion proof of entry index in
// the tree of the first size entries. It needs index < size <= Size().
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if index >= size || size > l.n() {
		return nil, fmt.Errorf("inclusion proof: %w: index %d, size %d, log has %d", ErrOutOfRange, index, size, l.n())
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	hs, err := l.hashes(nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return nodes.Rehash(hs, hasher.HashChildren)
}

// ConsistencyProof returns the RFC 9162 consistency proof between the
// trees of the first size1 and size2 entries. It needs
// size1 <= size2 <= Size(); the proof is empty when size1 is 0 or equal
// to size2.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if size1 > size2 || size2 > l.n() {
		return nil, fmt.Errorf("consistency proof: %w: sizes %d, %d, log has %d", ErrOutOfRange, size1, size2, l.n())
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	hs, err := l.hashes(nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	p, err := nodes.Rehash(hs, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	if p == nil {
		p = [][]byte{}
	}
	return p, nil
}

// Entries returns copies of the entries with indices in [from, to).
func (l *Log) Entries(from, to uint64) ([][]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if from > to || to > l.n() {
		return nil, fmt.Errorf("entries: %w: [%d, %d), log has %d", ErrOutOfRange, from, to, l.n())
	}
	if l.disk != nil {
		return l.disk.entries(from, to)
	}
	out := make([][]byte, 0, to-from)
	for _, e := range l.entries[from:to] {
		out = append(out, bytes.Clone(e))
	}
	return out, nil
}

// LeafHashes returns copies of the leaf hashes (LeafHash of each entry,
// computed when it was appended) with indices in [from, to).
func (l *Log) LeafHashes(from, to uint64) ([][]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if from > to || to > l.n() {
		return nil, fmt.Errorf("leaf hashes: %w: [%d, %d), log has %d", ErrOutOfRange, from, to, l.n())
	}
	if l.disk != nil {
		return l.disk.leafHashes(from, to)
	}
	out := make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		h := l.levels[0][i]
		out = append(out, h[:])
	}
	return out, nil
}

// BySubject lists, in log order, every entry about the subject with this
// pseudonym: who looked at the citizen's data, when and why. Each result
// carries its index and raw bytes, for InclusionProof.
func (l *Log) BySubject(pseudonym string) []IndexedEntry {
	l.mu.RLock()
	var idx []uint64
	var raws [][]byte
	if l.disk != nil {
		idx, raws = l.disk.bySubject(pseudonym)
	} else {
		idx = l.subject[pseudonym]
		raws = make([][]byte, len(idx))
		for i, j := range idx {
			raws[i] = l.entries[j]
		}
	}
	l.mu.RUnlock()

	out := make([]IndexedEntry, 0, len(idx))
	for i, raw := range raws {
		e, err := ParseEntry(raw)
		if err != nil || e.Subject != pseudonym {
			continue // not a canonical entry about this subject
		}
		out = append(out, IndexedEntry{Index: idx[i], Raw: bytes.Clone(raw), Entry: e})
	}
	return out
}

var subjectMember = []byte(`,"subject":"`)

// subjectOf returns the subject pseudonym of a canonical entry, found by
// the member's canonical spelling, or "". In valid JSON every quote inside
// a string is escaped, so an unescaped `,"subject":"` is always a member
// name; BySubject confirms with a strict parse.
func subjectOf(raw []byte) string {
	i := bytes.Index(raw, subjectMember)
	if i < 0 {
		return ""
	}
	rest := raw[i+len(subjectMember):]
	if len(rest) < 65 || rest[64] != '"' || !isPseudonym(string(rest[:64])) {
		return ""
	}
	return string(rest[:64])
}
