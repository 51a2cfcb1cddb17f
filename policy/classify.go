package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Effect says what a change does to access, for the approval rule.
type Effect int

// The effects, from safest to least safe.
const (
	// Unchanged: the two sets are the same documents (same Version).
	Unchanged Effect = iota
	// Narrows: the change is proven to take access away or leave it as
	// it was; one officer may apply it at once ("narrow now").
	Narrows
	// Widens: the change gives some access, or the classifier cannot
	// prove that it does not; it needs the approval of N officers.
	Widens
)

func (e Effect) String() string {
	switch e {
	case Unchanged:
		return "unchanged"
	case Narrows:
		return "narrows"
	default:
		return "widens"
	}
}

// Classification is the verdict of Classify.
type Classification struct {
	Effect Effect
	// Widenings name every way the change widens access, one stable
	// sentence each starting with "widen:", sorted. Empty unless Effect
	// is Widens.
	Widenings []string
	// Changes is Diff(old, new): who gains or loses which fields, for
	// the reviewing officer.
	Changes []Change
}

// Classify decides whether going from old to new only narrows access or
// widens anything (either set may be nil, meaning no policy). It proves
// narrowing; whatever it cannot prove is a widening (default deny). The
// change narrows when every one of these holds:
//
//   - Read access: for every consumer, dataset, purpose and field that
//     an access policy of new grants (and no Forbid of new withholds), the
//     field was not withheld by a Forbid of old, and the access policies
//     of old granting that field for that purpose cover the new policy's
//     validity window at every instant, needing no condition (case id,
//     consent) that the new policy does not need.
//   - Publishing: every publisher grant of new is one of old, in the same
//     mode (replicated or live; a change of mode widens either way).
//   - Forbids: every (consumer, dataset, field) some Forbid of old
//     withholds is still withheld in new, unless no access policy of new
//     lets that consumer read the dataset at all; a Forbid for "*" or of
//     every field is matched only by one as wide. A removed forbid is a
//     widening even when no permit grants the field today: it was a
//     promise that no later permit would.
//   - Limits: a consumer limited in old and still granted something in
//     new is limited in new, no number is
//     higher or unbounded where it was bounded, and purposes that shared
//     a bucket still share one.
//   - Subscriptions: every field a Subscription of new pushes to a
//     consumer (after forbids), for a dataset and purpose, some
//     Subscription of old pushed to it for the same dataset and purpose.
//   - Case-id formats: a purpose with a caseIdPattern in old keeps the
//     same pattern (the classifier does not compare regular expressions);
//     adding a pattern narrows.
//
// Descriptions, document names and file layout do not matter.
func Classify(old, new *Set) Classification {
	c := Classification{Changes: Diff(old, new)}
	if old.Version() == new.Version() && old != nil && new != nil {
		c.Effect = Unchanged
		return c
	}
	var w []string
	w = append(w, widerReads(old, new)...)
	w = append(w, widerPublishes(old, new)...)
	w = append(w, removedForbids(old, new)...)
	w = append(w, widerLimits(old, new)...)
	w = append(w, widerCaseIDs(old, new)...)
	w = append(w, widerPushes(old, new)...)
	slices.Sort(w)
	c.Widenings = slices.Compact(w)
	c.Effect = Narrows
	if len(c.Widenings) > 0 {
		c.Effect = Widens
	}
	return c
}

func docsOf(s *Set) []Policy {
	if s == nil {
		return nil
	}
	return s.docs
}

func forbiddenIn(s *Set, consumer, dataset, field string) bool {
	return s != nil && s.forbidden(consumer, dataset, field)
}

// interval is a closed validity window; a zero end is unbounded.
type interval struct{ from, until time.Time }

