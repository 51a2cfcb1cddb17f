package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Set is a loaded, immutable policy set. All its methods are safe for
// concurrent use; to change policy, load a new Set and swap the pointer
// (for example with atomic.Pointer[Set]).
type Set struct {
	docs     []Policy          // sorted by kind, then name
	entries  map[pair]*entry   // consumer+dataset pairs with at least one permit
	grants   map[pair]Decision // publisher+dataset pairs with at least one replicated grant
	live     map[pair]Decision // publisher+dataset pairs with at least one live grant (live.go)
	limits   map[limitKey]Limits
	caseIDs  map[string]*regexp.Regexp // purpose to compiled caseIdPattern
	patterns map[string]string         // purpose to caseIdPattern as written
	version  string
}

type pair struct{ subject, dataset string }

// entry is everything Decide needs for one consumer and dataset.
type entry struct {
	consumer, dataset string
	names             []string // field universe of this entry, sorted; bit i is names[i]
	permits           []*permit
	forbids           []*forbid // those that apply to this consumer, by name
	policyNames       string    // comma list of all permits, for denials
}

type permit struct {
	name        string
	purposes    []string
	reasons     []string // permit reason per purpose, same order
	purposeList string
	bits        bitset
	fields      []string
	requireCase bool
	consent     bool // conditions: {consent: required}
	from, until time.Time
	reasonCase  string
	reasonEarly string
	reasonLate  string
}

type forbid struct {
	name string
	bits bitset
}

// bitset is a set of field indexes into entry.names.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)   { b[i/64] |= 1 << (i % 64) }
func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}
func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// names lists the field names of the set bits, in order.
func (b bitset) names(universe []string) []string {
	out := make([]string, 0, b.count())
	for wi, w := range b {
		for w != 0 {
			i := bits.TrailingZeros64(w)
			out = append(out, universe[wi*64+i])
			w &^= 1 << i
		}
	}
	return out
}

func newSet(docs []Policy) *Set {
	slices.SortFunc(docs, func(a, b Policy) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), strings.Compare(a.Name, b.Name))
	})
	s := &Set{docs: docs, entries: map[pair]*entry{}, grants: map[pair]Decision{}, live: map[pair]Decision{}}

	grantNames := map[pair][]string{}
	for _, d := range docs {
		switch d.Kind {
		case KindPublisherGrant:
			if d.Mode == ModeLive {
				s.addLive(d)
				continue
			}
			for _, ds := range d.Datasets {
				k := pair{d.Publisher, ds}
				grantNames[k] = append(grantNames[k], d.Name)
			}
		case KindAccessPolicy:
			k := pair{d.Consumer, d.Dataset}
			e := s.entries[k]
			if e == nil {
				e = &entry{consumer: d.Consumer, dataset: d.Dataset}
				s.entries[k] = e
			}
			e.permits = append(e.permits, &permit{name: d.Name, fields: d.Fields})
			e.names = append(e.names, d.Fields...)
		}
	}
	for k, names := range grantNames {
		dec := Decision{Allowed: true, Fields: []string{}, Policy: strings.Join(names, ",")}
		for _, n := range names {
			dec.Reasons = append(dec.Reasons, fmt.Sprintf("permit: grant %s lets %s publish %s", n, k.subject, k.dataset))
		}
		s.grants[k] = dec
	}

	byName := make(map[string]*Policy, len(docs))
	for i := range docs {
		byName[docs[i].Name] = &docs[i]
	}
	for _, e := range s.entries {
		slices.Sort(e.names)
		e.names = slices.Compact(e.names)
		index := make(map[string]int, len(e.names))
		for i, n := range e.names {
			index[n] = i
		}
		names := make([]string, len(e.permits))
		for i, p := range e.permits {
			names[i] = p.name
			compilePermit(p, byName[p.name], e, index)
		}
		e.policyNames = strings.Join(names, ",")
		for i := range docs {
			d := &docs[i]
			if d.Kind != KindForbid || d.Dataset != e.dataset || (d.Consumer != Wildcard && d.Consumer != e.consumer) {
				continue
			}
			f := &forbid{name: d.Name, bits: newBitset(len(e.names))}
			for _, fld := range d.Fields {
				if fld == Wildcard {
					for i := range e.names {
						f.bits.set(i)
					}
				} else if i, ok := index[fld]; ok {
					f.bits.set(i)
				}
			}
			e.forbids = append(e.forbids, f)
		}
	}
	s.limits = compileLimits(docs)
	s.caseIDs, s.patterns = compilePurposes(docs)
	s.version = version(docs)
	return s
}

func compilePermit(p *permit, d *Policy, e *entry, index map[string]int) {
	p.purposes = d.Purposes
	p.purposeList = strings.Join(d.Purposes, ", ")
	consent := ""
	if d.RequireConsent {
		consent = " if the citizen consents"
	}
	for _, pu := range d.Purposes {
		p.reasons = append(p.reasons, fmt.Sprintf("permit: policy %s allows %d %s of %s for purpose %s%s",
			d.Name, len(d.Fields), plural(len(d.Fields), "field", "fields"), d.Dataset, pu, consent))
	}
	p.consent = d.RequireConsent
	p.bits = newBitset(len(e.names))
	for _, f := range d.Fields {
		p.bits.set(index[f])
	}
	p.requireCase = d.RequireCaseID
	p.from, p.until = d.ValidFrom, d.ValidUntil
	p.reasonCase = fmt.Sprintf("deny: policy %s requires a case id", d.Name)
	p.reasonEarly = fmt.Sprintf("deny: policy %s is not valid before %s", d.Name, d.ValidFrom.Format(time.RFC3339))
	p.reasonLate = fmt.Sprintf("deny: policy %s expired at %s", d.Name, d.ValidUntil.Format(time.RFC3339))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// version hashes the canonical form of the documents: sorted by kind and
// name, lists sorted, times in UTC RFC 3339, file positions left out. Every
// string is quoted, so no two different sets share a canonical form.
func version(docs []Policy) string {
	h := sha256.New()
	t := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for _, d := range docs {
		fmt.Fprintf(h, "%q %q %q %q %q %q %q %q %q %t %s %s\n",
			d.Kind, d.Name, d.Description, d.Publisher, d.Datasets, d.Consumer, d.Dataset,
			d.Purposes, d.Fields, d.RequireCaseID, t(d.ValidFrom), t(d.ValidUntil))
		if !d.Limits.IsZero() { // a line of its own, so sets without limits keep their versions
			fmt.Fprintf(h, "limits %q %d %d\n", d.Limits.Rate, d.Limits.Burst, d.Limits.Daily)
		}
		if d.RequireConsent || d.CaseIDPattern != "" { // likewise for conditions and case-id formats
			fmt.Fprintf(h, "governance %t %q\n", d.RequireConsent, d.CaseIDPattern)
		}
		if d.Mode == ModeLive { // likewise for live grants
			fmt.Fprintf(h, "mode %q\n", d.Mode)
		}
		if d.Kind == KindProcedure {
			fmt.Fprintln(h, procedureVersion(d))
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Version is a content hash of the set, "sha256:<hex>", over its
// canonical form. Two sets with the same documents (in any file layout or
// list order) have the same version; audit entries name it.
func (s *Set) Version() string {
	if s == nil {
		return ""
	}
	return s.version
}

// Policies lists every document of the set: publisher grants, then access
// policies, then forbids, each group sorted by name. The result is a copy.
func (s *Set) Policies() []Policy {
	if s == nil {
		return nil
	}
	out := make([]Policy, len(s.docs))
	for i, d := range s.docs {
		out[i] = d.clone()
	}
	return out
}
