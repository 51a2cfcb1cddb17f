package audit

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/proof"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// checkHashes refuses a proof or root whose elements are not 32 bytes.
func checkHashes(what string, hs ...[]byte) error {
	for i, h := range hs {
		if len(h) != hashSize {
			return fmt.Errorf("%w: %s element %d has %d bytes, want %d", ErrBadProof, what, i, len(h), hashSize)
		}
	}
	return nil
}

// VerifyInclusion checks that entry is leaf index of the tree of size
// entries whose root is root, given the RFC 9162 inclusion proof. It
// fails with ErrBadProof for a wrong proof, a proof with missing or extra
// elements, elements that are not 32 bytes, or index >= size.
func VerifyInclusion(entry []byte, index, size uint64, prf [][]byte, root []byte) error {
	if err := checkHashes("root", root); err != nil {
		return fmt.Errorf("verify inclusion: %w", err)
	}
	if err := checkHashes("proof", prf...); err != nil {
		return fmt.Errorf("verify inclusion: %w", err)
	}
	if err := proof.VerifyInclusion(hasher, index, size, hasher.HashLeaf(entry), prf, root); err != nil {
		return fmt.Errorf("verify inclusion: %w: %v", ErrBadProof, err)
	}
	return nil
}

// VerifyConsistency checks the RFC 9162 consistency proof that the tree
// of size2 entries with root2 extends the tree of size1 entries with
// root1. Equal sizes need an empty proof and equal roots; size1 0 needs
// an empty proof and root1 equal to EmptyRoot(). Every failure, and
// size1 > size2, is ErrBadProof.
func VerifyConsistency(size1, size2 uint64, prf [][]byte, root1, root2 []byte) error {
	if err := checkHashes("root", root1, root2); err != nil {
		return fmt.Errorf("verify consistency: %w", err)
	}
	if err := checkHashes("proof", prf...); err != nil {
		return fmt.Errorf("verify consistency: %w", err)
	}
	if size1 == 0 && !bytes.Equal(root1, hasher.EmptyRoot()) {
		return fmt.Errorf("verify consistency: %w: root of the empty tree is wrong", ErrBadProof)
	}
	if err := proof.VerifyConsistency(hasher, size1, size2, prf, root1, root2); err != nil {
		return fmt.Errorf("verify consistency: %w: %v", ErrBadProof, err)
	}
	return nil
}

// VerifyCheckpointConsistency checks two verified checkpoints of one log
// against each other, whichever order they come in: the one with the
// later Time must not be smaller (ErrRollback); two of the same size
// must have the same root (ErrFork); and prf must be the consistency
// proof from the smaller to the larger (ErrBadProof). Different origins
// are ErrWrongLog.
func VerifyCheckpointConsistency(a, b Checkpoint, prf [][]byte) error {
	if a.Origin != b.Origin {
		return fmt.Errorf("verify checkpoint consistency: %w: %q and %q", ErrWrongLog, a.Origin, b.Origin)
	}
	older, newer := a, b
	if b.Time.Before(a.Time) {
		older, newer = b, a
	}
	if err := checkPair(older, newer); err != nil {
		return fmt.Errorf("verify checkpoint consistency: %w", err)
	}
	small, large := older, newer
	if large.Size < small.Size { // same time, different sizes
		small, large = large, small
	}
	if err := VerifyConsistency(small.Size, large.Size, prf, small.Root, large.Root); err != nil {
		return fmt.Errorf("verify checkpoint consistency: sizes %d and %d: %w", small.Size, large.Size, err)
	}
	return nil
}

// checkPair applies the rollback and fork rules to two checkpoints, the
// first not later than the second.
func checkPair(older, newer Checkpoint) error {
	switch {
	case newer.Size < older.Size && newer.Time.After(older.Time):
		return fmt.Errorf("%w: size %d at %s after size %d at %s", ErrRollback,
			newer.Size, newer.Time.Format("2006-01-02T15:04:05.999999999Z07:00"),
			older.Size, older.Time.Format("2006-01-02T15:04:05.999999999Z07:00"))
	case newer.Size == older.Size && !bytes.Equal(newer.Root, older.Root):
		return fmt.Errorf("%w: two roots for size %d", ErrFork, newer.Size)
	}
	return nil
}

