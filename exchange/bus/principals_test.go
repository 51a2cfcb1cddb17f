package bus

import (
	"slices"
	"testing"
)

// TestPrincipalsUsers: the users `kafka setup` creates and `kafka
// manifests` writes KafkaUsers for: the exchange's first, then every
// other principal once (a publisher that also responds or subscribes is
// one user), in name order.
func TestPrincipalsUsers(t *testing.T) {
	p := Principals{
		Exchange:    "onevisit-exchange",
		Publishers:  map[string][]string{"tax-bureau": {"tax"}, "civil-affairs": {"marriage"}},
		Responders:  map[string][]string{"tax-bureau": {"tax_live"}, "land-registry": {"property"}},
		Subscribers: []string{"school-enrolment", "civil-affairs", "aaa-consumer"},
	}
	want := []string{"onevisit-exchange", "aaa-consumer", "civil-affairs", "land-registry", "school-enrolment", "tax-bureau"}
	if got := p.Users(); !slices.Equal(got, want) {
		t.Fatalf("Users() = %v, want %v", got, want)
	}
	if got := (Principals{Exchange: "x"}).Users(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("Users() of the exchange alone = %v", got)
	}
}
