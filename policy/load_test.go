package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// TestLoadBad loads each testdata/bad/<name>.yaml alone: it must fail
// with the sentinel named here, every joined error must be a *LoadError
// naming the file and a line, and the whole text is pinned in
// testdata/bad/<name>.golden.
func TestLoadBad(t *testing.T) {
	tests := []struct {
		file    string
		wantErr error
	}{
		{"alias", ErrBadValue},
		{"bad-bool", ErrBadValue},
		{"bad-consumer", ErrBadValue},
		{"bad-forbid-wildcard", ErrBadValue},
		{"bad-name", ErrBadValue},
		{"bad-purpose", ErrBadValue},
		{"bad-time", ErrBadValue},
		{"bad-type", ErrBadValue},
		{"bad-validity", ErrBadValidity},
		{"control-chars", ErrNotYAML},
		{"duplicate-field", ErrDuplicate},
		{"duplicate-key", ErrDuplicate},
		{"duplicate-name", ErrDuplicate},
		{"empty-fields", ErrMissing},
		{"many-problems", ErrUnknownField},
		{"missing-consumer", ErrMissing},
		{"missing-dataset", ErrMissing},
		{"missing-fields", ErrMissing},
		{"missing-name", ErrMissing},
		{"missing-purposes", ErrMissing},
		{"missing-spec", ErrMissing},
		{"not-mapping", ErrNotYAML},
		{"not-yaml", ErrNotYAML},
		{"unknown-dataset", ErrUnknownDataset},
		{"unknown-dataset-grant", ErrUnknownDataset},
		{"unknown-field", ErrUnknownField},
		{"unknown-key", ErrUnknownKey},
		{"unknown-key-metadata", ErrUnknownKey},
		{"unknown-key-top", ErrUnknownKey},
		{"unknown-kind", ErrUnknownKind},
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(tests) {
		t.Errorf("testdata/bad has %d files, the table %d: keep them in step", len(files), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "bad", tc.file+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			// Through Load, as officers' directories are read.
			s, err := Load(fstest.MapFS{"policies/" + tc.file + ".yaml": {Data: data}}, testCatalog)
			if s != nil {
				t.Fatal("a failed load returned a Set")
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want %v and ErrInvalid", err, tc.wantErr)
			}
			for _, e := range loadErrors(err) {
				if e.File != "policies/"+tc.file+".yaml" || e.Line < 1 {
					t.Errorf("error does not name file and line: %#v", e)
				}
			}
			testkit.Golden(t, filepath.Join("testdata", "bad", tc.file+".golden"), []byte(err.Error()+"\n"))
		})
	}
}

// loadErrors unpacks the joined *LoadErrors of a Load error; it fails if
// any joined error is of another type.
func loadErrors(err error) []*LoadError {
	var out []*LoadError
	var walk func(error)
	walk = func(err error) {
		if le, ok := err.(*LoadError); ok {
			out = append(out, le)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		default:
			out = append(out, &LoadError{Msg: "not a *LoadError: " + err.Error()})
		}
	}
	walk(err)
	return out
}

func TestLoadAcrossFiles(t *testing.T) {
	grant := "kind: PublisherGrant\nmetadata: {name: g}\nspec: {publisher: tax-bureau, datasets: [tax]}\n"
	access := `kind: AccessPolicy
metadata: {name: a}
spec: {consumer: c, dataset: tax, purposes: [p], fields: [tax_paid]}
`
	tests := []struct {
		name      string
		fsys      fstest.MapFS
		wantErr   error
		wantNames []string
		wantText  string
	}{
		{"yaml and yml, other files ignored", fstest.MapFS{
			"a/grants.yml":  {Data: []byte(grant)},
			"b/access.yaml": {Data: []byte(access)},
			"README.md":     {Data: []byte("not a policy: {")},
		}, nil, []string{"g", "a"}, ""},
		{"empty directory loads an empty set", fstest.MapFS{}, nil, []string{}, ""},
		{"empty documents skipped", fstest.MapFS{"x.yaml": {Data: []byte("---\n# nothing\n---\n" + grant + "---\n")}},
			nil, []string{"g"}, ""},
		{"duplicate name across files names both", fstest.MapFS{
			"1.yaml": {Data: []byte(grant)},
			"2.yaml": {Data: []byte("\n\n" + strings.Replace(access, "name: a", "name: g", 1))},
		}, ErrDuplicate, nil, `load policy: 2.yaml:3: metadata.name "g" is already used at 1.yaml:1`},
		{"errors from every file are reported", fstest.MapFS{
			"1.yaml": {Data: []byte("kind: Nope\n")},
			"2.yaml": {Data: []byte(strings.Replace(access, "tax_paid", "salary", 1))},
		}, ErrUnknownKind, nil, "load policy: 1.yaml:1:7: unknown kind \"Nope\" (want PublisherGrant, AccessPolicy, Forbid, Purpose, Procedure or Subscription)\n" +
			"2.yaml:3:59: dataset tax has no field \"salary\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(tc.fsys, testCatalog)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if err.Error() != tc.wantText {
					t.Errorf("error text\n%s\nwant\n%s", err, tc.wantText)
				}
				return
			}
			names := []string{}
			for _, p := range s.Policies() {
				names = append(names, p.Name)
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Errorf("policies %v, want %v", names, tc.wantNames)
			}
		})
	}
}

func TestLoadNilCatalog(t *testing.T) {
	if _, err := Load(fstest.MapFS{}, nil); err == nil {
		t.Fatal("Load with a nil catalog succeeded")
	}
	if _, err := Parse("x.yaml", nil, nil); err == nil {
		t.Fatal("Parse with a nil catalog succeeded")
	}
}

