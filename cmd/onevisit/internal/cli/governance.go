package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/api"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// The policy governance commands: an officer signs each change with
// their own key (the credentials file) and submits it to an exchange
// node, which checks it, puts it on the control topic and answers once
// it applied it.
var policyGov = map[string]func(ctx context.Context, e *env, args []string) error{
	"propose":  func(ctx context.Context, e *env, a []string) error { return policyChange(ctx, e, "propose", a) },
	"narrow":   func(ctx context.Context, e *env, a []string) error { return policyChange(ctx, e, "narrow", a) },
	"approve":  func(ctx context.Context, e *env, a []string) error { return policyDecide(ctx, e, "approve", a) },
	"reject":   func(ctx context.Context, e *env, a []string) error { return policyDecide(ctx, e, "reject", a) },
	"rollback": policyRollback,
	"review":   policyReview,
	"versions": policyVersions,
}

// govFlags are the flags every governance command takes.
type govFlags struct {
	cred, exchange, reason, id *string
	out                        *output // -o text|json
}

func newGovFlags(fs *flag.FlagSet, withReason bool) govFlags {
	g := govFlags{
		cred:     fs.String("credentials", "", "the acting officer's credentials file (required; the change is signed with its key)"),
		exchange: fs.String("exchange", "", "exchange base URL (default: the credentials file's)"),
		out:      outputFlag(fs),
	}
	if withReason {
		g.reason = fs.String("reason", "", "why (required; audited and shown to reviewers)")
	}
	return g
}

// parseWithArg parses flags before and after one positional argument.
func parseWithArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	var pos []string
	for len(args) > 0 {
		if !strings.HasPrefix(args[0], "-") {
			pos, args = append(pos, args[0]), args[1:]
			continue
		}
		if err := parse(fs, args); err != nil {
			return "", err
		}
		args = fs.Args()
	}
	if len(pos) != 1 {
		return "", usagef("want exactly one %s", what)
	}
	return pos[0], nil
}

func (g govFlags) client() (*connectors.Credentials, *connectors.Client, error) {
	if *g.cred == "" {
		return nil, nil, usagef("--credentials is required")
	}
	if g.reason != nil && *g.reason == "" {
		return nil, nil, usagef("--reason is required")
	}
	return loadClient(*g.cred, *g.exchange)
}

// exchangeURL is --exchange, or else the --credentials file's exchange: for
// the read-only commands that need no officer key.
func (g govFlags) exchangeURL() (string, error) {
	base := *g.exchange
	if base == "" && *g.cred != "" {
		c, err := connectors.LoadCredentials(*g.cred)
		if err != nil {
			return "", err
		}
		base = c.ExchangeURL
	}
	if base == "" {
		return "", usagef("--exchange or --credentials is required")
	}
	return base, nil
}

// propose submits ev as a new proposal to route: it loads the officer's
// client, bases ev on the node's current policy version, fills in *proposal
// (a random id when empty) and the reason, and prints the outcome as g.out says.
func (g govFlags) propose(ctx context.Context, e *env, route string, proposal *string, ev control.Event) error {
	cred, cl, err := g.client()
	if err != nil {
		return err
	}
	base, err := currentVersion(ctx, cl)
	if err != nil {
		return err
	}
	if *proposal == "" {
		*proposal = control.NewID()
	}
	ev.Proposal, ev.Base, ev.Reason = *proposal, base, *g.reason
	return submitTo(ctx, e, g.out, cred, cl, route, ev)
}

// approveHint tells a text reader how another officer approves proposal.
func (g govFlags) approveHint(e *env, proposal string) {
	if !g.out.json {
		fmt.Fprintf(e.out, "another officer approves it with `onevisit policy approve %s --reason ... --credentials ...`\n", proposal)
	}
}

