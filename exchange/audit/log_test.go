package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/testonly"
)

// Reference Merkle tree hash, audit path and consistency proof, written
// straight from RFC 6962 §2.1 (recursive, slow, independent of the
// compact-range code under test).

func refLeaf(b []byte) []byte { h := sha256.Sum256(append([]byte{0}, b...)); return h[:] }

func refNode(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// refSplit is the largest power of two smaller than n (n > 1).
func refSplit(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

func refMTH(d [][]byte) []byte {
	switch len(d) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return refLeaf(d[0])
	}
	k := refSplit(len(d))
	return refNode(refMTH(d[:k]), refMTH(d[k:]))
}

func refPath(m int, d [][]byte) [][]byte {
	if len(d) <= 1 {
		return nil
	}
	k := refSplit(len(d))
	if m < k {
		return append(refPath(m, d[:k]), refMTH(d[k:]))
	}
	return append(refPath(m-k, d[k:]), refMTH(d[:k]))
}

func refSubproof(m int, d [][]byte, b bool) [][]byte {
	n := len(d)
	if m == n {
		if b {
			return nil
		}
		return [][]byte{refMTH(d)}
	}
	k := refSplit(n)
	if m <= k {
		return append(refSubproof(m, d[:k], b), refMTH(d[k:]))
	}
	return append(refSubproof(m-k, d[k:], false), refMTH(d[:k]))
}

func refProof(m int, d [][]byte) [][]byte {
	if m == 0 || m == len(d) {
		return nil
	}
	return refSubproof(m, d, true)
}

func buildLog(entries [][]byte) *Log {
	l := NewLog()
	for _, e := range entries {
		l.Append(e)
	}
	return l
}

// TestKnownRoots checks roots against the RFC 6962 test vectors that
// Certificate Transparency implementations share.
func TestKnownRoots(t *testing.T) {
	l := NewLog()
	if got, want := hex.EncodeToString(mustRoot(t, l, 0)), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("empty root %s, want %s", got, want)
	}
	for i, in := range testonly.LeafInputs() {
		if got := l.Append(in); got != uint64(i) {
			t.Fatalf("Append index %d, want %d", got, i)
		}
	}
	for size, want := range testonly.RootHashes() { // [0] is the empty tree
		if got := mustRoot(t, l, uint64(size)); !bytes.Equal(got, want) {
			t.Errorf("root(%d) = %x, want %x", size, got, want)
		}
	}
}

