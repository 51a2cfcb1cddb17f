package view

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
)

// Disk layout of a view opened with Open (one Pebble database):
//
//	"e\x00" dataset "\x00" subject  -> entry (see encode) + HMAC-SHA256
//	"s\x00" issuer "\x00" dataset "\x00" id -> "" (record ids applied)
//	"o\x00" topic "\x00" partition  -> next offset, 8 bytes big-endian, + HMAC-SHA256
//	"m\x00live"                     -> live records, 8 bytes big-endian
//	"m\x00keycheck"                 -> HMAC of a fixed string: the MAC key in use
//
// Entries and checkpoints carry the MAC of their key and value (mac): a
// checkpoint moved forward on disk would make a restarted node skip the
// records in between (a deletion, a newer version) and serve what they
// replaced, so one that does not verify is not used (that partition is
// read from the start) and is counted in Corrupt. The record ids and the
// live count are not MACed: planting or dropping an id, or changing the
// count, can refuse a record as a duplicate or skew a metric, no more
// than deleting the folder can.
//
// Every write of an entry read from the log carries its partition's
// checkpoint in the same batch, so after a restart the store holds
// exactly the entries of the log up to its checkpoints, and the node
// resumes reading there (Resume) instead of rebuilding.
const (
	prefixEntry      = "e\x00"
	prefixSeen       = "s\x00"
	prefixOffset     = "o\x00"
	keyLive          = "m\x00live"
	keyCheck         = "m\x00keycheck"
	entryMACDomain   = "onevisit/view-entry/v1\x00"
	keyCheckDomain   = "onevisit/view-keycheck/v1\x00"
	entryFormat      = 1
	macLen           = sha256.Size
	defaultCacheSize = 128 << 20
)

// ErrCorrupt marks a store entry whose MAC does not verify: it is not
// served (Get and Current report it absent) and counted (Corrupt).
var ErrCorrupt = errors.New("view: store entry fails its MAC")

// disk is the Pebble-backed half of a View.
type disk struct {
	db      *pebble.DB
	cache   interface{ Unref() }
	key     []byte
	corrupt atomic.Int64
	// offsets mirrors the "o" keys, so a checkpoint that did not move is
	// not written again.
	offsets map[string]int64
	closed  bool
	macs    sync.Pool // of hmac.New(sha256.New, key), for mac
}

// Options tune a view opened with Open.
type Options struct {
	// CacheBytes is Pebble's block cache (default 128 MiB): the view's
	// memory does not grow with the records it holds. With 32 MiB, a
	// store of 400,000 entries took 27,000 entries/s in batches: the
	// compactions' blocks pushed the Bloom filters out of the cache, and
	// a third of the CPU went to reading them back. With 128 MiB: 41,000;
	// with 256 MiB no more.
	CacheBytes int64
	// FS is the filesystem the store is kept on (nil: the operating
	// system's). Tests put one there that fails reads or writes.
	FS vfs.FS
}

// Open returns a view kept on disk in dir (created if missing), its
// entries MACed with key. The node derives key from its key backend (as
// it does the accepted-topic MAC key), so an entry changed on disk, or
// copied under another subject, is detected and not served, and nobody
// with only the disk can plant one. A store written under another key
// (the key backend changed) cannot be checked: Open empties it, and the
// node rebuilds it from the accepted topics.
func Open(dir string, key []byte, o Options) (*View, error) {
	if len(key) < 16 {
		return nil, errors.New("view: store MAC key shorter than 16 bytes")
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = defaultCacheSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("view: store dir: %w", err)
	}
	d := &disk{key: append([]byte(nil), key...), offsets: map[string]int64{}}
	d.macs.New = func() any { return hmac.New(sha256.New, d.key) }
	if err := d.open(dir, o); err != nil {
		return nil, err
	}
	want := d.keyCheck()
	got, err := d.get([]byte(keyCheck))
	switch {
	case err == nil && hmac.Equal(got, want):
	case err == nil || errors.Is(err, pebble.ErrNotFound):
		// Empty, or written under another key: start afresh.
		if err == nil {
			if err := d.wipe(dir, o); err != nil {
				return nil, err
			}
		}
		werr := d.db.Set([]byte(keyCheck), want, pebble.NoSync)
		if werr == nil {
			werr = d.db.Flush()
		}
		if werr != nil {
			d.close()
			return nil, fmt.Errorf("view: store: %w", werr)
		}
	default:
		d.close()
		return nil, fmt.Errorf("view: store: %w", err)
	}
	v := &View{disk: d}
	if b, err := d.get([]byte(keyLive)); err == nil && len(b) == 8 {
		v.live = int(binary.BigEndian.Uint64(b))
	}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixOffset), UpperBound: []byte("o\x01")})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("view: store: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		if next, ok := d.offset(it.Key(), it.Value()); ok {
			d.offsets[string(it.Key()[len(prefixOffset):])] = next
		} else {
			d.corrupt.Add(1) // no checkpoint: the partition is read from the start
		}
	}
	if err := it.Close(); err != nil {
		d.close()
		return nil, fmt.Errorf("view: store: %w", err)
	}
	return v, nil
}

