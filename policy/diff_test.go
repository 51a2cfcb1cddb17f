package policy

import (
	"os"
	"strings"
	"testing"
)

func loadDir(t *testing.T, dir string) *Set {
	t.Helper()
	s, err := Load(os.DirFS(dir), testCatalog)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	return s
}

// TestDiffGolden diffs testdata/diff/old (the examples) against
// testdata/diff/new (a proposed change) and pins the lines an officer
// would review.
func TestDiffGolden(t *testing.T) {
	old, new := loadDir(t, "testdata/diff/old"), loadDir(t, "testdata/diff/new")
	var b strings.Builder
	for _, c := range Diff(old, new) {
		b.WriteString(c.String() + "\n")
	}
	golden(t, "testdata/diff/want.golden", []byte(b.String()))

	var back strings.Builder
	for _, c := range Diff(new, old) {
		back.WriteString(c.String() + "\n")
	}
	golden(t, "testdata/diff/want-reverse.golden", []byte(back.String()))
}

func TestDiffNoChange(t *testing.T) {
	tests := []struct {
		name     string
		old, new *Set
		want     int
	}{
		{"same set", mustDefault(t), mustDefault(t), 0},
		{"both nil", nil, nil, 0},
		// Every grant and every read of the examples: 3 grants, and one
		// gain line per consumer, dataset and purpose (5).
		{"from nothing", nil, mustDefault(t), 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.old, tc.new)
			if len(got) != tc.want {
				t.Errorf("got %d changes, want %d: %v", len(got), tc.want, got)
			}
			for _, c := range got {
				if !c.Gain {
					t.Errorf("unexpected loss %v", c)
				}
			}
		})
	}
}
