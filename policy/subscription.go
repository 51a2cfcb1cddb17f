package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Subscription is a consumer's standing order for the records of one
// dataset, pushed to it as they are accepted ("Tell Us Once"), for one
// purpose. Fields are the fields each delivery releases: the document's
// fields less those a Forbid withholds from the consumer, sorted. Like an
// access policy it is a release of data, so adding one, or a field to
// one, widens access and needs the approval of N officers; removing one
// narrows.
type Subscription struct {
	Name     string
	Consumer string
	Dataset  string
	Purpose  string
	Fields   []string
}

// subscriptionSpec parses a Subscription document's spec:
//
//	spec:
//	  consumer: pension-service
//	  dataset: death
//	  purpose: pension_termination
//	  fields: [resident_id, name, death_date]
//
// The purpose must be declared by a Purpose document of the set
// (checkSubscriptions), and every field must be one of the dataset's.
func (p *parser) subscriptionSpec(at, n *yamlNode, pol *Policy) {
	sp, ok := p.mapping(at, n, "Subscription spec", "consumer", "dataset", "purpose", "fields")
	if !ok {
		return
	}
	pol.Consumer = p.client(sp, "consumer", false)
	var dn *yamlNode
	pol.Dataset, dn = p.str(sp, "dataset", true)
	if pu, pn := p.str(sp, "purpose", true); pn != nil {
		if len(pu) > maxPurposeLen || !purposeRE.MatchString(pu) {
			p.errf(pn, ErrBadValue, "purpose %q must be lower snake case, like pension_termination, at most %d", pu, maxPurposeLen)
		}
		pol.Purposes = []string{pu}
	}
	var nodes []*yamlNode
	pol.Fields, nodes = p.list(sp, "fields", true)
	if dn != nil {
		if known, ok := p.dataset(dn, pol.Dataset); ok {
			for i, f := range pol.Fields {
				if !known[f] {
					p.errf(nodes[i], ErrUnknownField, "dataset %s has no field %q", pol.Dataset, f)
				}
			}
		}
	}
}

// checkSubscriptions reports every Subscription whose purpose no Purpose
// document declares: a standing order runs without a person asking, so
// what it is for must be written down as a procedure of its own.
func checkSubscriptions(docs []Policy) []error {
	declared := map[string]bool{}
	for _, d := range docs {
		if d.Kind == KindPurpose && len(d.Purposes) == 1 {
			declared[d.Purposes[0]] = true
		}
	}
	var errs []error
	for _, d := range docs {
		if d.Kind != KindSubscription || len(d.Purposes) != 1 || declared[d.Purposes[0]] {
			continue
		}
		file, line := splitSource(d.Source)
		errs = append(errs, &LoadError{File: file, Line: line, Kind: ErrMissing,
			Msg: fmt.Sprintf("Subscription %s: purpose %s is declared by no Purpose document", d.Name, d.Purposes[0])})
	}
	return errs
}

// Subscriptions returns the subscriptions to dataset ("" for every
// dataset), sorted by name, each with the fields a delivery releases
// (after forbids); a subscription a Forbid leaves no field is left out.
// The delivery loop asks for every record: the set computed them once
// (compileSubscriptions).
func (s *Set) Subscriptions(dataset string) []Subscription {
	if s == nil {
		return nil
	}
	var out []Subscription
	for _, sub := range s.subs {
		if dataset == "" || sub.Dataset == dataset {
			out = append(out, sub)
		}
	}
	return out
}

// compileSubscriptions computes s.subs from its documents.
func compileSubscriptions(s *Set) []Subscription {
	var out []Subscription
	for _, d := range s.docs {
		if d.Kind != KindSubscription || len(d.Purposes) != 1 {
			continue
		}
		fields := slices.DeleteFunc(slices.Clone(d.Fields), func(f string) bool { return s.forbidden(d.Consumer, d.Dataset, f) })
		if len(fields) == 0 {
			continue
		}
		out = append(out, Subscription{Name: d.Name, Consumer: d.Consumer, Dataset: d.Dataset, Purpose: d.Purposes[0], Fields: slices.Clip(fields)})
	}
	slices.SortFunc(out, func(a, b Subscription) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Subscribers lists, sorted, every consumer some Subscription document
// names (whether or not a Forbid leaves it a field): each gets a delivery
// topic, readable by it alone (`onevisit kafka setup`).
func (s *Set) Subscribers() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, d := range s.docs {
		if d.Kind == KindSubscription {
			out = append(out, d.Consumer)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

type pushKey struct{ consumer, dataset, purpose string }

// pushes is the effective push access of s: fields per consumer, dataset
// and purpose, after forbids, with the name of a subscription giving each.
func pushes(s *Set) map[pushKey]map[string]string {
	out := map[pushKey]map[string]string{}
	for _, sub := range s.Subscriptions("") {
		k := pushKey{sub.Consumer, sub.Dataset, sub.Purpose}
		if out[k] == nil {
			out[k] = map[string]string{}
		}
		for _, f := range sub.Fields {
			if _, ok := out[k][f]; !ok {
				out[k][f] = sub.Name
			}
		}
	}
	return out
}

// widerPushes names every field that new pushes to a consumer, for a
// dataset and purpose, that old did not.
func widerPushes(old, new *Set) []string {
	o := pushes(old)
	var w []string
	for k, fields := range pushes(new) {
		for f, name := range fields {
			if _, ok := o[k][f]; !ok {
				w = append(w, fmt.Sprintf("widen: subscription %s sends %s.%s to %s for %s", name, k.dataset, f, k.consumer, k.purpose))
			}
		}
	}
	return w
}

// pushChanges lists, for Diff, the fields each consumer gains or loses
// by subscription per dataset and purpose (action "receive").
func pushChanges(old, new *Set) []Change {
	o, n := pushes(old), pushes(new)
	set := func(m map[string]string) map[string]bool {
		out := make(map[string]bool, len(m))
		for f := range m {
			out[f] = true
		}
		return out
	}
	var out []Change
	for _, k := range mapKeys(o, n) {
		base := Change{Action: "receive", Subject: k.consumer, Dataset: k.dataset, Purpose: k.purpose}
		if lost := minus(set(o[k]), set(n[k])); len(lost) > 0 {
			c := base
			c.Fields = lost
			out = append(out, c)
		}
		if gained := minus(set(n[k]), set(o[k])); len(gained) > 0 {
			c := base
			c.Gain, c.Fields = true, gained
			out = append(out, c)
		}
	}
	return out
}

func mapKeys(a, b map[pushKey]map[string]string) []pushKey {
	var out []pushKey
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// AllPublishers lists, sorted, every publisher a PublisherGrant names:
// each has a correction inbox (`onevisit kafka setup`).
func (s *Set) AllPublishers() []string {
	if s == nil {
		return nil
	}
	var out []string
	for k := range s.grants {
		out = append(out, k.subject)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
