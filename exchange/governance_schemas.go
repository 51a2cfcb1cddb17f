package exchange

import (
	"fmt"
	"slices"
	"strings"

	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Schema versions at runtime. schemas.propose goes through the policy
// ledger as a proposal whose Change is a schemaChange: a new version
// widens what the exchange accepts, so it needs N officers. The node
// checks it as the registry will (schemas.Registry.Prepare: the profile
// and compatibility under the dataset's mode), again before an approval
// applies it, and adds it to its own registry (a Clone, see New) when the
// ledger applies it: ingest, queries and policies see it at once.

// schemaChange is the Change a schema proposal carries.
type schemaChange struct {
	prepared *schemas.Prepared
}

// String says what the change does, for the versions list.
func (c schemaChange) String() string { return "schemas.propose " + c.prepared.ID() }

// schemaProposal turns a verified schemas.propose event into a ledger
// proposal. Callers hold g.mu.
func (n *Node) schemaProposal(e control.Event, p policy.Proposal) (policy.Proposal, error) {
	_, p.Set = n.gov.ledger.Current()
	prep, err := n.p.Schemas.Prepare(e.Schema)
	if err != nil {
		return p, err
	}
	known, _ := n.p.Schemas.Fields(prep.Dataset())
	var added []string
	for _, f := range prep.Fields() {
		if !slices.Contains(known, f) {
			added = append(added, f)
		}
	}
	w := fmt.Sprintf("widen: dataset %s accepts schema version %s", prep.Dataset(), prep.ID())
	if len(added) > 0 {
		w += " with new fields " + strings.Join(added, ", ")
	}
	p.Change, p.ChangeWidenings = schemaChange{prepared: prep}, []string{w}
	return p, nil
}

// applySchemaChange adds an applied version's schema to the node's
// registry. Callers hold g.mu.
func (n *Node) applySchemaChange(v policy.Version) {
	ch, ok := v.Change.(schemaChange)
	if !ok {
		return
	}
	if err := n.p.Schemas.Add(ch.prepared); err != nil {
		// Checked again before the approval applied it; logged, not
		// retried: every node reads the same topic.
		n.p.Logger.Error("schema version of an applied version not added", "version", v.Number, "err", err)
		return
	}
	n.p.Logger.Info("schema version added", "schema", ch.prepared.ID(), "version", v.Number)
}

// schemaApprovable refuses the approval of a schema proposal that the
// registry would no longer take (another version was added since).
// Callers hold g.mu.
func (n *Node) schemaApprovable(st policy.Status) error {
	ch, ok := st.Change.(schemaChange)
	if !ok {
		return nil
	}
	return n.p.Schemas.Recheck(ch.prepared)
}