// submitTo signs ev with the officer's key, posts it to route (the
// events route of ev's area) and prints the outcome as o says (-o json:
// the exchange's answer as it sent it).
func submitTo(ctx context.Context, e *env, o *output, cred *connectors.Credentials, cl *connectors.Client, route string, ev control.Event) error {
	s, err := cred.AuthSigner()
	if err != nil {
		return err
	}
	ev.Issuer = cred.ClientID
	tok, err := control.Sign(ctx, s, ev)
	if err != nil {
		return err
	}
	var out struct {
		Action   string            `json:"action"`
		Version  uint64            `json:"version"`
		Node     string            `json:"node"`
		Proposal *api.ProposalView `json:"proposal"`
	}
	if err := cl.Do(ctx, "POST", route, map[string]string{"event": tok}, &out); err != nil {
		return err
	}
	if o.json {
		return o.print(e, out, nil)
	}
	fmt.Fprintf(e.out, "%s by %s: done on node %s, which now decides by policy version %d\n", out.Action, cred.ClientID, out.Node, out.Version)
	if p := out.Proposal; p != nil {
		printProposal(e, *p)
	}
	return nil
}

func printProposal(e *env, p api.ProposalView) {
	fmt.Fprintf(e.out, "proposal %s: %s, %s access, base version %d", p.ID, p.State, p.Effect, p.Base)
	if p.Version != 0 {
		fmt.Fprintf(e.out, ", applied as version %d", p.Version)
	}
	if p.RollbackTo != 0 {
		fmt.Fprintf(e.out, ", rolls back to version %d", p.RollbackTo)
	}
	if p.Change != "" {
		fmt.Fprintf(e.out, ": %s", p.Change)
	}
	fmt.Fprintln(e.out)
	for i, a := range p.Approvals {
		verb := "approved"
		if i == 0 {
			verb = "proposed" // the proposer counts as its first officer
		}
		fmt.Fprintf(e.out, "  %s by %s: %s\n", verb, a.Officer, a.Reason)
	}
	if p.Rejection != nil {
		fmt.Fprintf(e.out, "  rejected by %s: %s\n", p.Rejection.Officer, p.Rejection.Reason)
	}
}

// currentVersion asks the exchange which version it decides by.
func currentVersion(ctx context.Context, cl *connectors.Client) (uint64, error) {
	var v struct {
		Current uint64 `json:"current"`
	}
	if err := cl.Do(ctx, "GET", "/v1/policy/versions", nil, &v); err != nil {
		return 0, err
	}
	return v.Current, nil
}

// loadSet reads a whole policy set from a folder or one YAML file.
func loadSet(path string) (*policy.Set, error) {
	reg, err := schemas.Default()
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return policy.Load(os.DirFS(path), reg)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return policy.Parse(filepath.Base(path), b, reg)
}

// policyChange: `policy propose|narrow FILE|DIR --reason R --credentials C`.
func policyChange(ctx context.Context, e *env, verb string, args []string) error {
	fs := flags(e, "policy "+verb)
	g := newGovFlags(fs, true)
	id := fs.String("id", "", "proposal id (default: a random one)")
	path, err := parseWithArg(fs, args, "FILE or DIR with the whole new policy set")
	if err != nil {
		return err
	}
	cred, cl, err := g.client()
	if err != nil {
		return err
	}
	set, err := loadSet(path)
	if err != nil {
		return err
	}
	base, err := currentVersion(ctx, cl)
	if err != nil {
		return err
	}
	if *id == "" {
		*id = control.NewID()
	}
	action := control.ActionPropose
	if verb == "narrow" {
		action = control.ActionNarrow
	}
	return submitTo(ctx, e, g.out, cred, cl, "/v1/policy/events", control.Event{Action: action, Proposal: *id, Base: base, Reason: *g.reason, Policy: string(set.YAML())})
}

// policyDecide: `policy approve|reject ID --reason R --credentials C`.
func policyDecide(ctx context.Context, e *env, verb string, args []string) error {
	fs := flags(e, "policy "+verb)
	g := newGovFlags(fs, true)
	id, err := parseWithArg(fs, args, "proposal ID")
	if err != nil {
		return err
	}
	cred, cl, err := g.client()
	if err != nil {
		return err
	}
	var p api.ProposalView
	if err := cl.Do(ctx, "GET", "/v1/policy/proposals/"+id, nil, &p); err != nil {
		return err
	}
	action := control.ActionApprove
	if verb == "reject" {
		action = control.ActionReject
	}
	return submitTo(ctx, e, g.out, cred, cl, "/v1/policy/events", control.Event{Action: action, Proposal: id, Base: p.Base, Reason: *g.reason})
}

