package policy

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Change is one gain or loss of access between two sets, for the officer
// who reviews a policy change.
type Change struct {
	Gain    bool   // true: access gained; false: access lost
	Action  string // "read", "receive" (a Subscription's pushes) or "publish"
	Subject string // consumer (read, receive) or publisher (publish) client id
	Dataset string
	// Read and receive changes only:
	Purpose   string
	Condition string   // "case id required, consent required, from <t>, until <t>" or parts of it; "" if none
	Fields    []string // sorted
}

// String renders the change as one stable line, for example
//
//	gain: school-enrolment may read address, name of household for school_enrolment (case id required)
//	loss: tax-bureau may no longer publish tax
func (c Change) String() string {
	var b strings.Builder
	if c.Gain {
		b.WriteString("gain: " + c.Subject + " may ")
	} else {
		b.WriteString("loss: " + c.Subject + " may no longer ")
	}
	if c.Action == "publish" {
		b.WriteString("publish " + c.Dataset)
		return b.String()
	}
	if c.Action == "receive" {
		b.WriteString("be sent " + strings.Join(c.Fields, ", ") + " of every " + c.Dataset + " record for " + c.Purpose + " (subscription)")
		return b.String()
	}
	b.WriteString("read " + strings.Join(c.Fields, ", ") + " of " + c.Dataset + " for " + c.Purpose)
	if c.Condition != "" {
		b.WriteString(" (" + c.Condition + ")")
	}
	return b.String()
}

type readKey struct{ consumer, dataset, purpose, condition string }

// Diff lists who gains or loses what going from old to new (either may be
// nil, meaning no policy). It compares effective access: the fields each
// consumer may read per dataset, purpose and condition (case id, validity
// window), after forbids, and the publisher grants. A change of condition
// shows as a loss under the old condition and a gain under the new. Lines
// are sorted by subject, action, dataset, purpose and condition, losses
// before gains. Renaming or splitting documents without changing access
// yields no change.
func Diff(old, new *Set) []Change {
	var out []Change
	o, n := reads(old), reads(new)
	keys := make([]readKey, 0, len(o)+len(n))
	for k := range o {
		keys = append(keys, k)
	}
	for k := range n {
		if _, ok := o[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		base := Change{Action: "read", Subject: k.consumer, Dataset: k.dataset, Purpose: k.purpose, Condition: k.condition}
		if lost := minus(o[k], n[k]); len(lost) > 0 {
			c := base
			c.Fields = lost
			out = append(out, c)
		}
		if gained := minus(n[k], o[k]); len(gained) > 0 {
			c := base
			c.Gain, c.Fields = true, gained
			out = append(out, c)
		}
	}
	out = append(out, pushChanges(old, new)...)
	og, ng := publishes(old), publishes(new)
	for k := range og {
		if !ng[k] {
			out = append(out, Change{Action: "publish", Subject: k.subject, Dataset: k.dataset})
		}
	}
	for k := range ng {
		if !og[k] {
			out = append(out, Change{Gain: true, Action: "publish", Subject: k.subject, Dataset: k.dataset})
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(
			strings.Compare(a.Subject, b.Subject),
			strings.Compare(a.Action, b.Action),
			strings.Compare(a.Dataset, b.Dataset),
			strings.Compare(a.Purpose, b.Purpose),
			strings.Compare(a.Condition, b.Condition),
			cmp.Compare(boolInt(a.Gain), boolInt(b.Gain)),
		)
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// minus returns the sorted members of a not in b.
func minus(a, b map[string]bool) []string {
	var out []string
	for f := range a {
		if !b[f] {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func condition(p Policy) string {
	var parts []string
	if p.RequireCaseID {
		parts = append(parts, "case id required")
	}
	if p.RequireConsent {
		parts = append(parts, "consent required")
	}
	if !p.ValidFrom.IsZero() {
		parts = append(parts, "from "+p.ValidFrom.Format(time.RFC3339))
	}
	if !p.ValidUntil.IsZero() {
		parts = append(parts, "until "+p.ValidUntil.Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// reads computes the effective read access of s.
func reads(s *Set) map[readKey]map[string]bool {
	out := map[readKey]map[string]bool{}
	if s == nil {
		return out
	}
	for _, p := range s.docs {
		if p.Kind != KindAccessPolicy {
			continue
		}
		cond := condition(p)
		for _, pu := range p.Purposes {
			k := readKey{p.Consumer, p.Dataset, pu, cond}
			for _, f := range p.Fields {
				if s.forbidden(p.Consumer, p.Dataset, f) {
					continue
				}
				if out[k] == nil {
					out[k] = map[string]bool{}
				}
				out[k][f] = true
			}
		}
	}
	return out
}

func (s *Set) forbidden(consumer, dataset, field string) bool {
	for _, f := range s.docs {
		if f.Kind == KindForbid && f.Dataset == dataset && (f.Consumer == Wildcard || f.Consumer == consumer) &&
			(slices.Contains(f.Fields, Wildcard) || slices.Contains(f.Fields, field)) {
			return true
		}
	}
	return false
}

func publishes(s *Set) map[pair]bool {
	out := map[pair]bool{}
	if s != nil {
		for k := range s.grants {
			out[k] = true
		}
		// A live grant is another capability than a replicated one (it
		// makes queries go to the publisher's responder), so a change of
		// mode is a widening in both directions.
		for k := range s.live {
			out[pair{k.subject, k.dataset + " live"}] = true
		}
	}
	return out
}
