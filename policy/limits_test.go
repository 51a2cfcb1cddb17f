package policy

import (
	"errors"
	"strings"
	"testing"
)

func accessDoc(name, purposes, limits string) string {
	doc := "kind: AccessPolicy\nmetadata: {name: " + name + "}\nspec:\n  consumer: school-enrolment\n  dataset: household\n" +
		"  purposes: " + purposes + "\n  fields: [name]\n"
	if limits != "" {
		doc += "  limits: " + limits + "\n"
	}
	return doc
}

func TestLimitsParse(t *testing.T) {
	tests := []struct {
		name    string
		limits  string
		want    Limits
		wantErr error
	}{
		{"all three", "{rate: 50/s, burst: 100, daily: 100000}", Limits{Rate: "50/s", PerSecond: 50, Burst: 100, Daily: 100000}, nil},
		{"per minute, default burst", "{rate: 90/m}", Limits{Rate: "90/m", PerSecond: 1.5, Burst: 2}, nil},
		{"per hour, default burst at least 1", "{rate: 36/h}", Limits{Rate: "36/h", PerSecond: 0.01, Burst: 1}, nil},
		{"daily only", "{daily: 3}", Limits{Daily: 3}, nil},
		{"empty", "{}", Limits{}, ErrMissing},
		{"burst without rate", "{burst: 5, daily: 3}", Limits{}, ErrBadValue},
		{"rate without unit", "{rate: 50}", Limits{}, ErrBadValue},
		{"rate per day", "{rate: 50/d}", Limits{}, ErrBadValue},
		{"rate zero", "{rate: 0/s}", Limits{}, ErrBadValue},
		{"rate too high", "{rate: 2000000/s}", Limits{}, ErrBadValue},
		{"negative daily", "{daily: -1}", Limits{}, ErrBadValue},
		{"fractional burst", "{rate: 5/s, burst: 1.5}", Limits{}, ErrBadValue},
		{"daily as string", "{daily: \"10\"}", Limits{}, ErrBadValue},
		{"unknown key", "{rate: 5/s, per_subject: 3}", Limits{}, ErrUnknownKey},
		{"not a mapping", "50/s", Limits{}, ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("limits.yaml", []byte(accessDoc("p", "[school_enrolment]", tt.limits)), testCatalog)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "limits") {
					t.Fatalf("error %q does not name spec.limits", err)
				}
				return
			}
			if got := s.Policies()[0].Limits; got != tt.want {
				t.Fatalf("limits = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLimitsLookup(t *testing.T) {
	src := accessDoc("a", "[school_enrolment, newborn_registration]", "{rate: 50/s, burst: 100, daily: 100000}") +
		"---\n" + accessDoc("b", "[school_enrolment]", "{rate: 80/s, burst: 20}") +
		"---\n" + accessDoc("c", "[property_transfer]", "")
	s, err := Parse("limits.yaml", []byte(src), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, consumer, purpose string
		want                    Limits
		wantBucket              string
		wantOK                  bool
	}{
		{"stricter of each number", "school-enrolment", "school_enrolment", Limits{Rate: "50/s", PerSecond: 50, Burst: 20, Daily: 100000}, "school_enrolment", true},
		{"one policy", "school-enrolment", "newborn_registration", Limits{Rate: "50/s", PerSecond: 50, Burst: 100, Daily: 100000}, "newborn_registration", true},
		{"purpose of an unlimited policy shares the consumer bucket", "school-enrolment", "property_transfer", Limits{Rate: "50/s", PerSecond: 50, Burst: 20, Daily: 100000}, "", true},
		{"unknown purpose shares the consumer bucket", "school-enrolment", "marketing_" + strings.Repeat("x", 1000), Limits{Rate: "50/s", PerSecond: 50, Burst: 20, Daily: 100000}, "", true},
		{"empty purpose", "school-enrolment", "", Limits{Rate: "50/s", PerSecond: 50, Burst: 20, Daily: 100000}, "", true},
		{"consumer without limits", "tax-bureau", "school_enrolment", Limits{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, bucket, ok := s.Limits(tt.consumer, tt.purpose)
			if l != tt.want || bucket != tt.wantBucket || ok != tt.wantOK {
				t.Fatalf("Limits = %+v %q %v, want %+v %q %v", l, bucket, ok, tt.want, tt.wantBucket, tt.wantOK)
			}
		})
	}
}

func TestLimitsChangeVersion(t *testing.T) {
	a, err := Parse("a.yaml", []byte(accessDoc("p", "[school_enrolment]", "")), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte(accessDoc("p", "[school_enrolment]", "{daily: 10}")), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("c.yaml", []byte(accessDoc("p", "[school_enrolment]", "{daily: 11}")), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if a.Version() == b.Version() || b.Version() == c.Version() {
		t.Fatalf("versions do not change with limits: %s %s %s", a.Version(), b.Version(), c.Version())
	}
}