// open opens the database without a write-ahead log. The accepted topics
// are the source of truth and every checkpoint is in the batch of the
// entries it covers, so a crash loses only batches not flushed yet, as a
// whole and in order: the store reopens at an older, consistent state and
// the node re-reads the log from its older checkpoints. Close flushes.
// Each batch then costs a memtable insert instead of a write to the
// write-ahead log (BenchmarkApplyGet).
func (d *disk) open(dir string, o Options) error {
	c := pebble.NewCache(o.CacheBytes)
	po := &pebble.Options{Cache: c, Comparer: &comparer, Logger: quiet{}, MemTableSize: 16 << 20, DisableWAL: true, FS: o.FS}
	// Most reads are of keys that are not there (a record id never seen,
	// a subject not held yet): a Bloom filter per table answers those
	// without reading its blocks.
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		c.Unref()
		return fmt.Errorf("view: open store: %w", err)
	}
	d.db, d.cache = db, c
	return nil
}

// comparer is Pebble's default key order with every key its own prefix,
// which Iterator.SeekPrefixGE (disk.read) needs and the Bloom filters
// already assume. The name stays the default's: stores written before
// keep their order.
var comparer = func() pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Split = func(k []byte) int { return len(k) }
	return c
}()

// wipe empties the store: close, remove, reopen.
func (d *disk) wipe(dir string, o Options) error {
	d.close()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("view: empty store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("view: store dir: %w", err)
	}
	return d.open(dir, o)
}

func (d *disk) close() error {
	err := d.db.Close()
	d.cache.Unref()
	return err
}

// quiet drops Pebble's informational log lines; a fatal one still stops
// the process, as Pebble expects.
type quiet struct{}

func (quiet) Infof(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "view store: "+format+"\n", args...)
	os.Exit(2)
}

func (d *disk) keyCheck() []byte {
	h := hmac.New(sha256.New, d.key)
	h.Write([]byte(keyCheckDomain))
	return h.Sum(nil)
}

// get returns a copy of the value at k.
func (d *disk) get(k []byte) ([]byte, error) {
	v, c, err := d.db.Get(k)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	c.Close()
	return out, nil
}

func (d *disk) has(k []byte) (bool, error) {
	if d.closed {
		return false, errClosed
	}
	_, c, err := d.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.Close()
	return true, nil
}

func entryKey(dataset, subject string) []byte {
	return []byte(prefixEntry + dataset + "\x00" + subject)
}

func seenKey(id string) []byte { return []byte(prefixSeen + id) }

func offsetKey(topic string, partition int) string {
	return topic + "\x00" + strconv.Itoa(partition)
}

// mac is HMAC-SHA256 over the domain, the storage key and the value, so
// an entry is bound to the dataset and subject it is stored under.
// A Get checks one, so the HMAC states are pooled: hmac.New allocates
// two SHA-256 states and both padded keys each time.
func (d *disk) mac(k, val []byte) []byte {
	h := d.macs.Get().(hash.Hash)
	defer d.macs.Put(h)
	h.Reset()
	h.Write([]byte(entryMACDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(k)))
	h.Write(n[:])
	h.Write(k)
	h.Write(val)
	return h.Sum(nil)
}

