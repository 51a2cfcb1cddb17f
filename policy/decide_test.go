package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
)

var (
	inWindow  = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	afterJune = time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	nextYear  = time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	lastYear  = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
)

type decideCase struct {
	name    string
	set     string // "examples" or "extra"
	req     Request
	wantErr error // nil: permit
}

var decideCases = []decideCase{
	// The embedded examples.
	{"school-household", "examples", Request{"school-enrolment", "household", "school_enrolment", "C-1", inWindow}, nil},
	{"school-property", "examples", Request{"school-enrolment", "property", "school_enrolment", "C-1", inWindow}, nil},
	{"school-no-case-id", "examples", Request{"school-enrolment", "household", "school_enrolment", "", inWindow}, ErrCaseIDRequired},
	{"school-tax", "examples", Request{"school-enrolment", "tax", "school_enrolment", "C-1", inWindow}, ErrDenied},
	{"school-wrong-purpose", "examples", Request{"school-enrolment", "household", "newborn_registration", "C-1", inWindow}, ErrPurposeNotAllowed},
	{"newborn-household", "examples", Request{"newborn-registration", "household", "newborn_registration", "N-7", inWindow}, nil},
	{"newborn-property", "examples", Request{"newborn-registration", "property", "newborn_registration", "N-7", inWindow}, ErrDenied},
	{"transfer-property", "examples", Request{"property-transfer", "property", "property_transfer", "", inWindow}, nil},
	{"transfer-tax", "examples", Request{"property-transfer", "tax", "property_transfer", "", inWindow}, nil},
	{"unknown-consumer", "examples", Request{"stranger", "household", "school_enrolment", "C-1", inWindow}, ErrDenied},
	{"no-consumer", "examples", Request{"", "household", "school_enrolment", "C-1", inWindow}, ErrDenied},
	{"no-dataset", "examples", Request{"school-enrolment", "", "school_enrolment", "C-1", inWindow}, ErrDenied},
	{"no-purpose", "examples", Request{"school-enrolment", "household", "", "C-1", inWindow}, ErrDenied},
	// Extra rules: union, forbid, validity, ranking of causes.
	{"union-minus-forbids", "extra", Request{"auditor", "household", "audit", "", inWindow}, nil},
	{"window-closed-one-left", "extra", Request{"auditor", "household", "audit", "", nextYear}, nil},
	{"fraud-check-in-window", "extra", Request{"auditor", "household", "fraud_check", "", inWindow}, nil},
	{"fraud-check-expired", "extra", Request{"auditor", "household", "fraud_check", "", nextYear}, ErrOutsideValidity},
	{"fraud-check-not-yet", "extra", Request{"auditor", "household", "fraud_check", "", lastYear}, ErrOutsideValidity},
	{"forbid-takes-all", "extra", Request{"blocked", "property", "valuation", "", inWindow}, ErrForbidden},
	{"case-id-outranks-window", "extra", Request{"auditor", "tax", "audit", "", inWindow}, ErrCaseIDRequired},
	{"tax-with-case", "extra", Request{"auditor", "tax", "audit", "A-1", inWindow}, nil},
	{"tax-gap-between-windows", "extra", Request{"auditor", "tax", "audit", "A-1", afterJune}, ErrOutsideValidity},
	{"tax-later-window", "extra", Request{"auditor", "tax", "audit", "", nextYear}, nil},
	{"window-edge-inclusive", "extra", Request{"auditor", "tax", "audit", "A-1", time.Date(2026, 6, 30, 23, 59, 59, 0, time.UTC)}, nil},
}

// TestDecideGolden pins whole decisions (JSON form and error text) in
// testdata/decisions/<case>.json.
func TestDecideGolden(t *testing.T) {
	sets := map[string]*Set{
		"examples": mustDefault(t),
		"extra":    mustParseFile(t, "testdata/decisions/policies.yaml"),
	}
	for _, tc := range decideCases {
		t.Run(tc.name, func(t *testing.T) {
			d := sets[tc.set].Decide(tc.req)
			err := d.Err()
			if tc.wantErr == nil {
				if err != nil || !d.Allowed || len(d.Fields) == 0 {
					t.Fatalf("want permit with fields, got %+v (err %v)", d, err)
				}
			} else {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrDenied) {
					t.Fatalf("err = %v, want %v and ErrDenied", err, tc.wantErr)
				}
				if d.Allowed || len(d.Fields) != 0 {
					t.Fatalf("denied decision carries access: %+v", d)
				}
			}
			out := struct {
				Set      string   `json:"set"`
				Request  Request  `json:"request"`
				Decision Decision `json:"decision"`
				Error    string   `json:"error,omitempty"`
			}{Set: tc.set, Request: tc.req, Decision: d}
			if err != nil {
				out.Error = err.Error()
			}
			b, jerr := json.MarshalIndent(out, "", "  ")
			if jerr != nil {
				t.Fatal(jerr)
			}
			testkit.Golden(t, filepath.Join("testdata", "decisions", tc.name+".json"), append(b, '\n'))
		})
	}
}

