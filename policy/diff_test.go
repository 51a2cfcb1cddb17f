package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/deploy/testkit"
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
	testkit.Golden(t, "testdata/diff/want.golden", []byte(b.String()))

	var back strings.Builder
	for _, c := range Diff(new, old) {
		back.WriteString(c.String() + "\n")
	}
	testkit.Golden(t, "testdata/diff/want-reverse.golden", []byte(back.String()))
}

func TestDiffNoChange(t *testing.T) {
	tests := []struct {
		name     string
		old, new *Set
		want     int
	}{
		{"same set", mustDefault(t), mustDefault(t), 0},
		{"both nil", nil, nil, 0},
		// Every grant, read and subscription of the examples: 10 grants (one
		// of them live), one gain line per consumer, dataset and purpose (26),
		// and one per subscription (3).
		{"from nothing", nil, mustDefault(t), 39},
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

func TestDiffForbidAndConditions(t *testing.T) {
	permit := "kind: AccessPolicy\nmetadata: {name: a}\nspec: {consumer: c, dataset: household, purposes: [p], fields: [name, ethnicity]}\n"
	forbid := "---\nkind: Forbid\nmetadata: {name: f}\nspec: {consumer: \"*\", dataset: household, fields: [ethnicity]}\n"
	forbidAll := "---\nkind: Forbid\nmetadata: {name: f}\nspec: {consumer: c, dataset: household, fields: [\"*\"]}\n"
	parse := func(src string) *Set {
		s, err := Parse("d.yaml", []byte(src), testCatalog)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name     string
		old, new string
		want     []string
	}{
		{"dropping a forbid is a gain", permit + forbid, permit,
			[]string{"gain: c may read ethnicity of household for p"}},
		{"adding a forbid is a loss", permit, permit + forbid,
			[]string{"loss: c may no longer read ethnicity of household for p"}},
		{"forbid all", permit, permit + forbidAll,
			[]string{"loss: c may no longer read ethnicity, name of household for p"}},
		{"renaming changes nothing", permit, strings.Replace(permit, "name: a", "name: b", 1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range Diff(parse(tc.old), parse(tc.new)) {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
