package audit

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
)

// diskLog is an empty log on disk in a test folder, closed at the end.
func diskLog(t *testing.T) *Log {
	t.Helper()
	l := NewLog()
	if err := l.UseDisk(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestDiskLogEqualsMemoryLog appends the same entries (canonical ones
// about five subjects, and junk that is not an entry) to a log in memory
// and one on disk, and compares everything either serves at every size:
// roots, checkpoints, every inclusion and consistency proof, entries,
// leaf hashes, the by-subject index, and the out-of-range errors.
func TestDiskLogEqualsMemoryLog(t *testing.T) {
	mem, disk := NewLog(), diskLog(t)
	entries := sampleEntries(37)
	entries[5] = []byte("not an entry")
	entries[20] = nil
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	type served struct {
		Val any
		Err error
	}
	same := func(what string, a, b served) {
		t.Helper()
		if !reflect.DeepEqual(a.Val, b.Val) || !errors.Is(b.Err, unwrapAll(a.Err)) || (a.Err == nil) != (b.Err == nil) {
			t.Fatalf("%s: memory %v (%v), disk %v (%v)", what, a.Val, a.Err, b.Val, b.Err)
		}
	}
	for i, e := range entries {
		if a, b := mem.Append(e), disk.Append(e); a != b || a != uint64(i) {
			t.Fatalf("append %d: memory index %d, disk %d", i, a, b)
		}
		size := uint64(i + 1)
		if mem.Size() != size || disk.Size() != size {
			t.Fatalf("size after %d appends: memory %d, disk %d", size, mem.Size(), disk.Size())
		}
		same(fmt.Sprintf("checkpoint at %d", size), served{mem.Checkpoint("o", now), nil}, served{disk.Checkpoint("o", now), nil})
	}
	n := uint64(len(entries))
	for size := uint64(0); size <= n+1; size++ {
		r1, e1 := mem.Root(size)
		r2, e2 := disk.Root(size)
		same(fmt.Sprintf("root(%d)", size), served{r1, e1}, served{r2, e2})
		for i := uint64(0); i <= size; i++ {
			p1, e1 := mem.InclusionProof(i, size)
			p2, e2 := disk.InclusionProof(i, size)
			same(fmt.Sprintf("inclusion(%d, %d)", i, size), served{p1, e1}, served{p2, e2})
			c1, e1 := mem.ConsistencyProof(i, size)
			c2, e2 := disk.ConsistencyProof(i, size)
			same(fmt.Sprintf("consistency(%d, %d)", i, size), served{c1, e1}, served{c2, e2})
			x1, e1 := mem.Entries(i, size)
			x2, e2 := disk.Entries(i, size)
			same(fmt.Sprintf("entries(%d, %d)", i, size), served{x1, e1}, served{x2, e2})
			h1, e1 := mem.LeafHashes(i, size)
			h2, e2 := disk.LeafHashes(i, size)
			same(fmt.Sprintf("leaf hashes(%d, %d)", i, size), served{h1, e1}, served{h2, e2})
		}
	}
	for k := range 6 {
		p := pseudonym(fmt.Sprintf("citizen-%d", k)) // citizen-5 has no entries
		a, b := mem.BySubject(p), disk.BySubject(p)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("BySubject(citizen-%d): memory %d entries, disk %d", k, len(a), len(b))
		}
		if k < 5 && len(a) == 0 {
			t.Fatalf("BySubject(citizen-%d) is empty: the comparison proves nothing", k)
		}
	}
	if disk.DiskBytes() == 0 {
		t.Error("a log on disk with entries reports 0 bytes on disk")
	}
}

// unwrapAll returns the sentinel at the bottom of err's chain (nil for nil).
func unwrapAll(err error) error {
	for err != nil {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
	return nil
}

// TestDiskLogStartsEmpty: UseDisk empties its folder, so a log never
// serves entries another run left on disk (the node rebuilds it from the
// audit topic).
func TestDiskLogStartsEmpty(t *testing.T) {
	dir := t.TempDir()
	l := NewLog()
	if err := l.UseDisk(dir); err != nil {
		t.Fatal(err)
	}
	for _, e := range sampleEntries(3) {
		l.Append(e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	m := NewLog()
	if err := m.UseDisk(dir); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Size(); got != 0 {
		t.Fatalf("reopened log has %d entries, want 0", got)
	}
	if got := m.BySubject(pseudonym("citizen-0")); len(got) != 0 {
		t.Fatalf("reopened log lists %d entries for a subject, want 0", len(got))
	}
}

// TestDiskLogSignsItsOwnHead: the tree head a node signs (Checkpoint, and
// Root of the whole log) comes from the compact range in memory, not from
// the hashes on disk, so a hash changed in the store while the node runs
// cannot make it sign a head the log does not have.
func TestDiskLogSignsItsOwnHead(t *testing.T) {
	mem, disk := NewLog(), diskLog(t)
	for _, e := range sampleEntries(37) {
		mem.Append(e)
		disk.Append(e)
	}
	// The largest complete subtree of 37 entries: its hash is read for
	// every root of 32 entries or more.
	if err := disk.disk.db.Set(hashKey(5, 0), make([]byte, hashSize), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	if a, b := mem.Checkpoint("o", now), disk.Checkpoint("o", now); !reflect.DeepEqual(a, b) {
		t.Errorf("checkpoint after the store was changed: %x, want %x", b.Root, a.Root)
	}
	want, err := mem.Root(37)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := disk.Root(37); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Root(37) after the store was changed: %x, %v; want %x", got, err, want)
	}
}