func mustRoot(t testing.TB, l *Log, size uint64) []byte {
	t.Helper()
	r, err := l.Root(size)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestProofsProperty: for random sizes, every root, inclusion proof and
// consistency proof equals the RFC 6962 reference and verifies.
func TestProofsProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33}
	for range 6 {
		sizes = append(sizes, 1+rng.IntN(64))
	}
	for _, n := range sizes {
		entries := make([][]byte, n)
		for i := range entries {
			entries[i] = fmt.Appendf(nil, "entry %d of %d %x", i, n, rng.Uint64())
		}
		l := buildLog(entries)
		for size := 1; size <= n; size++ {
			root := mustRoot(t, l, uint64(size))
			if want := refMTH(entries[:size]); !bytes.Equal(root, want) {
				t.Fatalf("n=%d: root(%d) differs from reference", n, size)
			}
			for idx := 0; idx < size; idx++ {
				p, err := l.InclusionProof(uint64(idx), uint64(size))
				if err != nil {
					t.Fatal(err)
				}
				if want := refPath(idx, entries[:size]); !equalProofs(p, want) {
					t.Fatalf("n=%d: inclusion(%d,%d) differs from reference", n, idx, size)
				}
				if err := VerifyInclusion(entries[idx], uint64(idx), uint64(size), p, root); err != nil {
					t.Fatalf("n=%d: inclusion(%d,%d): %v", n, idx, size, err)
				}
			}
			for size1 := 0; size1 <= size; size1++ {
				p, err := l.ConsistencyProof(uint64(size1), uint64(size))
				if err != nil {
					t.Fatal(err)
				}
				if want := refProof(size1, entries[:size]); !equalProofs(p, want) {
					t.Fatalf("n=%d: consistency(%d,%d) differs from reference", n, size1, size)
				}
				if err := VerifyConsistency(uint64(size1), uint64(size), p, mustRoot(t, l, uint64(size1)), root); err != nil {
					t.Fatalf("n=%d: consistency(%d,%d): %v", n, size1, size, err)
				}
			}
		}
	}
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestLogRanges(t *testing.T) {
	l := buildLog(sampleEntries(5))
	tests := []struct {
		name    string
		call    func() error
		wantErr error
	}{
		{"root at size", func() error { _, err := l.Root(5); return err }, nil},
		{"root beyond size", func() error { _, err := l.Root(6); return err }, ErrOutOfRange},
		{"inclusion last", func() error { _, err := l.InclusionProof(4, 5); return err }, nil},
		{"inclusion index = size", func() error { _, err := l.InclusionProof(5, 5); return err }, ErrOutOfRange},
		{"inclusion size beyond log", func() error { _, err := l.InclusionProof(0, 6); return err }, ErrOutOfRange},
		{"inclusion empty tree", func() error { _, err := l.InclusionProof(0, 0); return err }, ErrOutOfRange},
		{"consistency 0..5", func() error { _, err := l.ConsistencyProof(0, 5); return err }, nil},
		{"consistency reversed", func() error { _, err := l.ConsistencyProof(4, 3); return err }, ErrOutOfRange},
		{"consistency beyond log", func() error { _, err := l.ConsistencyProof(3, 6); return err }, ErrOutOfRange},
		{"entries all", func() error { _, err := l.Entries(0, 5); return err }, nil},
		{"entries reversed", func() error { _, err := l.Entries(3, 2); return err }, ErrOutOfRange},
		{"entries beyond", func() error { _, err := l.Entries(0, 6); return err }, ErrOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestEntriesAreCopies(t *testing.T) {
	in := sampleEntries(3)
	l := NewLog()
	buf := bytes.Clone(in[0])
	l.Append(buf)
	buf[0] = 'X' // the caller reuses its buffer
	l.Append(in[1])
	l.Append(in[2])
	got, err := l.Entries(0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("Entries = %q, want %q", got, in)
	}
	got[1][0] = 'Y' // the reader scribbles on its copy
	if again, _ := l.Entries(1, 2); !bytes.Equal(again[0], in[1]) {
		t.Errorf("Entries handed out the log's own bytes")
	}
	if want := refMTH(in); !bytes.Equal(mustRoot(t, l, 3), want) {
		t.Errorf("root changed by callers' writes")
	}
}

func TestBySubject(t *testing.T) {
	l := NewLog()
	raws := sampleEntries(12) // subjects cycle over citizen-0..4
	for _, r := range raws {
		l.Append(r)
	}
	l.Append([]byte("not an entry")) // still a leaf, never indexed
	var want []IndexedEntry
	for i := 2; i < 12; i += 5 {
		want = append(want, IndexedEntry{Index: uint64(i), Raw: raws[i], Entry: sampleEntry(i)})
	}
	got := l.BySubject(pseudonym("citizen-2"))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("BySubject =\n%+v\nwant\n%+v", got, want)
	}
	// A citizen verifies each listing against a tree head.
	cp := l.Checkpoint("test", t0)
	for _, ie := range got {
		p, err := l.InclusionProof(ie.Index, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(ie.Raw, ie.Index, cp.Size, p, cp.Root); err != nil {
			t.Errorf("inclusion of %d: %v", ie.Index, err)
		}
	}
	if got := l.BySubject(pseudonym("nobody")); len(got) != 0 {
		t.Errorf("BySubject(unknown) = %v, want none", got)
	}
	if l.Size() != 13 {
		t.Errorf("Size = %d, want 13", l.Size())
	}
}

// TestConcurrentReaders: one writer appends while readers take roots and
// proofs of whatever size they see, and every proof verifies (run with
// -race).
func TestConcurrentReaders(t *testing.T) {
	entries := sampleEntries(300)
	l := NewLog()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	stop := make(chan struct{})
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				cp := l.Checkpoint("test", t0)
				if cp.Size == 0 {
					continue
				}
				idx := uint64(k*7+r) % cp.Size
				p, err := l.InclusionProof(idx, cp.Size)
				if err == nil {
					err = VerifyInclusion(entries[idx], idx, cp.Size, p, cp.Root)
				}
				if err == nil {
					var cp1 []byte
					cp1, err = l.Root(cp.Size / 2)
					if err == nil {
						p, err = l.ConsistencyProof(cp.Size/2, cp.Size)
					}
					if err == nil {
						err = VerifyConsistency(cp.Size/2, cp.Size, p, cp1, cp.Root)
					}
				}
				if err == nil {
					_ = l.BySubject(pseudonym("citizen-1"))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, e := range entries {
		l.Append(e)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := mustRoot(t, l, 300), refMTH(entries); !bytes.Equal(got, want) {
		t.Errorf("final root differs from reference")
	}
}

func TestSubjectIndexIgnoresLookalikes(t *testing.T) {
	p := pseudonym("citizen-7")
	e := Entry{Time: t0, Kind: KindQuery, Actor: `x","subject":"` + p, Code: "c"}.MarshalCanonical()
	nonCanonical := []byte(`{"kind":"query","time":"2025-03-14T09:26:53Z","subject":"` + p + `"}`)
	odd := []byte(`{"time":"2025-03-14T09:26:53Z","kind":"query","actor":"\\","subject":"` + p + `"}`)
	l := buildLog([][]byte{e, nonCanonical, odd})
	want := []IndexedEntry{{Index: 2, Raw: odd, Entry: Entry{Time: t0.Truncate(time.Second), Kind: KindQuery, Actor: `\`, Subject: p}}}
	if got := l.BySubject(p); !reflect.DeepEqual(got, want) {
		t.Errorf("BySubject = %+v, want %+v", got, want)
	}
}
