package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/onevisit/onevisit/exchange/api"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// The schema commands of the control plane: an officer proposes the next
// version of a dataset (signed with their own key; other officers
// approve it with `policy approve`) and lists the versions a node holds.
var schemaGov = map[string]func(ctx context.Context, e *env, args []string) error{
	"propose": schemaPropose,
	"list":    schemaList,
}

// schemaPropose: `schema propose FILE --reason R --credentials C`.
func schemaPropose(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "schema propose")
	g := newGovFlags(fs, true)
	proposal := fs.String("proposal-id", "", "proposal id (default: a random one)")
	path, err := parseWithArg(fs, args, "schema FILE (schemas/<dataset>/v<N>.json)")
	if err != nil {
		return err
	}
	// The schema travels in one control event, so no larger file can be
	// proposed.
	b, err := readAtMost(path, control.MaxEventSize)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := jsonstrict.Decode(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	compact, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := g.propose(ctx, e, "/v1/schemas/events", proposal, control.Event{Action: control.ActionSchemasPropose, Schema: compact}); err != nil {
		return err
	}
	g.approveHint(e, *proposal)
	return nil
}

// schemaList: `schema list --exchange URL | --credentials C`.
func schemaList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "schema list")
	g := newGovFlags(fs, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	base, err := g.exchangeURL()
	if err != nil {
		return err
	}
	var out struct {
		Node    string           `json:"node"`
		Version uint64           `json:"version"`
		Schemas []api.SchemaView `json:"schemas"`
	}
	if err := getJSON(ctx, base, "/v1/schemas", &out); err != nil {
		return err
	}
	return g.out.print(e, out, func(w io.Writer) error {
		fmt.Fprintf(w, "node %s\n", out.Node)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DATASET\tLATEST\tMODE\tVERSIONS\tFIELDS")
		for _, s := range out.Schemas {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Dataset, s.Latest, s.Mode, strings.Join(s.Versions, ","), strings.Join(s.Fields, ","))
		}
		return tw.Flush()
	})
}
