package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultWhatIfWindow is how far back WhatIf replays when given no window.
const DefaultWhatIfWindow = 30 * 24 * time.Hour

// Recorded is one query decision as the audit log records it: an entry of
// kind query (a permit) or deny (a policy refusal). The caller converts
// audit entries to Recorded and leaves out refusals a policy did not
// decide (rate limits, bad input, unknown subjects): the replay cannot
// know whether those would pass now.
type Recorded struct {
	Time      time.Time
	Consumer  string
	Dataset   string
	Purpose   string
	CaseID    string   // "" when the query had none
	Permitted bool     // the exchange answered with data
	Fields    []string // the fields released, when Permitted
	Code      string   // the refusal code, when not Permitted; for display only
	// Procedure and CaseRole name the case-bundle item this was (audit
	// members procedure and case_role): its release was narrowed to the
	// fields the procedure's evidence names for the role, so the replay
	// narrows the same way under the proposed set; an item the proposed
	// catalogue no longer has counts as refused. SubjectField is the
	// dataset's subject field, which a release carries on top of those
	// fields when the policy lists it.
	Procedure, CaseRole, SubjectField string
}

// FieldCount counts answers in which one field of one dataset appears or
// disappears.
type FieldCount struct {
	Dataset, Field string
	Answers        int
}

// Impact is what a proposed set would change for one consumer.
type Impact struct {
	Consumer string
	Answers  int // decisions of the consumer replayed
	Changed  int // answers that would differ: NewlyRefused + NewlyPermitted + FieldsChanged
	// NewlyRefused: answered with data then, refused under the proposal.
	NewlyRefused int
	// NewlyPermitted: refused then, answered under the proposal.
	NewlyPermitted int
	// FieldsChanged: answered both times, with different fields.
	FieldsChanged int
	// NeedConsent: answers under the proposal with fields released only
	// while the citizen's consent is in force (Decision.ConsentFields);
	// the replay cannot know whether it was, and counts them as released.
	NeedConsent int
	Gained      []FieldCount // fields that would appear, by dataset and field
	Lost        []FieldCount // fields that would disappear, by dataset and field
}

// Report is the result of WhatIf.
type Report struct {
	From, To  time.Time // the window replayed, both ends inclusive
	Replayed  int       // decisions inside the window
	Outside   int       // decisions left out, outside the window
	Changed   int       // answers that would differ
	Consumers []Impact  // one per consumer with replayed decisions, sorted
}

// WhatIf re-decides the recorded decisions of the window [to-window, to]
// under proposed, each at the time it was made, and reports how many
// answers would change, by consumer and field. A zero window means
// DefaultWhatIfWindow. Under the proposal a query is refused as the
// exchange would refuse it: a purpose the set does not declare, a case id
// not in its purpose's format (CheckCaseID), or Decide's denial.
// Refusals are not told apart by code: a query refused before and after
// is unchanged.
func WhatIf(records []Recorded, proposed *Set, to time.Time, window time.Duration) Report {
	if window <= 0 {
		window = DefaultWhatIfWindow
	}
	r := Report{From: to.Add(-window), To: to}
	type acc struct {
		Impact
		gained, lost map[[2]string]int
	}
	byConsumer := map[string]*acc{}
	for _, rec := range records {
		if rec.Time.Before(r.From) || rec.Time.After(r.To) {
			r.Outside++
			continue
		}
		r.Replayed++
		a := byConsumer[rec.Consumer]
		if a == nil {
			a = &acc{Impact: Impact{Consumer: rec.Consumer}, gained: map[[2]string]int{}, lost: map[[2]string]int{}}
			byConsumer[rec.Consumer] = a
		}
		a.Answers++
		permitted, fields, consent := redecide(proposed, rec)
		if permitted && consent {
			a.NeedConsent++
		}
		var before []string
		if rec.Permitted {
			before = rec.Fields
		}
		gained, lost := setMinus(fields, before), setMinus(before, fields)
		switch {
		case rec.Permitted && !permitted:
			a.NewlyRefused++
		case !rec.Permitted && permitted:
			a.NewlyPermitted++
		case rec.Permitted && (len(gained) > 0 || len(lost) > 0):
			a.FieldsChanged++
		default:
			continue
		}
		a.Changed++
		r.Changed++
		for _, f := range gained {
			a.gained[[2]string{rec.Dataset, f}]++
		}
		for _, f := range lost {
			a.lost[[2]string{rec.Dataset, f}]++
		}
	}
	for _, a := range byConsumer {
		a.Gained, a.Lost = fieldCounts(a.gained), fieldCounts(a.lost)
		r.Consumers = append(r.Consumers, a.Impact)
	}
	slices.SortFunc(r.Consumers, func(x, y Impact) int { return strings.Compare(x.Consumer, y.Consumer) })
	return r
}

