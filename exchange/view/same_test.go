package view_test

import (
	"strings"
	"testing"

	"github.com/onevisit/onevisit/exchange/view"
)

// TestEntrySame: an entry recognises exactly the bytes it was built from,
// so a node can skip verifying a record it already holds, and only that.
func TestEntrySame(t *testing.T) {
	p := newPublisher(t)
	compact, r := p.sign(t, "r1", 1700000000, "upsert")
	other, _ := p.sign(t, "r2", 1700000000, "upsert")
	e := view.FromRecord(r, 1)
	jwtPart, _, _ := strings.Cut(compact, "~")
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"the record", compact, true},
		{"another record of the subject", other, false},
		{"a disclosure withheld", e.Project([]string{"name"}), false},
		{"no trailing tilde", strings.TrimSuffix(compact, "~"), false},
		{"extra disclosure", compact + r.Disclosures[0].Encoded + "~", false},
		{"bare JWT", jwtPart + "~", false},
		{"signature swapped", other[:strings.LastIndex(jwtPart, ".")] + compact[strings.LastIndex(jwtPart, "."):], false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.Same(tt.raw); got != tt.want {
				t.Errorf("Same = %v, want %v", got, tt.want)
			}
		})
	}
}
