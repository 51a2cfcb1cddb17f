package policy

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// govSets are the base set of the classification cases and two changes
// of it: one that widens (school enrolment gains household_id) and one
// that narrows (it loses birth_date).
func govSets(t *testing.T) (base, wide, narrow *Set) {
	t.Helper()
	raw, err := os.ReadFile("testdata/classify/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base = parseEdited(t, string(raw), nil)
	wide = parseEdited(t, string(raw), []edit{{"fields: [name, birth_date, address]", "fields: [name, birth_date, address, household_id]"}})
	narrow = parseEdited(t, string(raw), []edit{{"fields: [name, birth_date, address]", "fields: [name, address]"}})
	return base, wide, narrow
}

func seeded(t *testing.T, r Rule, base *Set) *Ledger {
	t.Helper()
	l, err := NewLedger(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Seed(base, t0); err != nil {
		t.Fatal(err)
	}
	return l
}

func prop(id, officer string, base uint64, set *Set) Proposal {
	return Proposal{ID: id, Proposer: officer, Reason: "because " + id, Base: base, Set: set, Time: t0}
}

func TestLedgerLifecycle(t *testing.T) {
	base, wide, narrow := govSets(t)
	tests := []struct {
		name        string
		rule        Rule
		run         func(l *Ledger) error // the last step, whose error is checked
		wantErr     error
		wantVersion uint64 // current version after run
		wantSet     *Set   // current set after run
	}{
		{"proposing alone applies nothing", Rule{}, func(l *Ledger) error {
			_, err := l.Propose(prop("p1", "alice", 1, wide))
			return err
		}, nil, 1, base},
		{"a second officer applies a widening", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			_, err := l.Approve("p1", "bob", "looked at the what-if", t0)
			return err
		}, nil, 2, wide},
		{"self-approval refused", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			_, err := l.Approve("p1", "alice", "me again", t0)
			return err
		}, ErrSelfApproval, 1, base},
		{"second approval by one officer refused", Rule{Approvals: 3}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			if _, err := l.Approve("p1", "bob", "ok", t0); err != nil {
				return err
			}
			_, err := l.Approve("p1", "bob", "ok again", t0)
			return err
		}, ErrAlreadyApproved, 1, base},
		{"three officers when the rule says three", Rule{Approvals: 3}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			l.Approve("p1", "bob", "ok", t0)
			_, err := l.Approve("p1", "carol", "ok", t0)
			return err
		}, nil, 2, wide},
		{"one officer when the rule says one", Rule{Approvals: 1}, func(l *Ledger) error {
			_, err := l.Propose(prop("p1", "alice", 1, wide))
			return err
		}, nil, 2, wide},
		{"one officer cannot widen now", Rule{}, func(l *Ledger) error {
			_, err := l.NarrowNow(prop("p1", "alice", 1, wide))
			return err
		}, ErrWidens, 1, base},
		{"one officer narrows now", Rule{}, func(l *Ledger) error {
			_, err := l.NarrowNow(prop("p1", "alice", 1, narrow))
			return err
		}, nil, 2, narrow},
		{"a narrowing may also go through approval", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, narrow))
			_, err := l.Approve("p1", "bob", "ok", t0)
			return err
		}, nil, 2, narrow},
		{"rejected proposal cannot be approved", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			if _, err := l.Reject("p1", "bob", "too wide", t0); err != nil {
				return err
			}
			_, err := l.Approve("p1", "carol", "ok", t0)
			return err
		}, ErrNotPending, 1, base},
		{"applied proposal cannot be rejected", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			l.Approve("p1", "bob", "ok", t0)
			_, err := l.Reject("p1", "carol", "late", t0)
			return err
		}, ErrNotPending, 2, wide},
		{"approval of a stale proposal refused", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			l.Propose(prop("p2", "carol", 1, narrow))
			l.Approve("p1", "bob", "ok", t0)
			_, err := l.Approve("p2", "bob", "ok", t0)
			return err
		}, ErrStaleBase, 2, wide},
		{"proposal against a stale base refused", Rule{}, func(l *Ledger) error {
			l.NarrowNow(prop("p1", "alice", 1, narrow))
			_, err := l.Propose(prop("p2", "bob", 1, wide))
			return err
		}, ErrStaleBase, 2, narrow},
		{"narrowing against a stale base refused", Rule{}, func(l *Ledger) error {
			l.NarrowNow(prop("p1", "alice", 1, narrow))
			_, err := l.NarrowNow(prop("p2", "bob", 1, narrow))
			return err
		}, ErrStaleBase, 2, narrow},
		{"base ahead of the ledger refused", Rule{}, func(l *Ledger) error {
			_, err := l.Propose(prop("p1", "alice", 7, wide))
			return err
		}, ErrUnknownVersion, 1, base},
		{"replayed proposal id refused", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			_, err := l.Propose(prop("p1", "alice", 1, wide))
			return err
		}, ErrDuplicateProposal, 1, base},
		{"proposal without a reason refused", Rule{}, func(l *Ledger) error {
			p := prop("p1", "alice", 1, wide)
			p.Reason = ""
			_, err := l.Propose(p)
			return err
		}, ErrBadProposal, 1, base},
		{"approval without a reason refused", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			_, err := l.Approve("p1", "bob", "", t0)
			return err
		}, ErrBadProposal, 1, base},
		{"unknown proposal", Rule{}, func(l *Ledger) error {
			_, err := l.Approve("nope", "bob", "ok", t0)
			return err
		}, ErrUnknownProposal, 1, base},
		{"rollback of a widening applies at once", Rule{}, func(l *Ledger) error {
			l.Propose(prop("p1", "alice", 1, wide))
			l.Approve("p1", "bob", "ok", t0)
			_, err := l.RollbackNow(prop("r1", "carol", 2, nil), 1)
			return err
		}, nil, 3, base},
		{"rollback of a narrowing needs approval", Rule{}, func(l *Ledger) error {
			l.NarrowNow(prop("p1", "alice", 1, narrow))
			_, err := l.RollbackNow(prop("r1", "alice", 2, nil), 1)
			return err
		}, ErrWidens, 2, narrow},
		{"rollback of a narrowing approved", Rule{}, func(l *Ledger) error {
			l.NarrowNow(prop("p1", "alice", 1, narrow))
			l.Rollback(prop("r1", "alice", 2, nil), 1)
			_, err := l.Approve("r1", "bob", "incident over", t0)
			return err
		}, nil, 3, base},
		{"rollback to a version never applied", Rule{}, func(l *Ledger) error {
			_, err := l.Rollback(prop("r1", "alice", 1, nil), 5)
			return err
		}, ErrUnknownVersion, 1, base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := seeded(t, tt.rule, base)
			err := tt.run(l)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			v, set := l.Current()
			if v != tt.wantVersion || set != tt.wantSet {
				t.Errorf("current version %d (%s), want %d (%s)", v, set.Version(), tt.wantVersion, tt.wantSet.Version())
			}
			if got := len(l.Versions()); uint64(got) != tt.wantVersion {
				t.Errorf("%d versions, want %d", got, tt.wantVersion)
			}
		})
	}
}

