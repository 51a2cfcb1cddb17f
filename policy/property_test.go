package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// genPolicy is the generator's own model of a document, independent of
// the parser, so the reference decision below does not trust Load.
type genPolicy struct {
	forbid              bool
	name                string
	consumer, dataset   string
	purposes, fields    []string
	caseID              bool
	from, until         time.Time
	hasFrom, hasUntil   bool
	forbidAllFieldsFlag bool
}

var genTimes = []time.Time{
	time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func subset(r *rand.Rand, xs []string, min int) []string {
	var out []string
	for _, x := range xs {
		if r.IntN(4) == 0 {
			out = append(out, x)
		}
	}
	for len(out) < min {
		x := pick(r, xs)
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestDecideNeverWidens generates random catalogues, policy sets and
// requests (fixed seed) and checks every decision against a reference
// evaluation: the fields are exactly the union of the matching permits
// minus the matching forbids, so never a field outside that union.
func TestDecideNeverWidens(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 1))
	consumers := []string{"c0", "c1", "c2"}
	purposes := []string{"p0", "p1", "p2"}
	checked := 0
	for round := range 60 {
		// Datasets up to 130 fields, so bitsets span several words.
		cat := StaticCatalog{}
		for d := range 3 {
			n := 1 + r.IntN(130)
			for f := range n {
				cat[fmt.Sprint("d", d)] = append(cat[fmt.Sprint("d", d)], fmt.Sprint("f", f))
			}
		}
		datasets := []string{"d0", "d1", "d2"}
		var gens []genPolicy
		var src strings.Builder
		for i := range 1 + r.IntN(12) {
			g := genPolicy{name: fmt.Sprint("pol-", i), dataset: pick(r, datasets), forbid: r.IntN(4) == 0}
			fields := cat[g.dataset]
			if g.forbid {
				g.consumer = pick(r, append([]string{Wildcard}, consumers...))
				if r.IntN(5) == 0 {
					g.forbidAllFieldsFlag, g.fields = true, []string{Wildcard}
				} else {
					g.fields = subset(r, fields, 1)
				}
				fmt.Fprintf(&src, "---\nkind: Forbid\nmetadata: {name: %s}\nspec: {consumer: %q, dataset: %s, fields: [%s]}\n",
					g.name, g.consumer, g.dataset, quoteAll(g.fields))
			} else {
				g.consumer = pick(r, consumers)
				g.purposes = subset(r, purposes, 1)
				g.fields = subset(r, fields, 1)
				g.caseID = r.IntN(2) == 0
				fmt.Fprintf(&src, "---\nkind: AccessPolicy\nmetadata: {name: %s}\nspec:\n  consumer: %s\n  dataset: %s\n  purposes: [%s]\n  fields: [%s]\n  requireCaseId: %t\n",
					g.name, g.consumer, g.dataset, strings.Join(g.purposes, ", "), strings.Join(g.fields, ", "), g.caseID)
				a, b := r.IntN(len(genTimes)), r.IntN(len(genTimes))
				if a > b {
					a, b = b, a
				}
				if r.IntN(3) == 0 {
					g.hasFrom, g.from = true, genTimes[a]
					fmt.Fprintf(&src, "  validFrom: %s\n", g.from.Format(time.RFC3339))
				}
				if r.IntN(3) == 0 {
					g.hasUntil, g.until = true, genTimes[b]
					fmt.Fprintf(&src, "  validUntil: %s\n", g.until.Format(time.RFC3339))
				}
			}
			gens = append(gens, g)
		}
		s, err := Parse(fmt.Sprint("round-", round, ".yaml"), []byte(src.String()), cat)
		if err != nil {
			t.Fatalf("round %d: generated policies do not load: %v\n%s", round, err, src.String())
		}
		for range 60 {
			req := Request{
				Consumer: pick(r, append([]string{"c9"}, consumers...)),
				Dataset:  pick(r, datasets),
				Purpose:  pick(r, append([]string{"p9"}, purposes...)),
				Time:     genTimes[r.IntN(len(genTimes))].Add(time.Duration(r.IntN(3)-1) * time.Second),
			}
			if r.IntN(2) == 0 {
				req.CaseID = "case"
			}
			union, want := reference(gens, req)
			d := s.Decide(req)
			for _, f := range d.Fields {
				if !union[f] {
					t.Fatalf("round %d %+v: field %s outside the union of matching permits", round, req, f)
				}
			}
			if !slices.Equal(d.Fields, want) || d.Allowed != (len(want) > 0) || (d.Err() == nil) != d.Allowed {
				t.Fatalf("round %d %+v:\ngot  %+v\nwant %v\npolicies:\n%s", round, req, d, want, src.String())
			}
			if len(d.Reasons) == 0 {
				t.Fatalf("round %d %+v: decision without reasons", round, req)
			}
			checked++
		}
	}
	if checked < 3000 {
		t.Fatalf("only %d cases checked", checked)
	}
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// reference evaluates the decision rules literally: union of matching
// permits, then minus matching forbids. It returns the union and the
// expected sorted fields.
func reference(gens []genPolicy, req Request) (map[string]bool, []string) {
	union := map[string]bool{}
	for _, g := range gens {
		if g.forbid || g.consumer != req.Consumer || g.dataset != req.Dataset || !slices.Contains(g.purposes, req.Purpose) ||
			(g.hasFrom && req.Time.Before(g.from)) || (g.hasUntil && req.Time.After(g.until)) ||
			(g.caseID && req.CaseID == "") {
			continue
		}
		for _, f := range g.fields {
			union[f] = true
		}
	}
	left := map[string]bool{}
	for f := range union {
		left[f] = true
	}
	for _, g := range gens {
		if !g.forbid || g.dataset != req.Dataset || (g.consumer != Wildcard && g.consumer != req.Consumer) {
			continue
		}
		for f := range left {
			if g.forbidAllFieldsFlag || slices.Contains(g.fields, f) {
				delete(left, f)
			}
		}
	}
	want := []string{}
	for f := range left {
		want = append(want, f)
	}
	slices.Sort(want)
	return union, want
}