// covers reports whether the union of ws covers w at every instant.
// Windows are closed; [a, b] and [b, c] together cover [a, c], while
// [a, b] and [b+1s, c] leave the instants between b and b+1s uncovered.
func covers(ws []interval, w interval) bool {
	slices.SortFunc(ws, func(a, b interval) int {
		switch {
		case a.from.IsZero() && b.from.IsZero():
			return 0
		case a.from.IsZero():
			return -1
		case b.from.IsZero():
			return 1
		}
		return a.from.Compare(b.from)
	})
	// Every instant of w up to cur is covered once ok is true; a zero
	// cur with ok false is w's unbounded start.
	cur, ok := w.from, false
	for _, x := range ws {
		startsInTime := x.from.IsZero() || (!cur.IsZero() && !x.from.After(cur))
		if !startsInTime {
			break // a gap just after cur
		}
		if x.until.IsZero() {
			return true
		}
		if cur.IsZero() || !x.until.Before(cur) {
			ok = true
			if cur.IsZero() || x.until.After(cur) {
				cur = x.until
			}
		}
	}
	return ok && !w.until.IsZero() && !cur.Before(w.until)
}

func widerReads(old, new *Set) []string {
	var out []string
	for _, p := range docsOf(new) {
		if p.Kind != KindAccessPolicy {
			continue
		}
		for _, pu := range p.Purposes {
			for _, f := range p.Fields {
				if forbiddenIn(new, p.Consumer, p.Dataset, f) {
					continue
				}
				if forbiddenIn(old, p.Consumer, p.Dataset, f) {
					out = append(out, fmt.Sprintf("widen: %s may read %s of %s for %s, which a forbid withheld",
						p.Consumer, f, p.Dataset, pu))
					continue
				}
				var ws []interval
				for _, o := range docsOf(old) {
					if o.Kind == KindAccessPolicy && o.Consumer == p.Consumer && o.Dataset == p.Dataset &&
						slices.Contains(o.Purposes, pu) && slices.Contains(o.Fields, f) &&
						(!o.RequireCaseID || p.RequireCaseID) && (!o.RequireConsent || p.RequireConsent) {
						ws = append(ws, interval{o.ValidFrom, o.ValidUntil})
					}
				}
				if !covers(ws, interval{p.ValidFrom, p.ValidUntil}) {
					out = append(out, fmt.Sprintf("widen: %s may read %s of %s for %s (policy %s%s)",
						p.Consumer, f, p.Dataset, pu, p.Name, withCondition(condition(p))))
				}
			}
		}
	}
	return out
}

func withCondition(c string) string {
	if c == "" {
		return ""
	}
	return ", " + c
}

func widerPublishes(old, new *Set) []string {
	var out []string
	o := publishes(old)
	for k := range publishes(new) {
		if !o[k] {
			out = append(out, fmt.Sprintf("widen: %s may publish %s", k.subject, k.dataset))
		}
	}
	return out
}

func removedForbids(old, new *Set) []string {
	var out []string
	for _, f := range docsOf(old) {
		if f.Kind != KindForbid || !grantsDataset(new, f.Consumer, f.Dataset) {
			continue // nothing of the dataset is readable, so the forbid guarded nothing
		}
		for _, fld := range f.Fields {
			kept := false
			for _, g := range docsOf(new) {
				if g.Kind == KindForbid && g.Dataset == f.Dataset &&
					(g.Consumer == Wildcard || g.Consumer == f.Consumer) &&
					(slices.Contains(g.Fields, Wildcard) || slices.Contains(g.Fields, fld)) {
					kept = true
					break
				}
			}
			if !kept {
				out = append(out, fmt.Sprintf("widen: forbid %s no longer withholds %s of %s from %s",
					f.Name, fld, f.Dataset, f.Consumer))
			}
		}
	}
	return out
}

// grantsDataset reports whether an access policy of s lets consumer (any
// consumer for "*") read some field of dataset.
func grantsDataset(s *Set, consumer, dataset string) bool {
	for _, p := range docsOf(s) {
		if p.Kind == KindAccessPolicy && p.Dataset == dataset && (consumer == Wildcard || p.Consumer == consumer) {
			return true
		}
	}
	return false
}

