package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

func loadPolicies(dir string) (*policy.Set, *schemas.Registry, error) {
	reg, err := schemas.Default()
	if err != nil {
		return nil, nil, err
	}
	if dir == "" {
		s, err := policy.Default(reg)
		return s, reg, err
	}
	s, err := policy.Load(os.DirFS(dir), reg)
	return s, reg, err
}

func runPolicy(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want `policy explain|diff|check` or, for officers, `policy propose|review|approve|reject|narrow|rollback|versions`")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.out, "Usage: onevisit policy <command> [flags]; `onevisit policy <command> -h` for its flags.\n\n"+
			"  explain, diff OLD NEW, check [DIR]              read the policy files\n"+
			"  propose FILE|DIR --reason R --credentials C     an officer proposes a whole new policy set\n"+
			"  review ID --credentials C                       its diff and what-if replay of the audit log\n"+
			"  approve ID --reason R --credentials C           another officer approves (N officers apply it)\n"+
			"  reject ID --reason R --credentials C            end a proposal\n"+
			"  narrow FILE|DIR --reason R --credentials C      one officer removes access at once\n"+
			"  rollback VERSION --reason R --credentials C     propose an earlier version again\n"+
			"  versions --credentials C | --exchange URL       the applied versions")
		return flag.ErrHelp
	}
	if gov, ok := policyGov[args[0]]; ok {
		return gov(ctx, e, args[1:])
	}
	switch args[0] {
	case "explain":
		fs := flags(e, "policy explain")
		dir := fs.String("dir", "", "policy folder (default: the built-in example policies)")
		var r policy.Request
		fs.StringVar(&r.Consumer, "consumer", "", "consumer client id (required)")
		fs.StringVar(&r.Dataset, "dataset", "", "dataset (required)")
		fs.StringVar(&r.Purpose, "purpose", "", "purpose (required)")
		fs.StringVar(&r.CaseID, "case-id", "(any case id)", "case id")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if r.Consumer == "" || r.Dataset == "" || r.Purpose == "" {
			return usagef("--consumer, --dataset and --purpose are required")
		}
		set, _, err := loadPolicies(*dir)
		if err != nil {
			return err
		}
		r.Time = time.Now()
		enc := json.NewEncoder(e.out)
		enc.SetIndent("", "  ")
		return enc.Encode(set.Decide(r))
	case "diff":
		if len(args) != 3 {
			return usagef("want `policy diff OLD_DIR NEW_DIR`")
		}
		old, _, err := loadPolicies(args[1])
		if err != nil {
			return err
		}
		nw, _, err := loadPolicies(args[2])
		if err != nil {
			return err
		}
		changes := policy.Diff(old, nw)
		for _, c := range changes {
			fmt.Fprintln(e.out, c.String())
		}
		if len(changes) == 0 {
			fmt.Fprintln(e.out, "no change in who may read or publish what")
		}
		return nil
	case "check":
		dir := ""
		if len(args) > 1 {
			dir = args[1]
		}
		set, _, err := loadPolicies(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "ok: %d policy documents, version %s\n", len(set.Policies()), set.Version())
		return nil
	}
	return usagef("unknown policy command %q", args[0])
}

func runSchema(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && schemaGov[args[0]] != nil {
		return schemaGov[args[0]](ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "check" || len(args) > 2 {
		return usagef("want `schema check [DIR]`, `schema propose FILE`, `schema list`")
	}
	var results []schemas.Result
	var err error
	if len(args) == 2 {
		results, err = schemas.CheckDir(args[1])
	} else {
		results, err = schemas.CheckFS(schemas.Files())
	}
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range results {
		fmt.Fprintln(e.out, r.String())
		if !r.OK() {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d dataset(s) have incompatible versions", bad)
	}
	return nil
}
