package policy

import (
	"errors"
	"reflect"
	"testing"
)

// TestLedgerChange: a Change rides the lifecycle unread. One with
// widenings needs N officers and cannot be narrowed in; one without is
// applied by one officer at once. Either becomes a version with the base
// set and hands its Change back.
func TestLedgerChange(t *testing.T) {
	set, _, _ := govSets(t)
	at := t0
	l := seeded(t, Rule{}, set)
	enrol := Proposal{ID: "enrol", Proposer: "officer-a", Reason: "new service", Base: 1, Set: set, Time: at,
		Change: "add school-meals", ChangeWidenings: []string{"widen: client school-meals enrolled as consumer"}}
	if _, err := l.NarrowNow(enrol); !errors.Is(err, ErrWidens) {
		t.Fatalf("NarrowNow of an enrolment: %v, want ErrWidens", err)
	}
	st, err := l.Propose(enrol)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Pending || st.Classification.Effect != Widens || !reflect.DeepEqual(st.Classification.Widenings, enrol.ChangeWidenings) {
		t.Fatalf("proposed enrolment: %+v", st)
	}
	if _, err := l.Approve("enrol", "officer-b", "checked", at); err != nil {
		t.Fatal(err)
	}
	disable := Proposal{ID: "off", Proposer: "officer-b", Reason: "incident", Base: 2, Set: set, Time: at, Change: "disable school-meals"}
	if _, err := l.NarrowNow(disable); err != nil {
		t.Fatalf("NarrowNow of a disablement: %v", err)
	}
	vs := l.Versions()
	type brief struct {
		Number    uint64
		Change    any
		Effect    Effect
		Narrowing bool
		Same      bool
	}
	var got []brief
	for _, v := range vs {
		got = append(got, brief{v.Number, v.Change, v.Effect, v.Narrowing, v.Set == set})
	}
	want := []brief{{1, nil, Widens, false, true}, {2, "add school-meals", Widens, false, true}, {3, "disable school-meals", Narrows, true, true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("versions %+v, want %+v", got, want)
	}
}
