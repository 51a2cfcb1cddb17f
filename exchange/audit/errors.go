package audit

import (
	"errors"
	"fmt"
)

var (
	// ErrBadEntry: the bytes are not one valid audit entry in canonical
	// form. Callers reading the log keep the bytes (they are still a leaf of
	// the tree) but must not act on their content.
	ErrBadEntry = errors.New("invalid audit entry")
	// ErrTampered: the entries do not reproduce a signed root. The error is
	// a *TamperError naming where the first bad entry lies. Callers stop
	// trusting the log from that index on and raise an incident; it is
	// never retryable.
	ErrTampered = errors.New("audit log tampered")
	// ErrBadProof: an inclusion or consistency proof does not verify
	// against the given root(s), or is malformed. Callers reject the proof;
	// a log that serves bad proofs for its own signed roots is misbehaving.
	ErrBadProof = errors.New("invalid merkle proof")
	// ErrRollback: a newer checkpoint has a smaller size than an older one,
	// that is, the log was replaced by an earlier state. Callers keep the
	// larger checkpoint and raise an incident.
	ErrRollback = errors.New("audit log rolled back")
	// ErrFork: two checkpoints of the same size have different roots, so
	// the signer has shown two different histories. Callers keep both
	// checkpoints as evidence and raise an incident.
	ErrFork = errors.New("audit log forked")
	// ErrBadSignature: a checkpoint note is malformed, has no signature by
	// a key that is a listed, unrevoked audit key, or its signature does
	// not verify. Callers reject the checkpoint.
	ErrBadSignature = errors.New("invalid checkpoint signature")
	// ErrWrongLog: a checkpoint names another log's origin. Callers reject
	// it; it is a checkpoint of some other log, not evidence about this one.
	ErrWrongLog = errors.New("checkpoint of another log")
	// ErrOutOfRange: an index or size lies beyond the log, or a range is
	// reversed. Callers ask again with a size the log has reached (Size).
	ErrOutOfRange = errors.New("beyond the audit log")
)

// TamperError says where the log stops matching its signed roots. Every
// entry before Index is proven good; the first bad entry lies in
// [Index, End). When the evidence narrows it to one entry, End == Index+1
// and Index is the first bad entry itself. errors.Is(err, ErrTampered)
// holds for it.
type TamperError struct {
	Index  uint64 // first index not proven good
	End    uint64 // the first bad entry is before End
	Reason string // what did not match
}

func (e *TamperError) Error() string {
	if e.End == e.Index+1 {
		return fmt.Sprintf("audit log tampered at entry %d: %s", e.Index, e.Reason)
	}
	return fmt.Sprintf("audit log tampered in entries [%d, %d): %s", e.Index, e.End, e.Reason)
}

// Is makes errors.Is(err, ErrTampered) true.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }
