package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The layering of ../../../shared/DESIGN.md, as rules on the import graph
// of this module:
//
//   - the client side depends on the wire contract only: connectors and
//     everything it imports reach no package of the exchange's server
//     side (serverSide);
//   - composition roots sit above everything: no package under exchange/,
//     tests included, reaches connectors or cmd (connectors/samples, the
//     sample data, is allowed while it imports nothing from this module);
//   - schemas and policy, tests included, reach nothing under exchange/;
//   - exchange/wire imports nothing from this module, and the other
//     wire-side packages (record, receipt, keys, and live: the live-query
//     format a department's responder shares) reach no server-side
//     package.
//
// TestLayering checks them on the real graph (go list) and prints each
// import edge that breaks one, with the path that reaches it.

const module = "github.com/onevisit/onevisit"

// serverSide is the exchange's server side: the node, the acceptance and
// query flows, the view, the audit log, the HTTP API and the policy
// engine (each with its subpackages).
var serverSide = []string{"exchange", "exchange/ingest", "exchange/query", "exchange/view", "exchange/audit", "exchange/api", "policy"}

// sampleData may be imported from exchange tests: it is embedded CSV
// files and imports nothing from this module.
const sampleData = "connectors/samples"

// pkg is one package of the module, by path relative to the module.
type pkg struct {
	Imports     []string // non-test imports, in this module
	TestImports []string // imports of its _test.go files, in this module
}

type graph map[string]pkg

// under reports whether p is dir or a package below it.
func under(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// isServerSide: the exchange root package itself, or a package in one of
// the other serverSide trees.
func isServerSide(p string) bool {
	return p == "exchange" || under(p, serverSide[1:]...)
}

// rule is one layering rule: from the packages roots selects (with their
// test imports when tests is set), following imports, no package for
// which forbidden is true may be reached.
type rule struct {
	name      string
	roots     func(string) bool
	tests     bool
	forbidden func(string) bool
}

var rules = []rule{
	{
		name:      "connectors depends on the wire contract only, not on the exchange's server side",
		roots:     func(p string) bool { return under(p, "connectors") },
		forbidden: isServerSide,
	},
	{
		name:      "nothing under exchange/ (tests included) imports connectors or cmd",
		roots:     func(p string) bool { return under(p, "exchange") },
		tests:     true,
		forbidden: func(p string) bool { return under(p, "connectors", "cmd") && p != sampleData },
	},
	{
		name:      "schemas and policy (tests included) import nothing from exchange/",
		roots:     func(p string) bool { return under(p, "schemas", "policy") },
		tests:     true,
		forbidden: func(p string) bool { return under(p, "exchange") },
	},
	{
		name:      "the wire contract is a leaf: exchange/wire imports nothing from this module",
		roots:     func(p string) bool { return p == "exchange/wire" },
		forbidden: func(string) bool { return true },
	},
	{
		name: "the wire-side packages (record, receipt, keys, live) reach no server-side package",
		roots: func(p string) bool {
			return under(p, "exchange/record", "exchange/receipt", "exchange/keys", "exchange/live")
		},
		forbidden: isServerSide,
	},
	{
		name:  "the pages (exchange/webui) and residents' sign-in (exchange/citizen) reach no server-side package, nor the API, keys or auth code",
		roots: func(p string) bool { return p == "exchange/webui" || p == "exchange/citizen" },
		forbidden: func(p string) bool {
			return isServerSide(p) || under(p, "exchange/api", "exchange/keys", "exchange/auth")
		},
	},
	{
		name:      "connectors/samples is sample data and imports nothing from this module",
		roots:     func(p string) bool { return p == sampleData },
		forbidden: func(string) bool { return true },
	},
}

// check returns one line per import edge that breaks a rule: the rule,
// the edge, and the path from a root that reaches it.
func check(g graph) []string {
	var out []string
	names := make([]string, 0, len(g))
	for p := range g {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, r := range rules {
		seen := map[string]bool{}
		for _, root := range names {
			if !r.roots(root) {
				continue
			}
			// Depth-first from root; path holds the chain to the current package.
			var walk func(p string, path []string, withTests bool)
			walk = func(p string, path []string, withTests bool) {
				imps := g[p].Imports
				if withTests {
					imps = append(slices.Clone(imps), g[p].TestImports...)
				}
				for _, q := range imps {
					chain := append(slices.Clone(path), q)
					if r.forbidden(q) {
						edge := p + " → " + q
						if !seen[edge] {
							seen[edge] = true
							out = append(out, r.name+": "+edge+" (reached by "+strings.Join(chain, " → ")+")")
						}
						continue
					}
					if !slices.Contains(path, q) {
						walk(q, chain, false)
					}
				}
			}
			walk(root, []string{root}, r.tests)
		}
	}
	return out
}

// moduleGraph lists every package of the module with go list.
func moduleGraph(t *testing.T) graph {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports,Error", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rel := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			if r, ok := strings.CutPrefix(p, module+"/"); ok {
				out = append(out, r)
			}
		}
		return out
	}
	g := graph{}
	dec := json.NewDecoder(stdout)
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
			Error                              *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		name, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		g[name] = pkg{Imports: rel(p.Imports), TestImports: rel(append(p.TestImports, p.XTestImports...))}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	return g
}

func TestLayering(t *testing.T) {
	g := moduleGraph(t)
	for _, must := range []string{"connectors", "exchange", "exchange/ingest", "schemas", "policy"} {
		if _, ok := g[must]; !ok {
			t.Fatalf("go list found no package %s: the rules would pass vacuously", must)
		}
	}
	for _, v := range check(g) {
		t.Error(v)
	}
}

// TestLayeringRules: the checker finds each kind of broken edge, names it
// and the path to it, and passes a clean graph.
func TestLayeringRules(t *testing.T) {
	clean := graph{
		"connectors":         {Imports: []string{"exchange/wire", "exchange/record", "schemas"}},
		"connectors/samples": {},
		"exchange":           {Imports: []string{"exchange/ingest", "exchange/api"}},
		"exchange/api":       {Imports: []string{"exchange/ingest", "exchange/wire", "policy"}, TestImports: []string{"connectors/samples"}},
		"exchange/ingest":    {Imports: []string{"exchange/wire", "exchange/record", "schemas", "policy"}},
		"exchange/record":    {Imports: []string{"exchange/wire"}},
		"exchange/wire":      {},
		"exchange/keys":      {Imports: []string{"exchange/wire"}},
		"policy":             {Imports: []string{"schemas"}},
		"schemas":            {},
		"cmd/onevisit":       {Imports: []string{"connectors", "exchange"}},
	}
	with := func(p string, imports, tests []string) graph {
		g := graph{}
		for k, v := range clean {
			g[k] = v
		}
		n := g[p]
		n.Imports = append(slices.Clone(n.Imports), imports...)
		n.TestImports = append(slices.Clone(n.TestImports), tests...)
		g[p] = n
		return g
	}
	tests := []struct {
		name string
		g    graph
		want [][]string // per reported line, in order: substrings it must contain
	}{
		{"clean", clean, nil},
		{"connectors imports ingest for its result type (main before issue 8)", with("connectors", []string{"exchange/ingest"}, nil),
			[][]string{{"connectors depends on the wire contract only", "connectors → exchange/ingest (reached by connectors → exchange/ingest)"}}},
		{"connectors reaches the policy engine through a wire-side package", with("exchange/record", []string{"policy"}, nil),
			[][]string{{"exchange/record → policy (reached by connectors → exchange/record → policy)"},
				{"wire-side packages", "exchange/record → policy (reached by exchange/record → policy)"}}},
		{"connectors' tests are not its imports", with("connectors", nil, []string{"exchange/ingest"}), nil},
		{"an exchange test imports connectors", with("exchange/ingest", nil, []string{"connectors"}),
			[][]string{{"nothing under exchange/", "exchange/ingest → connectors (reached by exchange/ingest → connectors)"}}},
		{"the node imports dev mode", with("exchange", []string{"cmd/onevisit/dev"}, nil),
			[][]string{{"exchange → cmd/onevisit/dev"}}},
		{"schemas imports the wire contract", with("schemas", []string{"exchange/wire"}, nil),
			[][]string{{"schemas and policy", "schemas → exchange/wire (reached by policy → schemas → exchange/wire)"}}},
		{"a policy test imports record", with("policy", nil, []string{"exchange/record"}),
			[][]string{{"schemas and policy", "policy → exchange/record"}}},
		{"the wire contract imports record", with("exchange/wire", []string{"exchange/record"}, nil),
			[][]string{{"exchange/wire imports nothing", "exchange/wire → exchange/record (reached by exchange/wire → exchange/record)"}}},
		{"keys imports the audit log", with("exchange/keys", []string{"exchange/audit"}, nil),
			[][]string{{"wire-side packages", "exchange/keys → exchange/audit"}}},
		{"sample data imports schemas", with("connectors/samples", []string{"schemas"}, nil),
			[][]string{{"sample data", "connectors/samples → schemas"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(tt.g)
			if len(got) != len(tt.want) {
				t.Fatalf("check reported %d lines, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, parts := range tt.want {
				for _, part := range parts {
					if !strings.Contains(got[i], part) {
						t.Errorf("line %d = %q, want it to contain %q", i, got[i], part)
					}
				}
			}
		})
	}
}
