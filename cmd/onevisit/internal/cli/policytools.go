package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// parseArgs parses flags placed before, between and after positional
// arguments and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		if !strings.HasPrefix(args[0], "-") || args[0] == "-" {
			pos, args = append(pos, args[0]), args[1:]
			continue
		}
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
	}
	return pos, nil
}

// explainDecision prints a decision (JSON by default, lines with -o
// text) and refuses (exit 1) when it denies, so scripts can test it.
func explainDecision(e *env, o *output, d policy.Decision) error {
	err := o.print(e, d, func(w io.Writer) error {
		verdict := "deny"
		if d.Allowed {
			verdict = "permit"
		}
		fmt.Fprintf(w, "decision: %s\n", verdict)
		if len(d.Fields) > 0 {
			fmt.Fprintf(w, "fields: %s\n", strings.Join(d.Fields, ", "))
		}
		if len(d.ConsentFields) > 0 {
			fmt.Fprintf(w, "consent required for: %s\n", strings.Join(d.ConsentFields, ", "))
		}
		if d.Policy != "" {
			fmt.Fprintf(w, "policy: %s\n", d.Policy)
		}
		for _, r := range d.Reasons {
			fmt.Fprintln(w, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !d.Allowed {
		return refusedf("denied")
	}
	return nil
}

// diffJSON is `policy diff -o json`: the same lines as the text, grouped.
type diffJSON struct {
	Effect    string   `json:"effect"`              // unchanged, narrows or widens
	Changes   []string `json:"changes"`             // who gains or loses what, one line each
	Widenings []string `json:"widenings,omitempty"` // why it widens, one "widen:" line each
}

// policyDiff: `policy diff OLD NEW`. It exits 1 when the change widens
// access (it would need N officers' approval), so a CI pipeline that
// reviews policy changes fails on a widening and passes a narrowing.
func policyDiff(e *env, args []string) error {
	fs := flags(e, "policy diff")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit policy diff [-o text|json] OLD NEW

OLD and NEW are policy folders (or single YAML files). Prints who gains or
loses which access, then, when the change widens access, every way it does
("widen: ..."). Exits 0 when the change only narrows access or changes
nothing, 1 when it widens access (the change needs N officers' approval),
2 on a usage error.

Flags:
`)
		fs.PrintDefaults()
	}
	o := outputFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want `policy diff OLD_DIR NEW_DIR`")
	}
	old, err := loadSet(pos[0])
	if err != nil {
		return err
	}
	nw, err := loadSet(pos[1])
	if err != nil {
		return err
	}
	c := policy.Classify(old, nw)
	j := diffJSON{Effect: c.Effect.String(), Changes: []string{}, Widenings: c.Widenings}
	for _, ch := range c.Changes {
		j.Changes = append(j.Changes, ch.String())
	}
	err = o.print(e, j, func(w io.Writer) error {
		for _, l := range j.Changes {
			fmt.Fprintln(w, l)
		}
		if len(j.Changes) == 0 && c.Effect != policy.Widens {
			fmt.Fprintln(w, "no change in who may read or publish what")
		}
		for _, l := range j.Widenings {
			fmt.Fprintln(w, l)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.Effect == policy.Widens {
		return refusedf("the change widens access in %d way(s): it needs the approval of N officers (`policy propose`)", len(c.Widenings))
	}
	return nil
}

// checkJSON is `policy check -o json`.
type checkJSON struct {
	Documents int    `json:"documents"`
	Version   string `json:"version"`
}

// policyCheck: `policy check [DIR]`, the built-in policies without DIR.
func policyCheck(e *env, args []string) error {
	fs := flags(e, "policy check")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit policy check [-o text|json] [DIR]

Loads and validates the policy folder DIR (default: the built-in example
policies) against the schemas. Exits 1 naming the file, field and cause of
the first problem.

Flags:
`)
		fs.PrintDefaults()
	}
	o := outputFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("want `policy check [DIR]`")
	}
	dir := ""
	if len(pos) == 1 {
		dir = pos[0]
	}
	set, _, err := loadPolicies(dir)
	if err != nil {
		return err
	}
	j := checkJSON{Documents: len(set.Policies()), Version: set.Version()}
	return o.print(e, j, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "ok: %d policy documents, version %s\n", j.Documents, j.Version)
		return err
	})
}

// schemaResultJSON is one dataset of `schema check -o json`.
type schemaResultJSON struct {
	Dataset  string   `json:"dataset"`
	OK       bool     `json:"ok"`
	Versions []string `json:"versions"`
	Mode     string   `json:"mode"`
	Problems []string `json:"problems"`
}

// schemaCheck: `schema check [DIR]`, the built-in schemas without DIR.
func schemaCheck(e *env, args []string) error {
	fs := flags(e, "schema check")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit schema check [-o text|json] [DIR]

Checks every dataset's schema versions in DIR (default: the built-in
schemas), each against its predecessor under the compatibility mode the
latest declares. Exits 1 when a dataset has incompatible versions.

Flags:
`)
		fs.PrintDefaults()
	}
	o := outputFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("want `schema check [DIR]`")
	}
	var results []schemas.Result
	if len(pos) == 1 {
		results, err = schemas.CheckDir(pos[0])
	} else {
		results, err = schemas.CheckFS(schemas.Files())
	}
	if err != nil {
		return err
	}
	bad := 0
	js := []schemaResultJSON{}
	for _, r := range results {
		j := schemaResultJSON{Dataset: r.Dataset, OK: r.OK(), Versions: r.Versions, Mode: string(r.Mode), Problems: []string{}}
		for _, p := range r.Problems {
			j.Problems = append(j.Problems, p.Error())
		}
		js = append(js, j)
		if !r.OK() {
			bad++
		}
	}
	err = o.print(e, js, func(w io.Writer) error {
		for _, r := range results {
			fmt.Fprintln(w, r.String())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if bad > 0 {
		return refusedf("%d dataset(s) have incompatible versions", bad)
	}
	return nil
}
