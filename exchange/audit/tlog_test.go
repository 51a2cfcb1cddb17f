package audit

import (
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// tlogTree stores entries the way golang.org/x/mod/sumdb/tlog does (an
// independent RFC 6962 implementation) and returns its hash reader.
func tlogTree(t *testing.T, entries [][]byte) tlog.HashReader {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	return r
}

func toTlog(t *testing.T, hs [][]byte) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		if len(h) != tlog.HashSize {
			t.Fatalf("hash %d has %d bytes", i, len(h))
		}
		copy(out[i][:], h)
	}
	return out
}

// TestRootsAndProofsMatchTlog: the log's roots are tlog.TreeHash's over
// the same entries at every size, its leaf hash is tlog.RecordHash, and
// its inclusion and consistency proofs pass tlog.CheckRecord and
// tlog.CheckTree; a proof for another leaf or root fails them.
func TestRootsAndProofsMatchTlog(t *testing.T) {
	entries := sampleEntries(37)
	l := buildLog(entries)
	r := tlogTree(t, entries)
	if got, want := LeafHash(entries[3]), tlog.RecordHash(entries[3]); [32]byte(got) != want {
		t.Fatalf("leaf hash %x, tlog.RecordHash %x", got, want)
	}
	for n := int64(1); n <= int64(len(entries)); n++ {
		want, err := tlog.TreeHash(n, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Root(uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		if [32]byte(got) != want {
			t.Fatalf("size %d: root %x, tlog.TreeHash %x", n, got, want)
		}
		for i := int64(0); i < n; i++ {
			prf, err := l.InclusionProof(uint64(i), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(toTlog(t, prf), n, want, i, tlog.RecordHash(entries[i])); err != nil {
				t.Fatalf("inclusion of %d in %d: tlog.CheckRecord: %v", i, n, err)
			}
			if other := (i + 1) % n; other != i {
				if err := tlog.CheckRecord(toTlog(t, prf), n, want, other, tlog.RecordHash(entries[other])); err == nil {
					t.Fatalf("the proof of %d in %d also proves %d", i, n, other)
				}
			}
		}
		for m := int64(1); m <= n; m++ {
			prf, err := l.ConsistencyProof(uint64(m), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			old, err := tlog.TreeHash(m, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(toTlog(t, prf), n, want, m, old); err != nil {
				t.Fatalf("consistency %d → %d: tlog.CheckTree: %v", m, n, err)
			}
			if m < n {
				bad := old
				bad[0] ^= 1
				if err := tlog.CheckTree(toTlog(t, prf), n, want, m, bad); err == nil {
					t.Fatalf("consistency %d → %d accepted a wrong old root", m, n)
				}
			}
		}
	}
}
