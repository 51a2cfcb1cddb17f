package api

import (
	"fmt"
	"net/http"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/control"
)

// Clients at runtime: an officer enrols (clients.add, a proposal that
// other officers approve with policy.approve at /v1/policy/events) or
// disables (clients.disable, at once) a client by a signed control
// event; GET /v1/clients (console.go) lists the registry.

// postClientEvent takes one signed clients.* control event from an
// officer; it answers once this node applied it.
func (s *Server) postClientEvent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var q policyEventRequest
	if err := decodeBody(r, control.MaxEventSize+1024, &q); err != nil {
		return err
	}
	if q.Event == "" {
		return fmt.Errorf("client event: /event is required: %w", codes.ErrBadRequest)
	}
	e, err := s.d.Governance.SubmitControl(r.Context(), q.Event, p.ClientID, "clients")
	if err != nil {
		return fmt.Errorf("client event: %w", err)
	}
	out := map[string]any{"node": s.d.Node, "action": e.Action, "officer": e.Issuer, "version": s.d.Governance.PolicyVersion()}
	if st, _, ok := s.d.Governance.PolicyProposal(e.Proposal); ok {
		out["proposal"] = proposalView(st)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
