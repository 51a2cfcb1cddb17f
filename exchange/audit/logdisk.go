package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble"
	"github.com/transparency-dev/merkle/compact"
)

// A Log on disk (UseDisk) keeps in memory only its size and the compact
// range of the tree (O(log n) hashes); everything else is in one Pebble
// database:
//
//	"e" index             -> the entry's bytes
//	"h" level index       -> the hash of tree node (level, index), every
//	                         node of every complete subtree, as in memory
//	"s" pseudonym index   -> "" (the by-subject index)
//
// with index a big-endian uint64 and level one byte. Proofs and roots of
// earlier sizes read O(log n) hashes; BySubject scans one key prefix. The
// head of the whole log, the one the node signs, comes from the compact
// range in memory, never from the store.
//
// The folder holds this run's copy only: UseDisk empties it, and the node
// rebuilds the log from the audit topic at start as it does in memory
// (one hash per entry, no signature), so nothing on disk outlives the
// process that wrote it and no entry is ever trusted from an earlier run.
type logDisk struct {
	db    *pebble.DB
	cache interface{ Unref() }
	size  uint64
}

// UseDisk moves l, an empty log made by NewLog, to a Pebble database in
// dir, emptied first.
func (l *Log) UseDisk(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("audit: empty log dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: log dir: %w", err)
	}
	c := pebble.NewCache(8 << 20)
	// No write-ahead log: the folder is emptied at every start, so a log
	// that could replay this run's writes after a crash would never be
	// read, and each Append would write its entry twice.
	db, err := pebble.Open(dir, &pebble.Options{Cache: c, Logger: quiet{}, MemTableSize: 8 << 20, DisableWAL: true})
	if err != nil {
		c.Unref()
		return fmt.Errorf("audit: open log store: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disk != nil || len(l.entries) > 0 {
		db.Close()
		c.Unref()
		return errors.New("audit: UseDisk on a log in use")
	}
	l.disk = &logDisk{db: db, cache: c}
	l.levels, l.subject = nil, nil
	return nil
}

// Close closes a log on disk; a log in memory has nothing to close.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disk == nil || l.disk.db == nil {
		return nil
	}
	err := l.disk.db.Close()
	l.disk.cache.Unref()
	l.disk.db = nil
	return err
}

// DiskBytes is the space a log on disk takes (0 in memory).
func (l *Log) DiskBytes() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.disk == nil || l.disk.db == nil {
		return 0
	}
	m := l.disk.db.Metrics()
	return m.DiskSpaceUsage()
}

type quiet struct{}

func (quiet) Infof(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "audit log store: "+format+"\n", args...)
	os.Exit(2)
}

// n is the number of entries; l.mu held.
func (l *Log) n() uint64 {
	if l.disk != nil {
		return l.disk.size
	}
	return uint64(len(l.entries))
}

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func entryKey(i uint64) []byte { return u64([]byte{'e'}, i) }

func hashKey(level uint, i uint64) []byte { return u64([]byte{'h', byte(level)}, i) }

// appendDisk is Append on disk; l.mu held.
func (l *Log) appendDisk(raw, leaf []byte, subj string) uint64 {
	d := l.disk
	idx := d.size
	if d.db == nil {
		return idx // stopped: nothing more is appended
	}
	b := d.db.NewBatch()
	defer b.Close()
	_ = l.rng.Append(leaf, func(id compact.NodeID, h []byte) {
		_ = b.Set(hashKey(id.Level, id.Index), h, nil)
	})
	_ = b.Set(entryKey(idx), raw, nil)
	if subj != "" {
		_ = b.Set(u64([]byte("s"+subj), idx), nil, nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		// The compact range has moved on: the log cannot go on
		// consistently without this entry.
		panic(fmt.Sprintf("audit: log store write failed: %v", err))
	}
	d.size++
	return idx
}

// errClosed: the node stopped and closed its log store.
var errClosed = errors.New("audit: log store closed")

func (d *logDisk) get(k []byte) ([]byte, error) {
	if d.db == nil {
		return nil, errClosed
	}
	v, c, err := d.db.Get(k)
	if err != nil {
		return nil, fmt.Errorf("audit: log store read: %w", err)
	}
	out := append([]byte(nil), v...)
	c.Close()
	return out, nil
}

func (d *logDisk) hashes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := d.get(hashKey(id.Level, id.Index))
		if err != nil {
			return nil, err
		}
		if len(h) != hashSize {
			return nil, fmt.Errorf("audit: log store: hash of node (%d, %d) has %d bytes", id.Level, id.Index, len(h))
		}
		out[i] = h
	}
	return out, nil
}

// scan returns copies of the values of keys [from, to) of one prefix.
func (d *logDisk) scan(lo, hi []byte) (keys, vals [][]byte, err error) {
	if d.db == nil {
		return nil, nil, errClosed
	}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, nil, fmt.Errorf("audit: log store read: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
		vals = append(vals, append([]byte{}, it.Value()...))
	}
	if err := it.Close(); err != nil {
		return nil, nil, fmt.Errorf("audit: log store read: %w", err)
	}
	return keys, vals, nil
}

func (d *logDisk) entries(from, to uint64) ([][]byte, error) {
	_, vals, err := d.scan(entryKey(from), entryKey(to))
	if err == nil && uint64(len(vals)) != to-from {
		err = fmt.Errorf("audit: log store: %d entries in [%d, %d)", len(vals), from, to)
	}
	if vals == nil && err == nil {
		vals = [][]byte{}
	}
	return vals, err
}

func (d *logDisk) leafHashes(from, to uint64) ([][]byte, error) {
	_, vals, err := d.scan(hashKey(0, from), hashKey(0, to))
	if err == nil && uint64(len(vals)) != to-from {
		err = fmt.Errorf("audit: log store: %d leaf hashes in [%d, %d)", len(vals), from, to)
	}
	if vals == nil && err == nil {
		vals = [][]byte{}
	}
	return vals, err
}

// bySubject returns the indices and bytes of the entries the index lists
// for pseudonym, in log order.
func (d *logDisk) bySubject(pseudonym string) ([]uint64, [][]byte) {
	prefix := "s" + pseudonym
	keys, _, err := d.scan([]byte(prefix), u64([]byte(prefix), ^uint64(0)))
	if err != nil {
		return nil, nil
	}
	var idx []uint64
	var raws [][]byte
	for _, k := range keys {
		if len(k) != len(prefix)+8 {
			continue
		}
		i := binary.BigEndian.Uint64(k[len(prefix):])
		raw, err := d.get(entryKey(i))
		if err != nil {
			continue
		}
		idx, raws = append(idx, i), append(raws, raw)
	}
	return idx, raws
}