func widerLimits(old, new *Set) []string {
	if old == nil {
		return nil
	}
	var out []string
	purposes := map[string][]string{} // consumer to the purposes either set lists for it
	for _, s := range []*Set{old, new} {
		for _, d := range docsOf(s) {
			if d.Kind == KindAccessPolicy {
				purposes[d.Consumer] = append(purposes[d.Consumer], d.Purposes...)
			}
		}
	}
	for consumer, pus := range purposes {
		if _, _, ok := old.Limits(consumer, ""); !ok || !grantsAny(new, consumer) {
			continue // not limited before, or no access left: nothing to widen
		}
		slices.Sort(pus)
		pus = append([]string{""}, slices.Compact(pus)...) // "" probes the shared bucket
		oldBucket := map[string]string{}                   // old bucket to the new bucket its purposes went to
		for _, pu := range pus {
			lo, bo, _ := old.Limits(consumer, pu)
			ln, bn, ok := new.Limits(consumer, pu)
			what := "purpose " + pu
			if pu == "" {
				what = "other purposes"
			}
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("widen: %s is no longer limited", consumer))
				continue
			case higher(lo.PerSecond, ln.PerSecond):
				out = append(out, fmt.Sprintf("widen: %s rate for %s rises from %s to %s", consumer, what, orNone(lo.Rate), orNone(ln.Rate)))
			}
			if higher(float64(lo.Burst), float64(ln.Burst)) {
				out = append(out, fmt.Sprintf("widen: %s burst for %s rises from %d to %s", consumer, what, lo.Burst, countOrNone(int64(ln.Burst))))
			}
			if higher(float64(lo.Daily), float64(ln.Daily)) {
				out = append(out, fmt.Sprintf("widen: %s daily quota for %s rises from %d to %s", consumer, what, lo.Daily, countOrNone(ln.Daily)))
			}
			if prev, seen := oldBucket[bo]; seen && prev != bn {
				out = append(out, fmt.Sprintf("widen: %s purposes that shared one limit now have their own", consumer))
			}
			oldBucket[bo] = bn
		}
	}
	return out
}

func grantsAny(s *Set, consumer string) bool {
	for _, p := range docsOf(s) {
		if p.Kind == KindAccessPolicy && p.Consumer == consumer {
			return true
		}
	}
	return false
}

// higher reports whether a bound went up: new is unbounded (0) where old
// was bounded, or greater.
func higher(old, new float64) bool {
	return old != 0 && (new == 0 || new > old)
}

func orNone(rate string) string { return cmp.Or(rate, "none") }

func countOrNone(n int64) string {
	if n == 0 {
		return "none"
	}
	return strconv.FormatInt(n, 10)
}

func widerCaseIDs(old, new *Set) []string {
	if old == nil {
		return nil
	}
	var out []string
	for pu, pat := range old.patterns {
		// A purpose no access policy of the new set lists reads nothing,
		// whatever its case ids look like.
		if np := new.patternOf(pu); np != pat && new.grantsPurpose(pu) {
			out = append(out, fmt.Sprintf("widen: case ids of %s need not match %s any more (now %s)",
				pu, pat, cmp.Or(np, "any")))
		}
	}
	return out
}

// grantsPurpose reports whether some AccessPolicy of s lists purpose.
func (s *Set) grantsPurpose(purpose string) bool {
	if s == nil {
		return false
	}
	for i := range s.docs {
		if s.docs[i].Kind == KindAccessPolicy && slices.Contains(s.docs[i].Purposes, purpose) {
			return true
		}
	}
	return false
}

func (s *Set) patternOf(purpose string) string {
	if s == nil {
		return ""
	}
	return s.patterns[purpose]
}

// String renders the classification as stable lines: the effect, then
// each widening, then each change of Diff.
func (c Classification) String() string {
	var b strings.Builder
	b.WriteString(c.Effect.String() + "\n")
	for _, w := range c.Widenings {
		b.WriteString("  " + w + "\n")
	}
	for _, ch := range c.Changes {
		b.WriteString("  " + ch.String() + "\n")
	}
	return b.String()
}
