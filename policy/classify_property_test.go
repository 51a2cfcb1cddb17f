package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// govDoc is the generator's model of one access policy or forbid.
type govDoc struct {
	forbid            bool
	consumer          string
	purposes, fields  []string
	caseID, consent   bool
	from, until       int // index into genTimes, -1 for unbounded
	forbidAllConsumer bool
}

func (d govDoc) yaml(i int) string {
	if d.forbid {
		c := d.consumer
		if d.forbidAllConsumer {
			c = `"*"`
		}
		return fmt.Sprintf("kind: Forbid\nmetadata: {name: f%d}\nspec: {consumer: %s, dataset: household, fields: [%s]}\n",
			i, c, strings.Join(d.fields, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kind: AccessPolicy\nmetadata: {name: a%d}\nspec:\n  consumer: %s\n  dataset: household\n  purposes: [%s]\n  fields: [%s]\n",
		i, d.consumer, strings.Join(d.purposes, ", "), strings.Join(d.fields, ", "))
	if d.caseID {
		b.WriteString("  requireCaseId: true\n")
	}
	if d.consent {
		b.WriteString("  conditions: {consent: required}\n")
	}
	if d.from >= 0 {
		b.WriteString("  validFrom: " + genTimes[d.from].Format(time.RFC3339) + "\n")
	}
	if d.until >= 0 && d.until >= d.from {
		b.WriteString("  validUntil: " + genTimes[d.until].Format(time.RFC3339) + "\n")
	}
	return b.String()
}

var (
	govFields    = []string{"name", "gender", "address", "birth_date"}
	govPurposes  = []string{"p0", "p1"}
	govConsumers = []string{"c0", "c1"}
)

func genGovDoc(r *rand.Rand) govDoc {
	d := govDoc{consumer: pick(r, govConsumers), fields: subset(r, govFields, 1), from: r.IntN(len(genTimes)+1) - 1, until: r.IntN(len(genTimes)+1) - 1}
	if r.IntN(4) == 0 {
		d.forbid, d.forbidAllConsumer = true, r.IntN(2) == 0
		return d
	}
	d.purposes = subset(r, govPurposes, 1)
	d.caseID, d.consent = r.IntN(3) == 0, r.IntN(4) == 0
	return d
}

// mutate changes one thing of one document, or adds or drops one.
func mutate(r *rand.Rand, docs []govDoc) []govDoc {
	docs = slices.Clone(docs)
	if len(docs) == 0 || r.IntN(8) == 0 {
		return append(docs, genGovDoc(r))
	}
	i := r.IntN(len(docs))
	d := docs[i]
	d.fields, d.purposes = slices.Clone(d.fields), slices.Clone(d.purposes)
	switch r.IntN(8) {
	case 0:
		return slices.Delete(docs, i, i+1)
	case 1:
		if len(d.fields) > 1 {
			d.fields = slices.Delete(d.fields, 0, 1)
		} else {
			d.fields = subset(r, govFields, 1)
		}
	case 2:
		d.fields = subset(r, govFields, 1)
	case 3:
		if !d.forbid {
			d.purposes = subset(r, govPurposes, 1)
		}
	case 4:
		d.caseID = !d.caseID
	case 5:
		d.consent = !d.consent
	case 6:
		d.from = r.IntN(len(genTimes)+1) - 1
	case 7:
		d.until = r.IntN(len(genTimes)+1) - 1
	}
	docs[i] = d
	return docs
}

func buildGov(t *testing.T, docs []govDoc) *Set {
	t.Helper()
	var src []string
	for i, d := range docs {
		src = append(src, d.yaml(i))
	}
	s, err := Parse("gen.yaml", []byte(strings.Join(src, "---\n")), testCatalog)
	if err != nil {
		t.Fatalf("generated set does not load: %v\n%s", err, strings.Join(src, "---\n"))
	}
	return s
}

// released is what the exchange hands out for d to a requester with or
// without the citizen's consent.
func released(d Decision, consent bool) []string {
	if !d.Allowed {
		return nil
	}
	if consent {
		return d.Fields
	}
	var out []string
	for _, f := range d.Fields {
		if !slices.Contains(d.ConsentFields, f) {
			out = append(out, f)
		}
	}
	return out
}

// TestClassifyNarrowingIsSound generates random sets and random small
// changes of them (fixed seed), and checks every change Classify calls
// narrowing (or unchanged) against Decide: at every probe time (each
// window edge, a second either side, and between), for every consumer,
// purpose, with and without a case id and a consent, the new set releases
// no field the old one did not.
func TestClassifyNarrowingIsSound(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 2026))
	var probes []time.Time
	for _, g := range genTimes {
		probes = append(probes, g.Add(-time.Second), g, g.Add(time.Second), g.Add(24*time.Hour))
	}
	probes = append(probes, genTimes[0].AddDate(-1, 0, 0), genTimes[len(genTimes)-1].AddDate(1, 0, 0))
	narrowing, widening := 0, 0
	for range 3000 {
		var old []govDoc
		for range r.IntN(5) {
			old = append(old, genGovDoc(r))
		}
		new := mutate(r, old)
		if r.IntN(3) == 0 {
			new = mutate(r, new)
		}
		os, ns := buildGov(t, old), buildGov(t, new)
		c := Classify(os, ns)
		if c.Effect == Widens {
			widening++
			continue
		}
		narrowing++
		for _, at := range probes {
			for _, consumer := range govConsumers {
				for _, pu := range govPurposes {
					for _, caseID := range []string{"", "case-1"} {
						req := Request{Consumer: consumer, Dataset: "household", Purpose: pu, CaseID: caseID, Time: at}
						do, dn := os.Decide(req), ns.Decide(req)
						for _, consent := range []bool{false, true} {
							before, after := released(do, consent), released(dn, consent)
							for _, f := range after {
								if !slices.Contains(before, f) {
									t.Fatalf("classified %v, but %+v (consent %v) now gets %s: before %v, after %v\nold:\n%s\nnew:\n%s",
										c.Effect, req, consent, f, before, after, setYAML(old), setYAML(new))
								}
							}
						}
					}
				}
			}
		}
	}
	if narrowing < 500 || widening < 500 {
		t.Errorf("%d narrowing and %d widening changes: the generator no longer exercises both", narrowing, widening)
	}
}

func setYAML(docs []govDoc) string {
	var src []string
	for i, d := range docs {
		src = append(src, d.yaml(i))
	}
	return strings.Join(src, "---\n")
}