// entry reads the entry at k: (nil, nil) when there is none, ErrCorrupt
// when its MAC or its encoding is bad.
func (d *disk) entry(k []byte) (*Entry, error) {
	if d.closed {
		return nil, errClosed
	}
	v, c, err := d.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if e := d.unseal(k, v); e != nil {
		return e, nil
	}
	return nil, ErrCorrupt
}

// unseal checks and decodes the value v stored at entry key k: nil, and
// counted in Corrupt, when its MAC or its encoding is bad.
func (d *disk) unseal(k, v []byte) *Entry {
	if len(v) < macLen || !hmac.Equal(v[len(v)-macLen:], d.mac(k, v[:len(v)-macLen])) {
		d.corrupt.Add(1)
		return nil
	}
	e, err := decode(v[:len(v)-macLen])
	if err != nil {
		d.corrupt.Add(1)
		return nil
	}
	return e
}

// diskEntry is disk.entry under v.mu's read lock, so a read does not
// race Close (which closes the database under the write lock: Pebble
// panics on a read of a closed database, and a request that outlived the
// HTTP server's shutdown would take the process down).
func (v *View) diskEntry(dataset, subject string) (*Entry, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.disk.entry(entryKey(dataset, subject))
}

// sealed is e's encoding with its MAC, for storage key k.
func (d *disk) sealed(k []byte, e *Entry) []byte {
	val := encode(e)
	return append(val, d.mac(k, val)...)
}

// encode writes e as: format byte, then varint-length-prefixed strings
// and varints. It is the node's own format, read back only by decode.
func encode(e *Entry) []byte {
	n := 64 + len(e.Dataset) + len(e.ID) + len(e.Issuer) + len(e.KID) + len(e.Schema) + len(e.JWT)
	for _, d := range e.Disclosure {
		n += 8 + len(d.Name) + len(d.Encoded)
	}
	b := make([]byte, 0, n+macLen)
	b = append(b, entryFormat)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(e.Dataset)
	str(e.ID)
	str(e.Issuer)
	str(e.KID)
	str(e.Schema)
	b = binary.AppendVarint(b, e.IssuedAt)
	b = binary.AppendVarint(b, e.AcceptedAt)
	b = binary.AppendVarint(b, e.Pos)
	if e.Deleted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	str(e.JWT)
	b = binary.AppendUvarint(b, uint64(len(e.Disclosure)))
	for _, d := range e.Disclosure {
		str(d.Name)
		str(d.Encoded)
	}
	return b
}

var errEncoding = errors.New("view: bad entry encoding")

// errClosed: the node stopped and closed its store.
var errClosed = errors.New("view: store closed")