func TestLedgerRecordsOfficersAndSteps(t *testing.T) {
	base, wide, narrow := govSets(t)
	l := seeded(t, Rule{}, base)
	t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	p := prop("grant-household-id", "alice", 1, wide)
	st, err := l.Propose(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Pending || st.Classification.Effect != Widens || len(st.Approvals) != 1 {
		t.Fatalf("after propose: %+v", st)
	}
	if _, err := l.Approve(p.ID, "bob", "what-if shows 3 answers change", t1); err != nil {
		t.Fatal(err)
	}
	n := prop("incident-7", "carol", 2, narrow)
	n.Time = t2
	if _, err := l.NarrowNow(n); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Propose(Proposal{ID: "late", Proposer: "bob", Reason: "x", Base: 3, Set: wide, Time: t3}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reject("late", "alice", "not again", t3); err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Kind: StepSeed, Reason: "seeded from files", Version: 1, Effect: Widens, Time: t0},
		{Kind: StepPropose, Proposal: "grant-household-id", Officer: "alice", Reason: "because grant-household-id", Version: 1, Effect: Widens, Time: t0},
		{Kind: StepApprove, Proposal: "grant-household-id", Officer: "bob", Reason: "what-if shows 3 answers change", Version: 1, Effect: Widens, Time: t1},
		{Kind: StepApply, Proposal: "grant-household-id", Reason: "because grant-household-id", Version: 2, Effect: Widens, Time: t1},
		{Kind: StepNarrow, Proposal: "incident-7", Officer: "carol", Reason: "because incident-7", Version: 2, Effect: Narrows, Time: t2},
		{Kind: StepApply, Proposal: "incident-7", Reason: "because incident-7", Version: 3, Effect: Narrows, Time: t2},
		{Kind: StepPropose, Proposal: "late", Officer: "bob", Reason: "x", Version: 3, Effect: Widens, Time: t3},
		{Kind: StepReject, Proposal: "late", Officer: "alice", Reason: "not again", Version: 3, Effect: Widens, Time: t3},
	}
	if got := l.Steps(); !slices.Equal(got, want) {
		t.Errorf("steps\n got %+v\nwant %+v", got, want)
	}
	vs := l.Versions()
	if len(vs) != 3 || !slices.Equal(vs[1].Officers, []string{"alice", "bob"}) || vs[1].Narrowing ||
		!slices.Equal(vs[2].Officers, []string{"carol"}) || !vs[2].Narrowing || vs[2].Time != t2 {
		t.Errorf("versions %+v", vs)
	}
	if st, ok := l.Proposal("late"); !ok || st.State != Rejected || st.Rejection == nil || st.Rejection.Officer != "alice" {
		t.Errorf("late: %+v", st)
	}
	if len(l.Pending()) != 0 {
		t.Errorf("pending %+v", l.Pending())
	}
}

