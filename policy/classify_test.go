package policy

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// edit is one textual replacement of the base set; old must occur once.
type edit struct{ old, new string }

var classifyCases = []struct {
	name  string
	edits []edit
	want  Effect
}{
	{"unchanged", nil, Unchanged},
	{"description only", []edit{{"description: enrolment", "description: school enrolment"}}, Narrows},
	{"rename a document", []edit{{"name: transfer-usage}", "name: transfer-usage-2}"}}, Narrows},
	{"remove a field", []edit{{"fields: [name, birth_date, address]", "fields: [name, address]"}}, Narrows},
	{"add a field", []edit{{"fields: [name, birth_date, address]", "fields: [name, birth_date, address, household_id]"}}, Widens},
	{"add a field a forbid still withholds", []edit{{"fields: [name, birth_date, address]", "fields: [name, birth_date, address, gender]"}}, Narrows},
	{"add a field and drop its forbid", []edit{
		{"fields: [name, birth_date, address]", "fields: [name, birth_date, address, gender]"},
		{"fields: [gender]", "fields: [ethnicity]"}}, Widens},
	{"remove a forbid nobody is granted", []edit{{`{consumer: "*", dataset: household, fields: [ethnicity]}`, `{consumer: welfare, dataset: household, fields: [ethnicity]}`}}, Widens},
	{"forbid for everyone becomes one consumer's", []edit{{`consumer: "*"`, `consumer: school-enrolment`}}, Widens},
	{"forbid of every field", []edit{{"fields: [gender]", `fields: ["*"]`}}, Narrows},
	{"forbid a granted field", []edit{{"fields: [gender]", "fields: [gender, birth_date]"}}, Narrows},
	{"add a purpose", []edit{{"purposes: [school_enrolment]", "purposes: [school_enrolment, newborn_registration]"}}, Widens},
	{"remove a purpose", []edit{{"purposes: [property_transfer, tax_check]", "purposes: [property_transfer]"}}, Narrows},
	{"remove a whole policy", []edit{{"metadata: {name: transfer-usage}\nspec:\n  consumer: property-transfer", "metadata: {name: transfer-usage}\nspec:\n  consumer: welfare"},
		{"dataset: property\n  purposes: [valuation]\n  fields: [usage]", "dataset: household\n  purposes: [social_assistance]\n  fields: [name]\n  conditions: {consent: required}"}}, Narrows},
	{"grant a new consumer", []edit{{"consumer: welfare\n  dataset: household\n  purposes: [social_assistance]\n  fields: [name]\n  conditions: {consent: required}",
		"consumer: welfare-2\n  dataset: household\n  purposes: [social_assistance]\n  fields: [name]\n  conditions: {consent: required}"}}, Widens},
	{"move a field to another dataset", []edit{{"dataset: property\n  purposes: [valuation]\n  fields: [usage]", "dataset: household\n  purposes: [valuation]\n  fields: [address]"}}, Widens},
	{"publisher gains a dataset", []edit{{"datasets: [household]", "datasets: [household, tax]"}}, Widens},
	{"grant moves to another publisher", []edit{{"datasets: [household]", "datasets: [tax]"}, {"publisher: public-security", "publisher: tax-bureau"}}, Widens},
	{"shorten the window", []edit{{"validUntil: 2026-12-31T23:59:59Z", "validUntil: 2026-06-30T23:59:59Z"}}, Narrows},
	{"start later", []edit{{"validFrom: 2026-01-01T00:00:00Z", "validFrom: 2026-03-01T00:00:00Z"}}, Narrows},
	{"lengthen the window", []edit{{"validUntil: 2026-12-31T23:59:59Z", "validUntil: 2027-12-31T23:59:59Z"}}, Widens},
	{"start earlier", []edit{{"validFrom: 2026-01-01T00:00:00Z", "validFrom: 2025-01-01T00:00:00Z"}}, Widens},
	{"drop validUntil", []edit{{"  validUntil: 2026-12-31T23:59:59Z\n", ""}}, Widens},
	{"bound an unbounded window", []edit{{"fields: [usage]", "fields: [usage]\n  validUntil: 2030-01-01T00:00:00Z"}}, Narrows},
	{"drop requireCaseId", []edit{{"  requireCaseId: true\n", ""}}, Widens},
	{"add requireCaseId", []edit{{"fields: [usage]", "fields: [usage]\n  requireCaseId: true"}}, Narrows},
	{"drop the consent condition", []edit{{"  conditions: {consent: required}\n", ""}}, Widens},
	{"add the consent condition", []edit{{"fields: [usage]", "fields: [usage]\n  conditions: {consent: required}"}}, Narrows},
	{"lower the rate", []edit{{"rate: 10/s", "rate: 5/s"}}, Narrows},
	{"raise the rate", []edit{{"rate: 10/s", "rate: 10/m"}, {"burst: 20", "burst: 1"}}, Narrows},
	{"raise the burst", []edit{{"burst: 20", "burst: 40"}}, Widens},
	{"raise the daily quota", []edit{{"limits: {daily: 500}", "limits: {daily: 501}"}}, Widens},
	{"drop the rate, keep the quota", []edit{{"rate: 10/s, burst: 20, daily: 1000", "daily: 1000"}}, Widens},
	{"drop every limit", []edit{{"  limits: {daily: 500}\n", ""}}, Widens},
	{"limit an unlimited consumer", []edit{{"conditions: {consent: required}", "conditions: {consent: required}\n  limits: {daily: 10}"}}, Narrows},
	{"give a shared-bucket purpose its own limit", []edit{{"fields: [usage]", "fields: [usage]\n  limits: {daily: 500}"}}, Widens},
	{"drop a case-id format", []edit{{"spec: {purpose: school_enrolment, caseIdPattern: '^SE-\\d+$'}", "spec: {purpose: school_enrolment}"}}, Widens},
	{"change a case-id format", []edit{{`'^SE-\d+$'`, `'^SE-\d{4}-\d+$'`}}, Widens},
	{"add a case-id format", []edit{{"kind: Purpose", "kind: Purpose\nmetadata: {name: transfer-purpose}\nspec: {purpose: property_transfer, caseIdPattern: '^PT-.+$'}\n---\nkind: Purpose"}}, Narrows},
	{"declare a purpose", []edit{{"kind: Purpose", "kind: Purpose\nmetadata: {name: grants}\nspec: {purpose: grant_application}\n---\nkind: Purpose"}}, Narrows},
}