// prefixRoots returns the root of the first s leaves for each s in sizes
// (ascending, each at most len(leaves)) in one pass over the leaves.
func prefixRoots(leaves [][]byte, sizes []uint64) [][]byte {
	roots := make([][]byte, len(sizes))
	r := factory.NewEmptyRange(0)
	k := 0
	for k < len(sizes) && sizes[k] == 0 {
		roots[k] = hasher.EmptyRoot()
		k++
	}
	for _, h := range leaves {
		if k == len(sizes) {
			break
		}
		_ = r.Append(h, nil) // every leaf hash has the hasher's size
		for k < len(sizes) && sizes[k] == r.End() {
			roots[k], _ = r.GetRootHash(nil)
			k++
		}
	}
	return roots
}

func leafHashes(entries [][]byte) [][]byte {
	out := make([][]byte, len(entries))
	for i, e := range entries {
		out[i] = hasher.HashLeaf(e)
	}
	return out
}

// VerifyLog checks that the first cp.Size entries reproduce cp.Root; cp
// must already be verified (VerifyCheckpoint). Entries after cp.Size are
// not covered by cp and not checked. With one root there is nothing to
// narrow with: a mismatch is a *TamperError over [0, cp.Size), and fewer
// entries than cp.Size one over [0, len(entries)+1). Use VerifyExport
// with several checkpoints to find the first bad entry.
func VerifyLog(entries [][]byte, cp Checkpoint) error {
	n := uint64(len(entries))
	if n < cp.Size {
		return fmt.Errorf("verify log: %w", &TamperError{Index: 0, End: n + 1,
			Reason: fmt.Sprintf("log truncated: %d entries, checkpoint covers %d", n, cp.Size)})
	}
	root := prefixRoots(leafHashes(entries[:cp.Size]), []uint64{cp.Size})[0]
	if !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("verify log: %w", &TamperError{Index: 0, End: cp.Size,
			Reason: fmt.Sprintf("entries do not reproduce the root of size %d", cp.Size)})
	}
	return nil
}

// Export is what an outside auditor receives: the entries in log order,
// the signed checkpoints the log issued (in any order; VerifyExport sorts
// them by time), and optionally the leaf hashes of the entries as they
// were when the checkpoints were signed (kept by a witness or an earlier
// export), which let VerifyExport name the exact bad entry.
type Export struct {
	Entries     [][]byte `json:"entries"`               // base64 in JSON
	Checkpoints []string `json:"checkpoints"`           // signed notes (C2SP tlog-checkpoint)
	LeafHashes  [][]byte `json:"leaf_hashes,omitempty"` // optional, base64 in JSON
}

// ParseExport decodes an export bundle strictly (jsonstrict). It does not
// verify anything; call VerifyExport.
func ParseExport(b []byte) (Export, error) {
	var x Export
	if err := jsonstrict.Decode(b, &x); err != nil {
		return Export{}, fmt.Errorf("parse export: %w", err)
	}
	return x, nil
}