// policyRollback: `policy rollback VERSION --reason R --credentials C`.
func policyRollback(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "policy rollback")
	g := newGovFlags(fs, true)
	id := fs.String("id", "", "proposal id (default: a random one)")
	vs, err := parseWithArg(fs, args, "VERSION to roll back to")
	if err != nil {
		return err
	}
	to, err := strconv.ParseUint(vs, 10, 64)
	if err != nil || to == 0 {
		return usagef("VERSION %q must be a version number (see `policy versions`)", vs)
	}
	return g.propose(ctx, e, "/v1/policy/events", id, control.Event{Action: control.ActionRollback, RollbackTo: to})
}

// policyReview: `policy review ID --credentials C`: the diff and what-if.
func policyReview(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "policy review")
	g := newGovFlags(fs, false)
	window := fs.Duration("window", policy.DefaultWhatIfWindow, "how far back the what-if replays the audit log")
	id, err := parseWithArg(fs, args, "proposal ID")
	if err != nil {
		return err
	}
	_, cl, err := g.client()
	if err != nil {
		return err
	}
	var p api.ProposalView
	if err := cl.Do(ctx, "GET", "/v1/policy/proposals/"+id+"?window="+window.String(), nil, &p); err != nil {
		return err
	}
	if g.out.json {
		return g.out.print(e, p, nil)
	}
	printProposal(e, p)
	fmt.Fprintf(e.out, "proposed by %s: %s\n", p.Proposer, p.Reason)
	fmt.Fprintln(e.out, "changes:")
	for _, c := range p.Changes {
		fmt.Fprintln(e.out, "  "+c)
	}
	if len(p.Changes) == 0 {
		fmt.Fprintln(e.out, "  no change in who may read or publish what")
	}
	for _, w := range p.Widenings {
		fmt.Fprintln(e.out, "  "+w)
	}
	if r := p.WhatIf; r != nil {
		fmt.Fprintf(e.out, "what-if, %s to %s: %d decisions replayed, %d answers would change\n",
			r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Replayed, r.Changed)
		for _, c := range r.Consumers {
			if c.Changed == 0 {
				continue
			}
			fmt.Fprintf(e.out, "  %s: %d of %d answers change (%d newly refused, %d newly answered, %d with other fields)\n",
				c.Consumer, c.Changed, c.Answers, c.NewlyRefused, c.NewlyPermitted, c.FieldsChanged)
			for _, f := range c.Gained {
				fmt.Fprintf(e.out, "    + %s.%s in %d answers\n", f.Dataset, f.Field, f.Answers)
			}
			for _, f := range c.Lost {
				fmt.Fprintf(e.out, "    - %s.%s in %d answers\n", f.Dataset, f.Field, f.Answers)
			}
		}
	}
	return nil
}

// policyVersions: `policy versions --credentials C | --exchange URL`.
func policyVersions(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "policy versions")
	g := newGovFlags(fs, false)
	o := g.out
	if err := parse(fs, args); err != nil {
		return err
	}
	base, err := g.exchangeURL()
	if err != nil {
		return err
	}
	var out struct {
		Node     string            `json:"node"`
		Current  uint64            `json:"current"`
		Versions []api.VersionView `json:"versions"`
	}
	if err := getJSON(ctx, base, "/v1/policy/versions", &out); err != nil {
		return err
	}
	return o.print(e, out, func(w io.Writer) error {
		fmt.Fprintf(w, "node %s decides by version %d\n", out.Node, out.Current)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tEFFECT\tOFFICERS\tTIME\tHASH\tREASON")
		for _, v := range out.Versions {
			eff := v.Effect
			if v.Narrowing {
				eff += " (narrow now)"
			}
			if v.RollbackTo != 0 {
				eff += fmt.Sprintf(" (rollback to %d)", v.RollbackTo)
			}
			if v.Change != "" {
				eff += " (" + v.Change + ")"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Number, eff, strings.Join(v.Officers, ","), v.Time.Format(time.RFC3339), v.Hash, v.Reason)
		}
		return tw.Flush()
	})
}

// getJSON fetches a public JSON document from the exchange.
func getJSON(ctx context.Context, base, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.Unmarshal(b, out)
}