func TestLedgerDeterministic(t *testing.T) {
	// Two nodes fed the same events reach the same versions.
	base, wide, narrow := govSets(t)
	run := func() []string {
		l := seeded(t, Rule{}, base)
		l.Propose(prop("a", "alice", 1, wide))
		l.Propose(prop("b", "bob", 1, narrow))
		l.Approve("b", "carol", "ok", t0)
		l.Approve("a", "bob", "ok", t0) // stale now
		l.Rollback(prop("c", "alice", 2, nil), 1)
		l.Approve("c", "carol", "ok", t0)
		var out []string
		for _, v := range l.Versions() {
			out = append(out, v.Set.Version())
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) || len(a) != 3 || a[2] != base.Version() {
		t.Errorf("node A %v, node B %v", a, b)
	}
}

func TestRuleAndSeed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rule    Rule
		wantErr error
	}{
		{"default", Rule{}, nil},
		{"one", Rule{Approvals: 1}, nil},
		{"max", Rule{Approvals: MaxApprovals}, nil},
		{"negative", Rule{Approvals: -1}, ErrBadRule},
		{"too many", Rule{Approvals: MaxApprovals + 1}, ErrBadRule},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLedger(tt.rule)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("NewLedger(%+v) = %v, want %v", tt.rule, err, tt.wantErr)
			}
		})
	}
	base, _, _ := govSets(t)
	l, _ := NewLedger(Rule{})
	if v, s := l.Current(); v != 0 || s != nil {
		t.Errorf("empty ledger at %d", v)
	}
	if err := l.Seed(base, t0); err != nil {
		t.Fatal(err)
	}
	if err := l.Seed(base, t0); !errors.Is(err, ErrAlreadySeeded) {
		t.Errorf("second seed: %v, want ErrAlreadySeeded", err)
	}
}
