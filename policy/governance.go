package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Governance errors, from Ledger. Each leaves the ledger as it was unless
// its comment says otherwise.
var (
	// ErrBadProposal: the proposal lacks an id, a proposer, a reason or
	// a set (or the approval or rejection lacks an officer or reason).
	// The caller refuses the event; the officer must resend it whole.
	ErrBadProposal = errors.New("bad proposal")
	// ErrDuplicateProposal: a proposal with this id exists already. The
	// caller ignores a replayed event; an officer picks a fresh id.
	ErrDuplicateProposal = errors.New("proposal id already used")
	// ErrUnknownProposal: no proposal has this id. The officer checks
	// the id (policy versions / the pending list).
	ErrUnknownProposal = errors.New("unknown proposal")
	// ErrNotPending: the proposal was already applied, rejected or
	// superseded. Nothing more can happen to it; propose again.
	ErrNotPending = errors.New("proposal is no longer pending")
	// ErrStaleBase: the proposal was made against a version that is no
	// longer the current one (another change was applied since). When
	// an approval meets it, the proposal becomes Superseded. The officer
	// reviews the current version and proposes again against it.
	ErrStaleBase = errors.New("proposal is against a stale base version")
	// ErrSelfApproval: the proposer tried to approve their own proposal;
	// the proposer already counts as its first officer. Another officer
	// must approve.
	ErrSelfApproval = errors.New("an officer cannot approve their own proposal")
	// ErrAlreadyApproved: this officer approved the proposal already.
	// Another officer must approve.
	ErrAlreadyApproved = errors.New("officer already approved this proposal")
	// ErrWidens: "narrow now" was asked for a change that widens access
	// (or that Classify cannot prove narrowing). Nothing is recorded;
	// the officer proposes it instead, for approval.
	ErrWidens = errors.New("change widens access and needs approval")
	// ErrUnknownVersion: no applied version has this number (rollback
	// target, or a base ahead of the ledger). The officer picks one of
	// Versions.
	ErrUnknownVersion = errors.New("unknown policy version")
	// ErrAlreadySeeded: Seed was called on a ledger that holds a version.
	// The caller starts from the control plane's versions, not files.
	ErrAlreadySeeded = errors.New("control plane already holds a policy version")
	// ErrBadRule: Rule.Approvals is below 1 or above MaxApprovals. The
	// operator fixes the configuration.
	ErrBadRule = errors.New("bad approval rule")
)

// DefaultApprovals is N, the distinct officers a widening change needs,
// when Rule.Approvals is 0. MaxApprovals bounds it.
const (
	DefaultApprovals = 2
	MaxApprovals     = 16
)

// Rule is the approval rule of a Ledger.
type Rule struct {
	// Approvals is N: how many distinct officers, the proposer
	// included, a widening change needs. 0 means DefaultApprovals.
	Approvals int
}

// Validate checks the rule, naming the field and the allowed values.
func (r Rule) Validate() error {
	if r.Approvals < 0 || r.Approvals > MaxApprovals {
		return fmt.Errorf("policy rule: approvals %d must be from 1 to %d (0 for the default %d): %w",
			r.Approvals, MaxApprovals, DefaultApprovals, ErrBadRule)
	}
	return nil
}

func (r Rule) needed() int {
	if r.Approvals == 0 {
		return DefaultApprovals
	}
	return r.Approvals
}

// Proposal is a change of the control plane's policy: the whole new set,
// not a patch. A whole set is what every node loads anyway, what the
// signatures cover and what the what-if replay decides with; it makes
// rollback a proposal like any other (the set of an earlier version) and
// leaves no merge rule to disagree about. Policy sets are small (tens of
// documents), so the size of a whole set costs nothing.
type Proposal struct {
	ID       string    // unique, chosen by the proposer (for example a UUID)
	Proposer string    // client id of the officer who proposes
	Reason   string    // why, in the officer's words; required
	Base     uint64    // the version the proposal was made against
	Set      *Set      // the whole proposed set; for a rollback, filled in by Rollback
	Time     time.Time // when proposed, as the signed event says
	// RollbackTo is the earlier version a rollback restores; 0 otherwise.
	RollbackTo uint64
	// Change is a governed change other than the policy set (a client
	// enrolment or disablement), which the caller puts through the same
	// lifecycle and approval rule. The ledger carries it unread and hands
	// it back in the Version it becomes; the caller applies it then. Set
	// is the base version's set, unchanged.
	Change any
	// ChangeWidenings is the caller's classification of Change: the
	// access it gives, one "widen: ..." sentence each. Any makes the
	// proposal widen (N officers); a Change with none narrows, so one
	// officer may apply it with NarrowNow.
	ChangeWidenings []string
}

// State is where a proposal is in its lifecycle.
type State int

