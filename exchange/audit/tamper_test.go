package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

const origin = "onevisit/audit"

// history is a log of n entries with a signed checkpoint after every
// every-th append, taken one second apart.
type history struct {
	entries [][]byte
	log     *Log
	cps     []Checkpoint
	tokens  []string
}

func newHistory(t testing.TB, s edSigner, n, every int) history {
	t.Helper()
	h := history{entries: sampleEntries(n), log: NewLog()}
	for i, e := range h.entries {
		h.log.Append(e)
		if (i+1)%every == 0 {
			cp := h.log.Checkpoint(origin, t0.Add(time.Duration(i+1)*time.Second))
			h.cps = append(h.cps, cp)
			h.tokens = append(h.tokens, mustSign(t, s, cp))
		}
	}
	return h
}

func cloneAll(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, b := range in {
		out[i] = bytes.Clone(b)
	}
	return out
}

// forged is a well-formed entry that was never appended.
var forged = Entry{Time: t0, Kind: KindQuery, Actor: "intruder", Dataset: "household",
	Subject: pseudonym("citizen-1"), Decision: DecisionPermit}.MarshalCanonical()

// tamperCases change a 16-entry log; first is the first entry that no
// longer matches what was signed.
var tamperCases = []struct {
	name   string
	first  uint64
	mutate func([][]byte) [][]byte
}{
	{"one byte of entry 5 changed", 5, func(e [][]byte) [][]byte { e[5][20]++; return e }},
	{"bit flip in entry 0", 0, func(e [][]byte) [][]byte { e[0][len(e[0])-2] ^= 1; return e }},
	{"last entry changed", 15, func(e [][]byte) [][]byte { e[15] = forged; return e }},
	{"entry 7 deleted", 7, func(e [][]byte) [][]byte { return slices.Delete(e, 7, 8) }},
	{"entries 3 and 9 swapped", 3, func(e [][]byte) [][]byte { e[3], e[9] = e[9], e[3]; return e }},
	{"adjacent entries 12 and 13 swapped", 12, func(e [][]byte) [][]byte { e[12], e[13] = e[13], e[12]; return e }},
	{"forged entry inserted at 6", 6, func(e [][]byte) [][]byte { return slices.Insert(e, 6, forged) }},
	{"tail truncated to 11", 11, func(e [][]byte) [][]byte { return e[:11] }},
	{"replaced by a backup of 9 entries", 9, func(e [][]byte) [][]byte { return e[:9] }},
	{"emptied", 0, func(e [][]byte) [][]byte { return nil }},
	{"entry 4 re-encoded with white space", 4, func(e [][]byte) [][]byte {
		e[4] = bytes.Replace(e[4], []byte(`,"kind"`), []byte(`, "kind"`), 1)
		return e
	}},
	{"entry 10 replaced by entry 10 of another day", 10, func(e [][]byte) [][]byte {
		x := sampleEntry(10)
		x.Time = x.Time.AddDate(0, 0, 1)
		e[10] = x.MarshalCanonical()
		return e
	}},
}

// TestTamperCorpus: every change is detected as ErrTampered, with the
// first bad index exact when there is a checkpoint after every entry or
// trusted leaf hashes, and within its checkpoint range otherwise.
func TestTamperCorpus(t *testing.T) {
	audit, _, _, dir := testKeys()
	dense := newHistory(t, audit, 16, 1)
	sparse := newHistory(t, audit, 16, 4)
	leaves := leafHashes(dense.entries)

	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			bundles := []struct {
				name      string
				x         Export
				wantIndex uint64
				wantEnd   uint64
			}{
				{"dense checkpoints", Export{Entries: tc.mutate(cloneAll(dense.entries)), Checkpoints: dense.tokens}, tc.first, tc.first + 1},
				{"sparse checkpoints", Export{Entries: tc.mutate(cloneAll(dense.entries)), Checkpoints: sparse.tokens},
					tc.first / 4 * 4, sparseEnd(tc.first, uint64(len(tc.mutate(cloneAll(dense.entries)))))},
				{"sparse checkpoints and leaf hashes", Export{Entries: tc.mutate(cloneAll(dense.entries)), Checkpoints: sparse.tokens, LeafHashes: leaves}, tc.first, tc.first + 1},
			}
			for _, b := range bundles {
				_, err := VerifyExport(b.x, origin, dir)
				var te *TamperError
				if !errors.Is(err, ErrTampered) || !errors.As(err, &te) {
					t.Fatalf("%s: error = %v, want a *TamperError", b.name, err)
				}
				if te.Index != b.wantIndex || te.End != b.wantEnd {
					t.Errorf("%s: tamper range [%d, %d), want [%d, %d): %v", b.name, te.Index, te.End, b.wantIndex, b.wantEnd, err)
				}
			}
			// One checkpoint alone detects it, without narrowing.
			err := VerifyLog(tc.mutate(cloneAll(dense.entries)), dense.cps[len(dense.cps)-1])
			var te *TamperError
			if !errors.As(err, &te) || !errors.Is(err, ErrTampered) || te.Index != 0 || te.End <= tc.first {
				t.Errorf("VerifyLog: error = %v, want a *TamperError from 0 covering %d", err, tc.first)
			}
		})
	}
}