func parseEdited(t *testing.T, base string, edits []edit) *Set {
	t.Helper()
	s := base
	for _, e := range edits {
		if n := strings.Count(s, e.old); n != 1 {
			t.Fatalf("edit %q occurs %d times in the base set, want once", e.old, n)
		}
		s = strings.Replace(s, e.old, e.new, 1)
	}
	set, err := Parse("new.yaml", []byte(s), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestClassify(t *testing.T) {
	raw, err := os.ReadFile("testdata/classify/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := parseEdited(t, string(raw), nil)
	var all strings.Builder
	for _, tt := range classifyCases {
		t.Run(tt.name, func(t *testing.T) {
			c := Classify(base, parseEdited(t, string(raw), tt.edits))
			if c.Effect != tt.want {
				t.Errorf("effect %v, want %v\n%s", c.Effect, tt.want, c)
			}
			if (c.Effect == Widens) != (len(c.Widenings) > 0) {
				t.Errorf("effect %v with widenings %q", c.Effect, c.Widenings)
			}
			all.WriteString("== " + tt.name + ": " + c.String())
		})
	}
	testkit.Golden(t, "testdata/classify/cases.golden", []byte(all.String()))
}

func TestClassifyNilSets(t *testing.T) {
	set := mustDefault(t)
	if c := Classify(nil, set); c.Effect != Widens || len(c.Widenings) == 0 {
		t.Errorf("seeding from nothing: %v", c)
	}
	if c := Classify(set, nil); c.Effect != Narrows || len(c.Widenings) != 0 {
		t.Errorf("removing everything: %v", c)
	}
	if c := Classify(set, mustDefault(t)); c.Effect != Unchanged {
		t.Errorf("same documents: %v", c)
	}
}

func TestCovers(t *testing.T) {
	d := func(m, day int) time.Time { return time.Date(2026, time.Month(m), day, 0, 0, 0, 0, time.UTC) }
	var open time.Time
	tests := []struct {
		name string
		ws   []interval
		w    interval
		want bool
	}{
		{"nothing covers nothing", nil, interval{d(1, 1), d(2, 1)}, false},
		{"same window", []interval{{d(1, 1), d(2, 1)}}, interval{d(1, 1), d(2, 1)}, true},
		{"inside", []interval{{d(1, 1), d(3, 1)}}, interval{d(1, 5), d(2, 1)}, true},
		{"starts before", []interval{{d(1, 5), d(3, 1)}}, interval{d(1, 1), d(2, 1)}, false},
		{"ends after", []interval{{d(1, 1), d(2, 1)}}, interval{d(1, 1), d(3, 1)}, false},
		{"touching windows", []interval{{d(2, 1), d(3, 1)}, {d(1, 1), d(2, 1)}}, interval{d(1, 1), d(3, 1)}, true},
		{"gap between windows", []interval{{d(1, 1), d(2, 1)}, {d(2, 2), d(3, 1)}}, interval{d(1, 1), d(3, 1)}, false},
		{"gap before the window matters not", []interval{{d(1, 1), d(1, 2)}, {d(2, 1), open}}, interval{d(3, 1), d(4, 1)}, true},
		{"unbounded old covers unbounded new", []interval{{open, open}}, interval{open, open}, true},
		{"bounded old cannot cover unbounded end", []interval{{open, d(12, 1)}}, interval{open, open}, false},
		{"bounded old cannot cover unbounded start", []interval{{d(1, 1), open}}, interval{open, d(2, 1)}, false},
		{"window ending before w", []interval{{d(1, 1), d(1, 2)}}, interval{d(2, 1), d(2, 1)}, false},
		{"instant window covered", []interval{{d(1, 1), d(3, 1)}}, interval{d(2, 1), d(2, 1)}, true},
		{"chain of three", []interval{{open, d(2, 1)}, {d(1, 1), d(4, 1)}, {d(3, 1), open}}, interval{open, open}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := covers(tt.ws, tt.w); got != tt.want {
				t.Errorf("covers = %v, want %v", got, tt.want)
			}
		})
	}
}