// The proposal states. Pending is the only state that moves:
//
//	Pending --N officers approve--> Applied
//	Pending --narrow now----------> Applied (narrowing only, one officer)
//	Pending --an officer rejects--> Rejected
//	Pending --approved on a stale base--> Superseded
const (
	Pending State = iota
	Applied
	Rejected
	Superseded
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Applied:
		return "applied"
	case Rejected:
		return "rejected"
	default:
		return "superseded"
	}
}

// Approval is one officer's consent to a proposal (the proposer's is the
// first) or the officer's rejection of it.
type Approval struct {
	Officer string
	Reason  string
	Time    time.Time
}

// Status is a proposal as the ledger holds it.
type Status struct {
	Proposal
	State          State
	Classification Classification // against the base version
	Approvals      []Approval     // proposer first, in order
	Rejection      *Approval      // who rejected and why; nil unless Rejected
	Version        uint64         // the version it became; 0 unless Applied
}

// Version is one applied version of the control plane's policy.
type Version struct {
	Number    uint64
	Set       *Set
	Proposal  string   // id of the proposal it applied; "" for the seed
	Officers  []string // the proposer, then the approvers, in order
	Reason    string   // the proposer's reason
	Effect    Effect
	Time      time.Time // when it was applied, as the deciding event says
	Rollback  uint64    // the earlier version it restored; 0 if none
	Narrowing bool      // applied by one officer at once ("narrow now")
	Change    any       // the proposal's Change, for the caller to apply; nil for a policy change
}

// StepKind names one step of the lifecycle, for the audit log.
type StepKind string

// The steps. Every successful call of a Ledger method records one step,
// and one more (StepApply) when it applies a version.
const (
	StepSeed      StepKind = "seed"
	StepPropose   StepKind = "propose"
	StepApprove   StepKind = "approve"
	StepReject    StepKind = "reject"
	StepNarrow    StepKind = "narrow"
	StepApply     StepKind = "apply"
	StepSupersede StepKind = "supersede"
)

// Step is one audit entry of the lifecycle: who did what to which
// proposal and why.
type Step struct {
	Kind     StepKind
	Proposal string // "" for the seed
	Officer  string // "" for apply and supersede, which no officer does
	Reason   string
	Version  uint64 // the version applied (apply, seed, narrow), else the current one
	Effect   Effect
	Time     time.Time
}

// Ledger is the governance state machine of the control plane: the
// applied versions, numbered 1, 2, 3, ... and the proposals. It does no
// I/O and reads no clock: every time comes from the event that caused the
// step. Fed the same verified events in the same order, every node's
// Ledger reaches the same versions; feed it the control-plane topic in
// offset order. It is not safe for concurrent use: one goroutine applies
// the events and publishes Current through an atomic pointer.
//
// The ledger trusts its caller for who is an officer: the caller verifies
// each event's signatures and that every signer has the officer role
// before calling, and passes the verified client ids.
type Ledger struct {
	rule      Rule
	versions  []Version // versions[i].Number == i+1
	proposals map[string]*Status
	steps     []Step
}

// NewLedger returns an empty ledger (version 0: no policy, every request
// denied) with the approval rule r.
func NewLedger(r Rule) (*Ledger, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &Ledger{rule: r, proposals: map[string]*Status{}}, nil
}

// Current returns the number and the set of the current version; 0 and
// nil before the first.
func (l *Ledger) Current() (uint64, *Set) {
	if len(l.versions) == 0 {
		return 0, nil
	}
	v := l.versions[len(l.versions)-1]
	return v.Number, v.Set
}

// Versions lists the applied versions, oldest first. The Sets are shared
// (they are immutable); the slices are copies.
func (l *Ledger) Versions() []Version {
	out := slices.Clone(l.versions)
	for i := range out {
		out[i].Officers = slices.Clone(out[i].Officers)
	}
	return out
}

// Proposal returns the status of one proposal.
func (l *Ledger) Proposal(id string) (Status, bool) {
	s, ok := l.proposals[id]
	if !ok {
		return Status{}, false
	}
	return s.copy(), true
}

