package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/deploy/testkit"
)

const subPurpose = "kind: Purpose\nmetadata: {name: pt}\nspec: {purpose: pension_termination}\n"

func subDoc(name, consumer, fields string) string {
	return fmt.Sprintf("kind: Subscription\nmetadata: {name: %s}\nspec: {consumer: %s, dataset: death, purpose: pension_termination, fields: [%s]}\n", name, consumer, fields)
}

func TestSubscriptionLoad(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr error
	}{
		{"valid", subPurpose + "---\n" + subDoc("s", "pension-service", "resident_id, death_date"), nil},
		{"purpose without a Purpose document", subDoc("s", "pension-service", "resident_id"), ErrMissing},
		{"unknown field", subPurpose + "---\n" + subDoc("s", "pension-service", "resident_id, salary"), ErrUnknownField},
		{"wildcard consumer", subPurpose + "---\n" + subDoc("s", `"*"`, "resident_id"), ErrBadValue},
		{"no fields", subPurpose + "---\n" + subDoc("s", "pension-service", ""), ErrMissing},
		{"unknown dataset", subPurpose + "---\nkind: Subscription\nmetadata: {name: s}\nspec: {consumer: c, dataset: nope, purpose: pension_termination, fields: [a]}\n", ErrUnknownDataset},
		{"two purposes", subPurpose + "---\nkind: Subscription\nmetadata: {name: s}\nspec: {consumer: c, dataset: death, purpose: [a, b], fields: [name]}\n", ErrBadValue},
		{"unknown key", subPurpose + "---\nkind: Subscription\nmetadata: {name: s}\nspec: {consumer: c, dataset: death, purpose: pension_termination, fields: [name], requireCaseId: true}\n", ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src), testCatalog)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestSubscriptionsAfterForbids: a delivery releases the subscription's
// fields less those a Forbid withholds, and a subscription left with
// none is no subscription.
func TestSubscriptionsAfterForbids(t *testing.T) {
	forbid := "kind: Forbid\nmetadata: {name: f}\nspec: {consumer: \"*\", dataset: death, fields: [cause_of_death]}\n"
	only := "kind: Forbid\nmetadata: {name: g}\nspec: {consumer: nosy, dataset: death, fields: [\"*\"]}\n"
	src := strings.Join([]string{subPurpose, forbid, only,
		subDoc("b-pension", "pension-service", "resident_id, death_date, cause_of_death"),
		subDoc("a-nosy", "nosy", "resident_id")}, "---\n")
	s, err := Parse("s.yaml", []byte(src), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	want := []Subscription{{Name: "b-pension", Consumer: "pension-service", Dataset: "death", Purpose: "pension_termination", Fields: []string{"death_date", "resident_id"}}}
	for _, ds := range []string{"death", ""} {
		if got := s.Subscriptions(ds); !slices.EqualFunc(got, want, func(a, b Subscription) bool {
			return a.Name == b.Name && a.Consumer == b.Consumer && a.Dataset == b.Dataset && a.Purpose == b.Purpose && slices.Equal(a.Fields, b.Fields)
		}) {
			t.Errorf("Subscriptions(%q) = %+v, want %+v", ds, got, want)
		}
	}
	if got := s.Subscriptions("household"); len(got) != 0 {
		t.Errorf("Subscriptions(household) = %+v, want none", got)
	}
	if got := s.Subscribers(); !slices.Equal(got, []string{"nosy", "pension-service"}) {
		t.Errorf("Subscribers() = %v", got)
	}
	again, err := Parse("canonical.yaml", s.YAML(), testCatalog)
	if err != nil || again.Version() != s.Version() {
		t.Errorf("canonical YAML does not round-trip: %v (version %s, want %s)", err, again.Version(), s.Version())
	}
}

// TestClassifySubscriptions: a new subscription, a field added to one, or
// a forbid removed from under one widens; removing any of them narrows.
// The golden file holds each verdict and its widenings.
func TestClassifySubscriptions(t *testing.T) {
	forbid := "kind: Forbid\nmetadata: {name: f}\nspec: {consumer: \"*\", dataset: death, fields: [certificate_no]}\n"
	set := func(docs ...string) *Set {
		s, err := Parse("c.yaml", []byte(strings.Join(append([]string{subPurpose}, docs...), "---\n")), testCatalog)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := set(subDoc("p", "pension-service", "resident_id, death_date"))
	tests := []struct {
		name     string
		old, new *Set
	}{
		{"add a subscription", set(), base},
		{"remove a subscription", base, set()},
		{"add a field", base, set(subDoc("p", "pension-service", "resident_id, death_date, name"))},
		{"drop a field", base, set(subDoc("p", "pension-service", "resident_id"))},
		{"rename only", base, set(subDoc("q", "pension-service", "resident_id, death_date"))},
		{"another consumer", base, set(subDoc("p", "social-insurance-service", "resident_id, death_date"))},
		{"remove a forbid under a subscription", set(forbid, subDoc("p", "pension-service", "resident_id, certificate_no")), set(subDoc("p", "pension-service", "resident_id, certificate_no"))},
		{"add a forbid under a subscription", set(subDoc("p", "pension-service", "resident_id, certificate_no")), set(forbid, subDoc("p", "pension-service", "resident_id, certificate_no"))},
	}
	var b strings.Builder
	for _, tt := range tests {
		c := Classify(tt.old, tt.new)
		fmt.Fprintf(&b, "%s: %s\n", tt.name, c.Effect)
		for _, w := range c.Widenings {
			fmt.Fprintf(&b, "  %s\n", w)
		}
		for _, ch := range c.Changes {
			fmt.Fprintf(&b, "  %s\n", ch)
		}
	}
	testkit.Golden(t, "testdata/classify/subscriptions.golden", []byte(b.String()))
}