func TestDecisionJSONShape(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"zero denies with arrays", Decision{}, `{"decision":"deny","fields":[],"policy":"","reasons":[]}`},
		{"permit", Decision{Allowed: true, Fields: []string{"a"}, Policy: "p", Reasons: []string{"permit: x"}},
			`{"decision":"permit","fields":["a"],"policy":"p","reasons":["permit: x"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
}

func TestZeroDecisionDenies(t *testing.T) {
	var d Decision
	if err := d.Err(); !errors.Is(err, ErrDenied) {
		t.Fatalf("zero Decision.Err() = %v, want ErrDenied", err)
	}
	var s *Set
	if err := s.Decide(Request{"a", "b", "c", "", inWindow}).Err(); !errors.Is(err, ErrDenied) {
		t.Fatalf("nil Set denies: got %v", err)
	}
	if err := s.MayPublish("a", "b").Err(); !errors.Is(err, ErrDenied) {
		t.Fatalf("nil Set MayPublish: got %v", err)
	}
}

func TestDecideResultIsCallersOwn(t *testing.T) {
	s := mustDefault(t)
	req := Request{"school-enrolment", "household", "school_enrolment", "C-1", inWindow}
	d := s.Decide(req)
	d.Fields[0] = "ethnicity"
	d.Reasons[0] = "tampered"
	again := s.Decide(req)
	if again.Fields[0] == "ethnicity" || again.Reasons[0] == "tampered" {
		t.Fatalf("Decide returned shared slices: %+v", again)
	}
}

func TestMayPublish(t *testing.T) {
	s := mustDefault(t)
	tests := []struct {
		name, publisher, dataset string
		wantPolicy               string
		wantReason               string
		wantErr                  error
	}{
		{"public security household", "public-security", "household", "public-security-household",
			"permit: grant public-security-household lets public-security publish household", nil},
		{"tax bureau tax", "tax-bureau", "tax", "tax-bureau-tax", "permit: grant tax-bureau-tax lets tax-bureau publish tax", nil},
		{"natural resources property", "natural-resources", "property", "natural-resources-property",
			"permit: grant natural-resources-property lets natural-resources publish property", nil},
		{"tax bureau may not publish household", "tax-bureau", "household", "",
			"deny: no grant lets tax-bureau publish household", ErrDenied},
		{"consumer may not publish", "school-enrolment", "household", "",
			"deny: no grant lets school-enrolment publish household", ErrDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := s.MayPublish(tc.publisher, tc.dataset)
			if !errors.Is(d.Err(), tc.wantErr) || (tc.wantErr == nil) != d.Allowed {
				t.Fatalf("err = %v allowed = %v, want %v", d.Err(), d.Allowed, tc.wantErr)
			}
			if d.Policy != tc.wantPolicy || len(d.Reasons) != 1 || d.Reasons[0] != tc.wantReason || len(d.Fields) != 0 {
				t.Errorf("got %+v, want policy %q reason %q", d, tc.wantPolicy, tc.wantReason)
			}
		})
	}
}

// TestDecideConcurrent runs Decide and MayPublish from many goroutines;
// run it with -race.
func TestDecideConcurrent(t *testing.T) {
	s := mustDefault(t)
	extra := mustParseFile(t, "testdata/decisions/policies.yaml")
	want := map[string]string{}
	for _, tc := range decideCases {
		set := s
		if tc.set == "extra" {
			set = extra
		}
		b, _ := json.Marshal(set.Decide(tc.req))
		want[tc.name] = string(b)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tc := decideCases[(g+i)%len(decideCases)]
				set := s
				if tc.set == "extra" {
					set = extra
				}
				b, _ := json.Marshal(set.Decide(tc.req))
				if string(b) != want[tc.name] {
					t.Errorf("%s: concurrent decision %s differs from %s", tc.name, b, want[tc.name])
					return
				}
				_ = set.MayPublish("tax-bureau", "tax")
				_ = set.Version()
			}
		})
	}
	wg.Wait()
}

func BenchmarkDecide(b *testing.B) {
	s := mustDefault(b)
	b.Run("permit", func(b *testing.B) {
		req := Request{"school-enrolment", "household", "school_enrolment", "C-1", inWindow}
		b.ReportAllocs()
		for b.Loop() {
			if !s.Decide(req).Allowed {
				b.Fatal("denied")
			}
		}
	})
	b.Run("deny-no-policy", func(b *testing.B) {
		req := Request{"school-enrolment", "tax", "school_enrolment", "C-1", inWindow}
		b.ReportAllocs()
		for b.Loop() {
			if s.Decide(req).Allowed {
				b.Fatal("allowed")
			}
		}
	})
	extra := mustParseFile(b, "testdata/decisions/policies.yaml")
	b.Run("union-with-forbid", func(b *testing.B) {
		req := Request{"auditor", "household", "audit", "", inWindow}
		b.ReportAllocs()
		for b.Loop() {
			if !extra.Decide(req).Allowed {
				b.Fatal("denied")
			}
		}
	})
}

// TestDecideZeroTimeIsNow checks that a request without a time is judged
// at the current time, moving the clock with synctest.
func TestDecideZeroTimeIsNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now() // synctest's clock: 2000-01-01T00:00:00Z
		src := fmt.Sprintf(`kind: AccessPolicy
metadata: {name: short}
spec: {consumer: c, dataset: tax, purposes: [p], fields: [tax_paid], validUntil: %s}
`, start.Add(10*time.Second).UTC().Format(time.RFC3339))
		s, err := Parse("short.yaml", []byte(src), testCatalog)
		if err != nil {
			t.Fatal(err)
		}
		req := Request{Consumer: "c", Dataset: "tax", Purpose: "p"}
		if err := s.Decide(req).Err(); err != nil {
			t.Fatalf("inside the window: %v", err)
		}
		time.Sleep(11 * time.Second)
		d := s.Decide(req)
		if !errors.Is(d.Err(), ErrOutsideValidity) {
			t.Fatalf("after the window: %v", d.Err())
		}
		var de *DenyError
		if !errors.As(d.Err(), &de) || de.Policy != "short" ||
			!slices.Equal(de.Reasons, []string{"deny: policy short expired at 2000-01-01T00:00:10Z"}) {
			t.Fatalf("deny error %#v", de)
		}
	})
}