// Pending lists the pending proposals, sorted by id.
func (l *Ledger) Pending() []Status {
	var out []Status
	for _, s := range l.proposals {
		if s.State == Pending {
			out = append(out, s.copy())
		}
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Steps lists every step so far, in order: the audit trail of the
// lifecycle.
func (l *Ledger) Steps() []Step { return slices.Clone(l.steps) }

func (s *Status) copy() Status {
	c := *s
	c.Approvals = slices.Clone(s.Approvals)
	if s.Rejection != nil {
		r := *s.Rejection
		c.Rejection = &r
	}
	c.Classification.Widenings = slices.Clone(s.Classification.Widenings)
	c.Classification.Changes = slices.Clone(s.Classification.Changes)
	return c
}

// Seed makes set version 1 of an empty ledger: the files a node was
// started with, on a cluster that has no control-plane state yet. It
// needs no approval, because whoever starts the first node already
// controls the configuration.
func (l *Ledger) Seed(set *Set, at time.Time) error {
	if set == nil {
		return fmt.Errorf("seed policy: no set: %w", ErrBadProposal)
	}
	if len(l.versions) > 0 {
		return fmt.Errorf("seed policy: at version %d: %w", len(l.versions), ErrAlreadySeeded)
	}
	l.versions = append(l.versions, Version{Number: 1, Set: set, Reason: "seeded from files", Effect: Widens, Time: at})
	l.steps = append(l.steps, Step{Kind: StepSeed, Reason: "seeded from files", Version: 1, Effect: Widens, Time: at})
	return nil
}

// Propose records p as pending, with its proposer as the first of the N
// officers it needs, classified against its base. With N = 1 it is
// applied at once. It fails with ErrBadProposal, ErrDuplicateProposal,
// ErrUnknownVersion (a base ahead of the ledger) or ErrStaleBase (a base
// behind the current version).
func (l *Ledger) Propose(p Proposal) (Status, error) {
	st, err := l.admit(p)
	if err != nil {
		return Status{}, err
	}
	l.proposals[p.ID] = st
	l.steps = append(l.steps, Step{Kind: StepPropose, Proposal: p.ID, Officer: p.Proposer, Reason: p.Reason,
		Version: p.Base, Effect: st.Classification.Effect, Time: p.Time})
	if len(st.Approvals) >= l.rule.needed() {
		l.apply(st, p.Time, false)
	}
	return st.copy(), nil
}

// admit checks p against the ledger and classifies it.
func (l *Ledger) admit(p Proposal) (*Status, error) {
	cur, set := l.Current()
	switch {
	case p.ID == "" || p.Proposer == "" || p.Reason == "" || p.Set == nil:
		return nil, fmt.Errorf("propose policy %q: id, proposer, reason and set are required: %w", p.ID, ErrBadProposal)
	case l.proposals[p.ID] != nil:
		return nil, fmt.Errorf("propose policy %q: %w", p.ID, ErrDuplicateProposal)
	case p.Base > cur:
		return nil, fmt.Errorf("propose policy %q: base version %d, the ledger is at %d: %w", p.ID, p.Base, cur, ErrUnknownVersion)
	case p.Base < cur:
		return nil, fmt.Errorf("propose policy %q: base version %d, current is %d: %w", p.ID, p.Base, cur, ErrStaleBase)
	}
	c := Classify(set, p.Set)
	if p.Change != nil {
		c = classifyChange(c, p.ChangeWidenings)
	}
	return &Status{Proposal: p, State: Pending, Classification: c,
		Approvals: []Approval{{Officer: p.Proposer, Reason: p.Reason, Time: p.Time}}}, nil
}

// classifyChange adds a Change's own classification to that of its set.
func classifyChange(c Classification, widenings []string) Classification {
	switch {
	case len(widenings) > 0:
		c.Effect = Widens
		c.Widenings = append(slices.Clone(c.Widenings), widenings...)
		slices.Sort(c.Widenings)
	case c.Effect == Unchanged:
		c.Effect = Narrows
	}
	return c
}

// NarrowNow applies p at once on the word of its proposer alone, if
// Classify proves that it only narrows access (or changes nothing): the
// incident-response path. A change that widens anything fails with
// ErrWidens and is not recorded; propose it instead. Other errors as
// Propose.
func (l *Ledger) NarrowNow(p Proposal) (Status, error) {
	st, err := l.admit(p)
	if err != nil {
		return Status{}, fmt.Errorf("narrow now: %w", err)
	}
	if st.Classification.Effect == Widens {
		return Status{}, fmt.Errorf("narrow now %q: %d widenings, first %q: %w",
			p.ID, len(st.Classification.Widenings), st.Classification.Widenings[0], ErrWidens)
	}
	l.proposals[p.ID] = st
	l.steps = append(l.steps, Step{Kind: StepNarrow, Proposal: p.ID, Officer: p.Proposer, Reason: p.Reason,
		Version: p.Base, Effect: st.Classification.Effect, Time: p.Time})
	l.apply(st, p.Time, true)
	return st.copy(), nil
}

// Rollback proposes restoring the set of an earlier version: p.Set is
// replaced by that version's set and p.RollbackTo set to it. The result
// is an ordinary proposal, classified against the current version: a
// rollback that only narrows may go through NarrowNow, one that widens
// needs N officers like any other change. It fails with ErrUnknownVersion
// for a version the ledger never applied, otherwise as Propose.
func (l *Ledger) Rollback(p Proposal, to uint64) (Status, error) {
	if to == 0 || to > uint64(len(l.versions)) {
		return Status{}, fmt.Errorf("roll back policy to %d: %w", to, ErrUnknownVersion)
	}
	p.Set, p.RollbackTo = l.versions[to-1].Set, to
	return l.Propose(p)
}

// RollbackNow is Rollback through NarrowNow: it restores an earlier
// version at once when that only narrows access.
func (l *Ledger) RollbackNow(p Proposal, to uint64) (Status, error) {
	if to == 0 || to > uint64(len(l.versions)) {
		return Status{}, fmt.Errorf("roll back policy to %d: %w", to, ErrUnknownVersion)
	}
	p.Set, p.RollbackTo = l.versions[to-1].Set, to
	return l.NarrowNow(p)
}

// Approve records officer's approval of a pending proposal; when it
// brings the distinct officers to N, the proposal is applied and becomes
// the next version. It fails with ErrUnknownProposal, ErrNotPending,
// ErrSelfApproval (the proposer), ErrAlreadyApproved, or ErrStaleBase
// when the approval would apply a proposal whose base is no longer
// current: the approval is not recorded and the proposal becomes
// Superseded.
func (l *Ledger) Approve(id, officer, reason string, at time.Time) (Status, error) {
	st, err := l.pending(id, officer, reason, "approve")
	if err != nil {
		return Status{}, err
	}
	switch {
	case officer == st.Proposer:
		return Status{}, fmt.Errorf("approve policy %q: %s proposed it: %w", id, officer, ErrSelfApproval)
	case slices.ContainsFunc(st.Approvals, func(a Approval) bool { return a.Officer == officer }):
		return Status{}, fmt.Errorf("approve policy %q: %s: %w", id, officer, ErrAlreadyApproved)
	}
	if cur, _ := l.Current(); st.Base != cur {
		st.State = Superseded
		l.steps = append(l.steps, Step{Kind: StepSupersede, Proposal: id, Reason: fmt.Sprintf("version %d was applied since", cur),
			Version: cur, Effect: st.Classification.Effect, Time: at})
		return Status{}, fmt.Errorf("approve policy %q: base version %d, current is %d: %w", id, st.Base, cur, ErrStaleBase)
	}
	st.Approvals = append(st.Approvals, Approval{Officer: officer, Reason: reason, Time: at})
	l.steps = append(l.steps, Step{Kind: StepApprove, Proposal: id, Officer: officer, Reason: reason,
		Version: st.Base, Effect: st.Classification.Effect, Time: at})
	if len(st.Approvals) >= l.rule.needed() {
		l.apply(st, at, false)
	}
	return st.copy(), nil
}

// Reject ends a pending proposal; any officer may, its proposer included
// (withdrawing it). It fails with ErrBadProposal (no officer or reason),
// ErrUnknownProposal or ErrNotPending.
func (l *Ledger) Reject(id, officer, reason string, at time.Time) (Status, error) {
	st, err := l.pending(id, officer, reason, "reject")
	if err != nil {
		return Status{}, err
	}
	st.State = Rejected
	st.Rejection = &Approval{Officer: officer, Reason: reason, Time: at}
	cur, _ := l.Current()
	l.steps = append(l.steps, Step{Kind: StepReject, Proposal: id, Officer: officer, Reason: reason,
		Version: cur, Effect: st.Classification.Effect, Time: at})
	return st.copy(), nil
}

func (l *Ledger) pending(id, officer, reason, op string) (*Status, error) {
	st := l.proposals[id]
	switch {
	case officer == "" || reason == "":
		return nil, fmt.Errorf("%s policy %q: officer and reason are required: %w", op, id, ErrBadProposal)
	case st == nil:
		return nil, fmt.Errorf("%s policy %q: %w", op, id, ErrUnknownProposal)
	case st.State != Pending:
		return nil, fmt.Errorf("%s policy %q: it is %s: %w", op, id, st.State, ErrNotPending)
	}
	return st, nil
}

func (l *Ledger) apply(st *Status, at time.Time, narrowing bool) {
	n := uint64(len(l.versions)) + 1
	officers := make([]string, len(st.Approvals))
	for i, a := range st.Approvals {
		officers[i] = a.Officer
	}
	l.versions = append(l.versions, Version{Number: n, Set: st.Set, Proposal: st.ID, Officers: officers,
		Reason: st.Reason, Effect: st.Classification.Effect, Time: at, Rollback: st.RollbackTo, Narrowing: narrowing, Change: st.Change})
	st.State, st.Version = Applied, n
	l.steps = append(l.steps, Step{Kind: StepApply, Proposal: st.ID, Reason: st.Reason, Version: n,
		Effect: st.Classification.Effect, Time: at})
}