// sparseEnd is where the damage range ends with a checkpoint every 4
// entries: the failing checkpoint's size, or one past the last entry if
// the log is shorter than that.
func sparseEnd(first, n uint64) uint64 {
	end := first/4*4 + 4
	if n < end {
		return n + 1
	}
	return end
}

func TestVerifyExportGood(t *testing.T) {
	audit, _, _, dir := testKeys()
	h := newHistory(t, audit, 16, 3) // checkpoints at 3, 6, ..., 15
	extra := append(cloneAll(h.entries), forged)
	shuffled := slices.Clone(h.tokens)
	slices.Reverse(shuffled)
	tests := []struct {
		name string
		x    Export
	}{
		{"entries and checkpoints", Export{Entries: h.entries, Checkpoints: h.tokens}},
		{"checkpoints in any order", Export{Entries: h.entries, Checkpoints: shuffled}},
		{"a checkpoint twice", Export{Entries: h.entries, Checkpoints: append(slices.Clone(h.tokens), h.tokens[2])}},
		{"with leaf hashes", Export{Entries: h.entries, Checkpoints: h.tokens, LeafHashes: leafHashes(h.entries)}},
		{"entry after the last checkpoint", Export{Entries: extra, Checkpoints: h.tokens}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyExport(tc.x, origin, dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := h.cps[len(h.cps)-1]; !slices.Equal(got.Root, want.Root) || got.Size != 15 || !got.Time.Equal(want.Time) {
				t.Errorf("latest = %+v, want %+v", got, want)
			}
		})
	}
	// Every entry still checks against the latest checkpoint, one by one.
	for i, e := range h.entries[:15] {
		p, err := h.log.InclusionProof(uint64(i), 15)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(e, uint64(i), 15, p, h.cps[4].Root); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
}

// TestVerifyExportCheckpoints: faults in the checkpoints themselves.
func TestVerifyExportCheckpoints(t *testing.T) {
	audit, record, _, dir := testKeys()
	h := newHistory(t, audit, 16, 4) // checkpoints at 4, 8, 12, 16

	// A fork: the signer shows a different size-8 history.
	alt := cloneAll(h.entries[:8])
	alt[2] = forged
	fork := mustSign(t, audit, buildLog(alt).Checkpoint(origin, t0.Add(100*time.Second)))
	// A rollback: the log was restored to 9 entries and a new head signed
	// after the size-16 one.
	rollback := mustSign(t, audit, buildLog(h.entries[:9]).Checkpoint(origin, t0.Add(100*time.Second)))
	// Size ±1 with the root kept: the signature covers the size.
	bumped := h.cps[3]
	bumped.Size++
	other := mustSign(t, audit, Checkpoint{Origin: "staging/audit", Size: 16, Root: h.cps[3].Root, Time: t0})
	flipped := []byte(h.tokens[1])
	flipped[len(flipped)-5] ^= 2

	tests := []struct {
		name    string
		tokens  []string
		entries [][]byte
		wantErr error
		also    error
	}{
		{"fork", append(slices.Clone(h.tokens), fork), h.entries, ErrFork, nil},
		{"rollback", append(slices.Clone(h.tokens), rollback), h.entries, ErrRollback, nil},
		{"rollback with the log replaced by its backup", append(slices.Clone(h.tokens), rollback), h.entries[:9], ErrRollback, nil},
		{"bad signature", []string{h.tokens[0], string(flipped)}, h.entries, ErrBadSignature, nil},
		{"record key", []string{mustSign(t, record, h.cps[0])}, h.entries, ErrBadSignature, keys.ErrWrongUse},
		{"another log's checkpoint", []string{h.tokens[0], other}, h.entries, ErrWrongLog, nil},
		{"no checkpoint", nil, h.entries, ErrBadSignature, nil},
		{"size+1 signed over the old root", []string{mustSign(t, audit, bumped)}, h.entries, ErrTampered, nil},
		{"signature's last character changed", []string{h.tokens[0][:len(h.tokens[0])-1] + "x"}, h.entries, ErrBadSignature, nil},
		{"leaf hashes rewritten with the entries", nil, nil, ErrTampered, nil}, // below
	}
	for _, tc := range tests[:len(tests)-1] {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyExport(Export{Entries: tc.entries, Checkpoints: tc.tokens}, origin, dir)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("error = %v, want it to wrap %v too", err, tc.also)
			}
		})
	}
	t.Run("leaf hashes rewritten with the entries", func(t *testing.T) {
		// Hashes that do not reproduce the signed roots are not trusted:
		// the range stays the checkpoints' range.
		bad := cloneAll(h.entries)
		bad[5][20]++
		_, err := VerifyExport(Export{Entries: bad, Checkpoints: h.tokens, LeafHashes: leafHashes(bad)}, origin, dir)
		var te *TamperError
		if !errors.As(err, &te) || te.Index != 4 || te.End != 8 {
			t.Fatalf("error = %v, want tamper range [4, 8)", err)
		}
	})
}