// decode reads encode's format from b, each string copied out of b once
// (b is Pebble's buffer, valid only until the read is closed).
func decode(b []byte) (*Entry, error) {
	if len(b) == 0 || b[0] != entryFormat {
		return nil, errEncoding
	}
	b = b[1:]
	var bad bool
	uvarint := func() uint64 {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			bad = true
			return 0
		}
		b = b[k:]
		return n
	}
	str := func() string {
		n := uvarint()
		if bad || n > uint64(len(b)) {
			bad = true
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	num := func() int64 {
		n, k := binary.Varint(b)
		if k <= 0 {
			bad = true
			return 0
		}
		b = b[k:]
		return n
	}
	e := &Entry{Dataset: str(), ID: str(), Issuer: str(), KID: str(), Schema: str()}
	e.IssuedAt, e.AcceptedAt, e.Pos = num(), num(), num()
	if bad || len(b) == 0 || b[0] > 1 {
		return nil, errEncoding
	}
	e.Deleted = b[0] == 1
	b = b[1:]
	e.JWT = str()
	n := uvarint()
	if bad || n > uint64(len(b)) {
		return nil, errEncoding
	}
	e.Disclosure = make([]Disclosure, n)
	for i := range e.Disclosure {
		e.Disclosure[i] = Disclosure{Name: intern(str()), Encoded: str()}
	}
	if bad || len(b) != 0 {
		return nil, errEncoding
	}
	return e, nil
}

// applyDisk is ApplyBatch on disk. It reads what its decisions depend
// on (each item's record id and its subject's entry) first, in key order
// through one iterator, so the level files a key lands in are opened once
// per batch instead of once per read; it decides each item in order, as
// if the items were applied one by one (a later item sees what an earlier
// one decided); and it writes the entries, their record ids, the live
// count and every partition's checkpoint in one batch. When the store
// cannot be read or written, nothing is written, no checkpoint moves and
// the error says why: the caller applies the items again (an entry that
// fails its MAC is not such an error: the new one replaces it).
// replaced[i] reports whether items[i].Entry replaced what was there.
func (v *View) applyDisk(items []Item, replaced []bool) error {
	d := v.disk
	if d.closed {
		return errClosed
	}
	h := newHeldKeys(2 * len(items))
	slots := make([][2]*heldKey, len(items))
	for i, it := range items {
		if it.Entry != nil {
			slots[i] = h.want(it.Entry.Key(), it.Subject)
		}
	}
	if err := d.read(h); err != nil {
		return fmt.Errorf("view: read store: %w", err)
	}
	b := d.db.NewBatch()
	defer b.Close()
	live := v.live
	moved := map[string]int64{}
	for i, it := range items {
		if e := it.Entry; e != nil {
			seen, cur := slots[i][0], slots[i][1]
			applied := seen.present
			if !applied {
				seen.present, seen.dirty = true, true
			}
			old := cur.entry // nil when absent or failing its MAC
			replace := old == nil || e.replaces(old, applied)
			if replace {
				switch {
				case old != nil && !old.Deleted && e.Deleted:
					live--
				case (old == nil || old.Deleted) && !e.Deleted:
					live++
				}
				cur.entry, cur.dirty = e, true
			}
			if replaced != nil {
				replaced[i] = replace
			}
		}
		if it.Topic != "" && it.Next > 0 {
			ok := offsetKey(it.Topic, it.Partition)
			if it.Next > max(d.offsets[ok], moved[ok]) {
				moved[ok] = it.Next
			}
		}
	}
	for _, k := range h.order {
		switch hk := h.keys[k]; {
		case !hk.dirty:
		case hk.entry != nil:
			_ = b.Set([]byte(k), d.sealed([]byte(k), hk.entry), nil)
		default: // a record id
			_ = b.Set([]byte(k), nil, nil)
		}
	}
	if live != v.live {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(live))
		_ = b.Set([]byte(keyLive), n[:], nil)
	}
	for ok, next := range moved {
		d.checkpoint(b, ok, next)
	}
	if !b.Empty() {
		if err := b.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("view: write store: %w", err)
		}
	}
	// Only what is written counts: the live count and the checkpoints.
	v.live = live
	for ok, next := range moved {
		d.offsets[ok] = next
	}
	return nil
}

// heldKey is what applyDisk knows of one store key: whether it is there
// and, for an entry that verifies, the entry; dirty once a decision of
// the batch changed it.
type heldKey struct {
	present bool
	entry   *Entry
	dirty   bool
}

// heldKeys are the store keys a batch reads: each record's id and its
// subject's entry, once each.
type heldKeys struct {
	keys  map[string]*heldKey
	order []string
}

func newHeldKeys(n int) *heldKeys {
	return &heldKeys{keys: make(map[string]*heldKey, n), order: make([]string, 0, n)}
}

// want adds the record id of k and the entry of subject in k's dataset,
// and returns their slots (record id first), which read fills.
func (h *heldKeys) want(k Key, subject string) (slots [2]*heldKey) {
	for i, sk := range [2]string{string(seenKey(k.flat())), string(entryKey(k.Dataset, subject))} {
		if slots[i] = h.keys[sk]; slots[i] == nil {
			slots[i] = &heldKey{}
			h.keys[sk] = slots[i]
			h.order = append(h.order, sk)
		}
	}
	return slots
}

// read fills h through one iterator, in key order: a record id is
// present or not; an entry is present and decoded if its MAC verifies
// (one that does not is counted in Corrupt and left nil: a batch
// replaces it).
func (d *disk) read(h *heldKeys) error {
	if len(h.order) == 0 {
		return nil
	}
	sort.Strings(h.order)
	// Most keys of a rebuild are not there yet: consult the Bloom filters
	// of the last level too (Pebble skips them by default, as keys read
	// there mostly exist).
	it, err := d.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
	if err != nil {
		return err
	}
	for _, k := range h.order {
		kb := []byte(k)
		if !it.SeekPrefixGE(kb) {
			if err := it.Error(); err != nil {
				it.Close()
				return err
			}
			continue
		}
		if !bytes.Equal(it.Key(), kb) {
			continue
		}
		hk := h.keys[k]
		hk.present = true
		if strings.HasPrefix(k, prefixEntry) {
			val, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return err
			}
			hk.entry = d.unseal(kb, val)
		}
	}
	return it.Close()
}