// redecide answers rec under s as the exchange would.
func redecide(s *Set, rec Recorded) (permitted bool, fields []string, consent bool) {
	if !s.KnownPurpose(rec.Purpose) || s.CheckCaseID(rec.Purpose, rec.CaseID) != nil {
		return false, nil, false
	}
	d := s.Decide(Request{Consumer: rec.Consumer, Dataset: rec.Dataset, Purpose: rec.Purpose, CaseID: rec.CaseID, Time: rec.Time})
	if !d.Allowed {
		return false, nil, false
	}
	if rec.Procedure == "" {
		return true, d.Fields, d.RequiresConsent
	}
	// A case item: the procedure's fields for the role, refused when the
	// policy releases none of them (as the query refuses it), and the
	// subject field where the policy lists it.
	p, ok := s.Procedure(rec.Procedure)
	if !ok || p.Service != rec.Consumer {
		return false, nil, false
	}
	for _, ev := range p.Evidence {
		if ev.Dataset != rec.Dataset || ev.Role != rec.CaseRole {
			continue
		}
		var fields []string
		procedure := false
		for _, f := range d.Fields {
			inProcedure := slices.Contains(ev.Fields, f)
			if inProcedure || f == rec.SubjectField {
				fields = append(fields, f)
			}
			procedure = procedure || inProcedure
		}
		if !procedure {
			return false, nil, false
		}
		return true, fields, d.RequiresConsent
	}
	return false, nil, false
}

// setMinus returns the distinct members of a not in b, sorted.
func setMinus(a, b []string) []string {
	var out []string
	for _, f := range a {
		if !slices.Contains(b, f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func fieldCounts(m map[[2]string]int) []FieldCount {
	out := make([]FieldCount, 0, len(m))
	for k, n := range m {
		out = append(out, FieldCount{Dataset: k[0], Field: k[1], Answers: n})
	}
	slices.SortFunc(out, func(x, y FieldCount) int {
		return cmp.Or(strings.Compare(x.Dataset, y.Dataset), strings.Compare(x.Field, y.Field))
	})
	return out
}

// String renders the report as stable lines, for officers and golden
// files.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "what-if %s .. %s: %d decisions replayed, %d outside the window, %d answers would change\n",
		r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Replayed, r.Outside, r.Changed)
	for _, c := range r.Consumers {
		fmt.Fprintf(&b, "%s: %d answers, %d would change (%d newly refused, %d newly permitted, %d with other fields), %d would need consent\n",
			c.Consumer, c.Answers, c.Changed, c.NewlyRefused, c.NewlyPermitted, c.FieldsChanged, c.NeedConsent)
		for _, f := range c.Gained {
			fmt.Fprintf(&b, "  gains %s.%s in %d %s\n", f.Dataset, f.Field, f.Answers, plural(f.Answers, "answer", "answers"))
		}
		for _, f := range c.Lost {
			fmt.Fprintf(&b, "  loses %s.%s in %d %s\n", f.Dataset, f.Field, f.Answers, plural(f.Answers, "answer", "answers"))
		}
	}
	return b.String()
}