// VerifyExport checks an export bundle of the log named origin and
// returns its latest checkpoint. In order:
//  1. every checkpoint's signature (VerifyCheckpoint with r; ErrBadSignature,
//     naming the checkpoint) and origin (ErrWrongLog); at least one is needed;
//  2. the checkpoints, sorted by time, never shrink (ErrRollback) and never
//     disagree on the root of one size (ErrFork);
//  3. the entries reproduce every checkpoint's root, in one pass. The first
//     checkpoint that fails bounds the damage: every entry below the last
//     good checkpoint's size is proven good, so the *TamperError (ErrTampered)
//     covers [last good size, failing size). With checkpoints after every
//     entry, or with LeafHashes that themselves reproduce every root, it
//     names the single first bad entry.
//
// Since every entry prefix is checked against its signed root,
// successive checkpoints are proven consistent with each other too.
// Entries after the latest checkpoint are not covered: compare the
// returned Size with len(x.Entries).
func VerifyExport(x Export, origin string, r keys.Resolver) (Checkpoint, error) {
	if len(x.Checkpoints) == 0 {
		return Checkpoint{}, fmt.Errorf("verify export: %w: no checkpoint in the bundle", ErrBadSignature)
	}
	cps := make([]Checkpoint, 0, len(x.Checkpoints))
	for i, tok := range x.Checkpoints {
		cp, err := VerifyCheckpoint(tok, r)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("verify export: checkpoint %d: %w", i, err)
		}
		if cp.Origin != origin {
			return Checkpoint{}, fmt.Errorf("verify export: checkpoint %d: %w: %q, want %q", i, ErrWrongLog, cp.Origin, origin)
		}
		cps = append(cps, cp)
	}
	slices.SortStableFunc(cps, func(a, b Checkpoint) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Size, b.Size))
	})
	// Forks first (two signed roots for one size is the stronger
	// evidence), then rollbacks against the largest head seen so far.
	bySize := make(map[uint64][]byte, len(cps))
	for _, cp := range cps {
		if root, ok := bySize[cp.Size]; ok && !bytes.Equal(root, cp.Root) {
			return Checkpoint{}, fmt.Errorf("verify export: %w: two roots for size %d", ErrFork, cp.Size)
		}
		bySize[cp.Size] = cp.Root
	}
	largest := cps[0]
	for _, cp := range cps {
		if err := checkPair(largest, cp); err != nil {
			return Checkpoint{}, fmt.Errorf("verify export: %w", err)
		}
		if cp.Size >= largest.Size {
			largest = cp
		}
	}
	latest := cps[len(cps)-1]

	// Distinct sizes, ascending (the sort made them non-decreasing).
	sizes := make([]uint64, 0, len(bySize))
	for _, cp := range cps {
		if len(sizes) == 0 || sizes[len(sizes)-1] != cp.Size {
			sizes = append(sizes, cp.Size)
		}
	}
	n := uint64(len(x.Entries))
	covered := sizes
	for len(covered) > 0 && covered[len(covered)-1] > n {
		covered = covered[:len(covered)-1]
	}
	roots := prefixRoots(leafHashes(x.Entries), covered)
	good := uint64(0) // every entry below good is proven
	for k, s := range sizes {
		var reason string
		end := s
		switch {
		case s > n:
			reason = fmt.Sprintf("log truncated: %d entries, checkpoint covers %d", n, s)
			end = n + 1
		case !bytes.Equal(roots[k], bySize[s]):
			reason = fmt.Sprintf("entries do not reproduce the root of size %d", s)
		default:
			good = s
			continue
		}
		te := &TamperError{Index: good, End: end, Reason: reason}
		narrow(te, x, sizes, bySize)
		return Checkpoint{}, fmt.Errorf("verify export: %w", te)
	}
	return latest, nil
}

// narrow uses x.LeafHashes, if they reproduce every checkpoint root (so
// the signatures vouch for them), to name the exact first bad entry in
// te's range. Leaf hashes that do not reproduce the roots are ignored.
func narrow(te *TamperError, x Export, sizes []uint64, bySize map[uint64][]byte) {
	top := sizes[len(sizes)-1]
	if uint64(len(x.LeafHashes)) < top || checkHashes("leaf hash", x.LeafHashes[:top]...) != nil {
		return
	}
	roots := prefixRoots(x.LeafHashes[:top], sizes)
	for k, s := range sizes {
		if !bytes.Equal(roots[k], bySize[s]) {
			return
		}
	}
	n := uint64(len(x.Entries))
	for i := te.Index; i < te.End && i < top; i++ {
		if i >= n {
			te.Index, te.End = i, i+1
			te.Reason = fmt.Sprintf("entry %d is missing (log truncated to %d entries)", i, n)
			return
		}
		if !bytes.Equal(hasher.HashLeaf(x.Entries[i]), x.LeafHashes[i]) {
			te.Index, te.End = i, i+1
			te.Reason = "entry differs from its signed leaf hash"
			return
		}
	}
}