// checkpoint adds to b the checkpoint of the partition whose offset key
// is ok: read up to next (exclusive).
func (d *disk) checkpoint(b *pebble.Batch, ok string, next int64) {
	k := []byte(prefixOffset + ok)
	val := binary.BigEndian.AppendUint64(make([]byte, 0, 8+macLen), uint64(next))
	_ = b.Set(k, append(val, d.mac(k, val)...), nil)
}

// offset reads the checkpoint stored at k: ok false when its value is not
// 8 bytes and a MAC that verifies.
func (d *disk) offset(k, v []byte) (next int64, ok bool) {
	if len(v) != 8+macLen || !hmac.Equal(v[8:], d.mac(k, v[:8])) {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[:8])), true
}

// Resume returns the offset to read partition of topic from: the
// checkpoint of a view on disk, or ok false (read from the start).
func (v *View) Resume(topic string, partition int) (next int64, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.disk == nil {
		return 0, false
	}
	next, ok = v.disk.offsets[offsetKey(topic, partition)]
	return next, ok
}

// OnDisk reports whether the view is kept on disk (Open).
func (v *View) OnDisk() bool { return v.disk != nil }

// Corrupt is how many reads found an entry, or a checkpoint at Open,
// whose MAC did not verify.
func (v *View) Corrupt() int64 {
	if v.disk == nil {
		return 0
	}
	return v.disk.corrupt.Load()
}

// DiskBytes is the space the store takes on disk (0 in memory).
func (v *View) DiskBytes() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.disk == nil || v.disk.closed {
		return 0
	}
	m := v.disk.db.Metrics()
	return m.DiskSpaceUsage()
}

// Close syncs and closes a view on disk; a view in memory has nothing to
// close.
func (v *View) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.disk == nil || v.disk.closed {
		return nil
	}
	v.disk.closed = true
	err := v.disk.db.Flush()
	if cerr := v.disk.close(); err == nil {
		err = cerr
	}
	return err
}

// UseDisk turns v, a view made by New and not used yet, into one kept on
// disk in dir (see Open). A node makes its view before it can derive the
// store's MAC key, which takes its key backend: it calls UseDisk in Run,
// before anything reads or writes the view.
func (v *View) UseDisk(dir string, key []byte, o Options) error {
	d, err := Open(dir, key, o)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.disk != nil || len(v.entries) > 0 {
		d.Close()
		return errors.New("view: UseDisk on a view in use")
	}
	v.disk, v.live, v.entries, v.seen = d.disk, d.live, nil, nil
	return nil
}

// Reset empties a view on disk: its entries, record ids and checkpoints
// (the node found a checkpoint past the end of its partition: the topic
// was recreated, and the store describes a log that is gone).
func (v *View) Reset() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.disk == nil || v.disk.closed {
		return nil
	}
	b := v.disk.db.NewBatch()
	defer b.Close()
	for _, p := range []string{prefixEntry, prefixSeen, prefixOffset} {
		end := []byte(p)
		end[len(end)-1]++
		_ = b.DeleteRange([]byte(p), end, nil)
	}
	_ = b.Delete([]byte(keyLive), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("view: reset store: %w", err)
	}
	if err := v.disk.db.Flush(); err != nil {
		return fmt.Errorf("view: reset store: %w", err)
	}
	v.live, v.disk.offsets = 0, map[string]int64{}
	return nil
}

// Compact flushes the store's memtable and compacts every level, so its
// size on disk (DiskBytes) is that of its live data; onevisit bench calls
// it before it measures. A no-op in memory.
func (v *View) Compact() error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.disk == nil || v.disk.closed {
		return nil
	}
	if err := v.disk.db.Flush(); err != nil {
		return err
	}
	return v.disk.db.Compact([]byte{0}, []byte{0xff}, true)
}