// TestPoliciesGolden pins the listing of the embedded examples, which is
// what the console and CLI show.
func TestPoliciesGolden(t *testing.T) {
	s := mustDefault(t)
	var b strings.Builder
	b.WriteString("version " + s.Version() + "\n")
	for _, p := range s.Policies() {
		b.WriteString(string(p.Kind) + " " + p.Name + " (" + p.Source + ")\n")
		switch p.Kind {
		case KindPublisherGrant:
			b.WriteString("  " + p.Publisher + " publishes " + strings.Join(p.Datasets, ", ") + modeSuffix(p.Mode) + "\n")
		case KindAccessPolicy:
			b.WriteString("  " + p.Consumer + " reads " + p.Dataset + " [" + strings.Join(p.Fields, ", ") + "] for " +
				strings.Join(p.Purposes, ", ") + " (" + condition(p) + ")\n")
		case KindForbid:
			b.WriteString("  " + p.Consumer + " never reads " + p.Dataset + " [" + strings.Join(p.Fields, ", ") + "]\n")
		}
	}
	testkit.Golden(t, "testdata/examples.golden", []byte(b.String()))

	// Policies returns copies.
	ps := s.Policies()
	ps[0].Datasets[0] = "changed"
	if s.Policies()[0].Datasets[0] == "changed" {
		t.Error("Policies shares its slices with the Set")
	}
}

func TestVersion(t *testing.T) {
	a := `kind: AccessPolicy
metadata: {name: a}
spec: {consumer: c, dataset: tax, purposes: [p, q], fields: [tax_paid, name]}
---
kind: PublisherGrant
metadata: {name: g}
spec: {publisher: tax-bureau, datasets: [tax]}
`
	// Same documents, other order, other list order, other layout.
	same := `kind: PublisherGrant
metadata:
  name: g
spec:
  publisher: tax-bureau
  datasets:
    - tax
---
# comment
kind: AccessPolicy
metadata: {name: a}
spec: {consumer: c, dataset: tax, purposes: [q, p], fields: [name, tax_paid]}
`
	other := strings.Replace(a, "[tax_paid, name]", "[tax_paid]", 1)
	withCase := strings.Replace(a, "fields: [tax_paid, name]}", "fields: [tax_paid, name], requireCaseId: true}", 1)
	// The same grant served live: queries go to the department, not the view.
	live := strings.Replace(a, "datasets: [tax]}", "datasets: [tax], mode: live}", 1)
	explicitReplicated := strings.Replace(a, "datasets: [tax]}", "datasets: [tax], mode: replicated}", 1)
	v := func(src string) string {
		s, err := Parse("v.yaml", []byte(src), testCatalog)
		if err != nil {
			t.Fatal(err)
		}
		return s.Version()
	}
	if !strings.HasPrefix(v(a), "sha256:") || len(v(a)) != len("sha256:")+64 {
		t.Fatalf("version %q is not sha256:<hex>", v(a))
	}
	if v(a) != v(same) {
		t.Errorf("same content, different versions: %s %s", v(a), v(same))
	}
	if v(a) == v(other) || v(a) == v(withCase) || v(a) == v(live) {
		t.Error("different content, same version")
	}
	if v(a) != v(explicitReplicated) {
		t.Error("mode: replicated, the default, changed the version")
	}
	var nilSet *Set
	if nilSet.Version() != "" || nilSet.Policies() != nil {
		t.Error("nil Set has a version or policies")
	}
}

// TestLoadValueSpellings checks YAML spellings that must not change the
// meaning of a policy (a case id requirement lost to "True" would be a
// silently wider policy).
func TestLoadValueSpellings(t *testing.T) {
	tests := []struct {
		name     string
		caseID   string
		validity string
		want     bool
		wantErr  error
	}{
		{"true", "true", "", true, nil},
		{"True", "True", "", true, nil},
		{"TRUE", "TRUE", "", true, nil},
		{"false", "false", "", false, nil},
		{"yes is not a bool", "yes", "", false, ErrBadValue},
		{"quoted true is a string", `"true"`, "", false, ErrBadValue},
		{"quoted time", "true", `, validFrom: "2026-01-01T08:00:00+08:00"`, true, nil},
		{"time with fraction", "true", ", validFrom: 2026-01-01T00:00:00.5Z", true, nil},
		{"local time without zone", "true", ", validFrom: 2026-01-01T00:00:00", false, ErrBadValue},
		{"equal ends allowed", "true", ", validFrom: 2026-01-01T00:00:00Z, validUntil: 2026-01-01T00:00:00Z", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "kind: AccessPolicy\nmetadata: {name: a}\nspec: {consumer: c, dataset: tax, purposes: [p], fields: [tax_paid], requireCaseId: " +
				tc.caseID + tc.validity + "}\n"
			s, err := Parse("v.yaml", []byte(src), testCatalog)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && s.Policies()[0].RequireCaseID != tc.want {
				t.Errorf("requireCaseId = %v, want %v", s.Policies()[0].RequireCaseID, tc.want)
			}
		})
	}
	s, err := Parse("v.yaml", []byte("kind: AccessPolicy\nmetadata: {name: a}\nspec: {consumer: c, dataset: tax, purposes: [p], fields: [tax_paid], validFrom: \"2026-01-01T08:00:00+08:00\"}\n"), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Policies()[0].ValidFrom; !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("validFrom = %v, want 2026-01-01T00:00:00Z in UTC", got)
	}
}