func TestVerifyCheckpointConsistency(t *testing.T) {
	audit, _, _, _ := testKeys()
	h := newHistory(t, audit, 16, 4)
	c4, c8, c12, c16 := h.cps[0], h.cps[1], h.cps[2], h.cps[3]
	p := func(a, b uint64) [][]byte {
		pr, err := h.log.ConsistencyProof(a, b)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	forkedLog := buildLog(append(cloneAll(h.entries[:7]), forged))
	fork8 := forkedLog.Checkpoint(origin, c8.Time.Add(time.Minute))
	forkedLog.Append(h.entries[8])
	forkedLog.Append(h.entries[9])
	forkedLog.Append(h.entries[10])
	forkedLog.Append(h.entries[11])
	fork12 := forkedLog.Checkpoint(origin, c12.Time)
	forkProof, _ := forkedLog.ConsistencyProof(8, 12)
	old := c16
	old.Size, old.Root, old.Time = 9, mustRoot(t, h.log, 9), c16.Time.Add(time.Hour)
	other := c12
	other.Origin = "staging/audit"

	tests := []struct {
		name    string
		a, b    Checkpoint
		proof   [][]byte
		wantErr error
	}{
		{"4 to 16", c4, c16, p(4, 16), nil},
		{"given newest first", c16, c4, p(4, 16), nil},
		{"8 to 12", c8, c12, p(8, 12), nil},
		{"same checkpoint", c8, c8, nil, nil},
		{"rollback to 9", c16, old, p(9, 16), ErrRollback},
		{"fork at size 8", c8, fork8, nil, ErrFork},
		{"forked history grows consistently with itself only", c8, fork12, forkProof, ErrBadProof},
		{"proof for other sizes", c4, c16, p(8, 16), ErrBadProof},
		{"no proof", c4, c16, nil, ErrBadProof},
		{"other origin", c8, other, p(8, 12), ErrWrongLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyCheckpointConsistency(tc.a, tc.b, tc.proof); !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// proofCorruptions yields the ways a proof is damaged in transit or by a
// lying log, each of which must fail.
func proofCorruptions(prf [][]byte, root []byte) map[string][][]byte {
	garbage := bytes.Repeat([]byte{0xa5}, 32)
	out := map[string][][]byte{
		"preceding garbage": append([][]byte{garbage}, prf...),
		"trailing garbage":  append(slices.Clone(prf), garbage),
		"preceding root":    append([][]byte{root}, prf...),
		"trailing root":     append(slices.Clone(prf), root),
		"trailing empty":    append(slices.Clone(prf), []byte{}),
	}
	for i := range prf {
		for _, bit := range []int{0, 3, 255} {
			c := cloneAll(prf)
			c[i][bit/8] ^= 1 << (bit % 8)
			out[fmt.Sprintf("bit %d of element %d", bit, i)] = c
		}
		short := cloneAll(prf)
		short[i] = short[i][:31]
		out[fmt.Sprintf("element %d short", i)] = short
		long := cloneAll(prf)
		long[i] = append(long[i], 0)
		out[fmt.Sprintf("element %d long", i)] = long
	}
	if len(prf) > 0 {
		out["last element removed"] = slices.Clone(prf[:len(prf)-1])
		out["first element removed"] = slices.Clone(prf[1:])
	}
	if len(prf) > 1 {
		sw := slices.Clone(prf)
		sw[0], sw[1] = sw[1], sw[0]
		out["first two elements swapped"] = sw
	}
	return out
}

func TestInclusionProofCorpus(t *testing.T) {
	entries := sampleEntries(16)
	l := buildLog(entries)
	for _, c := range [][2]uint64{{5, 13}, {0, 8}, {7, 8}, {12, 13}, {0, 2}, {10, 16}, {15, 16}} {
		index, size := c[0], c[1]
		root := mustRoot(t, l, size)
		prf, err := l.InclusionProof(index, size)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("%d of %d", index, size), func(t *testing.T) {
			if err := VerifyInclusion(entries[index], index, size, prf, root); err != nil {
				t.Fatalf("good proof: %v", err)
			}
			for name, bad := range proofCorruptions(prf, root) {
				if err := VerifyInclusion(entries[index], index, size, bad, root); !errors.Is(err, ErrBadProof) {
					t.Errorf("%s: error = %v, want ErrBadProof", name, err)
				}
			}
			other := map[string]func() error{
				"index-1":     func() error { return VerifyInclusion(entries[index], index-1, size, prf, root) },
				"index+1":     func() error { return VerifyInclusion(entries[index], index+1, size, prf, root) },
				"index^2":     func() error { return VerifyInclusion(entries[index], index^2, size, prf, root) },
				"size*2":      func() error { return VerifyInclusion(entries[index], index, size*2, prf, root) },
				"size/2":      func() error { return VerifyInclusion(entries[index], index, size/2, prf, root) },
				"other entry": func() error { return VerifyInclusion(forged, index, size, prf, root) },
				"root of size-1": func() error {
					return VerifyInclusion(entries[index], index, size, prf, mustRoot(t, l, size-1))
				},
				"empty root": func() error { return VerifyInclusion(entries[index], index, size, prf, EmptyRoot()) },
				"short root": func() error { return VerifyInclusion(entries[index], index, size, prf, root[:31]) },
				"index=size": func() error { return VerifyInclusion(entries[index], size, size, prf, root) },
				"size 0":     func() error { return VerifyInclusion(entries[index], index, 0, prf, root) },
				"nil proof":  func() error { return VerifyInclusion(entries[index], index, size, nil, root) },
			}
			for name, call := range other {
				// index±1 and index^2 may name the sibling that shares the
				// path; only the leaf hash then tells them apart, and it does.
				if err := call(); !errors.Is(err, ErrBadProof) {
					t.Errorf("%s: error = %v, want ErrBadProof", name, err)
				}
			}
		})
	}
}

func TestConsistencyProofCorpus(t *testing.T) {
	l := buildLog(sampleEntries(16))
	for _, c := range [][2]uint64{{5, 13}, {1, 16}, {4, 8}, {7, 8}, {8, 13}, {3, 4}, {6, 15}} {
		size1, size2 := c[0], c[1]
		root1, root2 := mustRoot(t, l, size1), mustRoot(t, l, size2)
		prf, err := l.ConsistencyProof(size1, size2)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("%d to %d", size1, size2), func(t *testing.T) {
			if err := VerifyConsistency(size1, size2, prf, root1, root2); err != nil {
				t.Fatalf("good proof: %v", err)
			}
			for name, bad := range proofCorruptions(prf, root1) {
				if err := VerifyConsistency(size1, size2, bad, root1, root2); !errors.Is(err, ErrBadProof) {
					t.Errorf("%s: error = %v, want ErrBadProof", name, err)
				}
			}
			other := map[string]func() error{
				"swapped roots": func() error { return VerifyConsistency(size1, size2, prf, root2, root1) },
				"size1-1":       func() error { return VerifyConsistency(size1-1, size2, prf, root1, root2) },
				"size1+1":       func() error { return VerifyConsistency(size1+1, size2, prf, root1, root2) },
				"size1^2":       func() error { return VerifyConsistency(size1^2, size2, prf, root1, root2) },
				"size2*2":       func() error { return VerifyConsistency(size1, size2*2, prf, root1, root2) },
				"size2/2":       func() error { return VerifyConsistency(size1, size2/2, prf, root1, root2) },
				"sizes swapped": func() error { return VerifyConsistency(size2, size1, prf, root2, root1) },
				"root1 of size1+1": func() error {
					return VerifyConsistency(size1, size2, prf, mustRoot(t, l, size1+1), root2)
				},
				"root2 of size2-1": func() error {
					return VerifyConsistency(size1, size2, prf, root1, mustRoot(t, l, size2-1))
				},
				"empty proof": func() error { return VerifyConsistency(size1, size2, nil, root1, root2) },
			}
			for name, call := range other {
				if err := call(); !errors.Is(err, ErrBadProof) {
					t.Errorf("%s: error = %v, want ErrBadProof", name, err)
				}
			}
		})
	}
	t.Run("edge sizes", func(t *testing.T) {
		r5 := mustRoot(t, l, 5)
		garbage := bytes.Repeat([]byte{1}, 32)
		tests := []struct {
			name         string
			size1, size2 uint64
			proof        [][]byte
			root1, root2 []byte
			wantErr      error
		}{
			{"0 to 5", 0, 5, nil, EmptyRoot(), r5, nil},
			{"0 to 5 with a proof element", 0, 5, [][]byte{garbage}, EmptyRoot(), r5, ErrBadProof},
			{"0 to 5 with a made-up empty root", 0, 5, nil, garbage, r5, ErrBadProof},
			{"5 to 5", 5, 5, nil, r5, r5, nil},
			{"5 to 5 different roots", 5, 5, nil, r5, garbage, ErrBadProof},
			{"5 to 5 with a proof element", 5, 5, [][]byte{garbage}, r5, r5, ErrBadProof},
			{"6 to 5", 6, 5, nil, r5, r5, ErrBadProof},
		}
		for _, tc := range tests {
			if err := VerifyConsistency(tc.size1, tc.size2, tc.proof, tc.root1, tc.root2); !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: error = %v, want %v", tc.name, err, tc.wantErr)
			}
		}
	})
}

func TestExportJSON(t *testing.T) {
	audit, _, _, dir := testKeys()
	h := newHistory(t, audit, 6, 3)
	x := Export{Entries: h.entries, Checkpoints: h.tokens, LeafHashes: leafHashes(h.entries)}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseExport(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Fatalf("round trip changed the bundle")
	}
	if cp, err := VerifyExport(got, origin, dir); err != nil || cp.Size != 6 {
		t.Fatalf("VerifyExport = %+v, %v; want size 6", cp, err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"duplicate member", `{"entries":[],"checkpoints":[],"entries":["e30="]}`, jsonstrict.ErrDuplicateKey},
		{"unknown member", `{"entries":[],"checkpoints":[],"trusted":true}`, jsonstrict.ErrUnknownField},
		{"entry not base64", `{"entries":["!"],"checkpoints":[]}`, jsonstrict.ErrSyntax},
		{"not JSON", `entries`, jsonstrict.ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseExport([]byte(tc.in)); !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// FuzzVerifyExport: no bundle makes parsing or verification panic, and a
// bundle that verifies reproduces its latest checkpoint's root.
func FuzzVerifyExport(f *testing.F) {
	audit, _, _, dir := testKeys()
	h := newHistory(f, audit, 6, 2)
	good, _ := json.Marshal(Export{Entries: h.entries, Checkpoints: h.tokens})
	f.Add(good)
	f.Add([]byte(`{"entries":[],"checkpoints":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ParseExport(b)
		if err != nil {
			return
		}
		cp, err := VerifyExport(x, origin, dir)
		if err != nil {
			return
		}
		if err := VerifyLog(x.Entries, cp); err != nil {
			t.Fatalf("verified bundle fails VerifyLog: %v", err)
		}
	})
}
