package cli

import (
	"context"
	"flag"
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
	if args[0] == "help" || isHelpFlag(args[0]) {
		// `policy help`: the overview `onevisit policy -h` prints, from
		// the groups table of help.go.
		groupUsage(e.out, "policy", commands["policy"].summary, groups["policy"])
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
		o := outputFlag(fs)
		o.json = true // explain printed JSON before -o existed; -o text gives lines
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
		return explainDecision(e, o, set.Decide(r))
	case "diff":
		return policyDiff(e, args[1:])
	case "check":
		return policyCheck(e, args[1:])
	}
	return usagef("unknown policy command %q", args[0])
}

func runSchema(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && schemaGov[args[0]] != nil {
		return schemaGov[args[0]](ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "check" {
		return usagef("want `schema check [DIR]`, `schema propose FILE`, `schema list`")
	}
	return schemaCheck(e, args[1:])
}
