package api

import (
	"net/http"

	"github.com/onevisit/onevisit/exchange/auth"
)

// Clients at runtime: an officer enrols (clients.add, a proposal that
// other officers approve with policy.approve at /v1/policy/events) or
// disables (clients.disable, at once) a client by a signed control
// event; GET /v1/clients (console.go) lists the registry.

// postClientEvent takes one signed clients.* control event from an
// officer; it answers once this node applied it.
func (s *Server) postClientEvent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.postControlEvent(w, r, p, "clients", "client event")
}
