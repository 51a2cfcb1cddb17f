package api

import (
	"fmt"
	"net/http"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/codes"
)

// The read endpoints the officer console (/console, exchange/webui) needs
// that the API had not: the policy set in force, to edit into a
// proposal, and the registered clients.

// currentPolicy serves the policy set this node decides by, as the
// canonical YAML a proposal carries, with its version number and hash.
func (s *Server) currentPolicy(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	pol := s.d.Policy()
	if pol == nil {
		return fmt.Errorf("current policy: no policy loaded: %w", codes.ErrUnavailable)
	}
	var cur uint64
	if s.d.Governance != nil {
		cur = s.d.Governance.PolicyVersion()
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": s.d.Node, "current": cur, "policy_version": pol.Version(), "yaml": string(pol.YAML())})
	return nil
}

// clientEntries is the capability of a node's live registry
// (clients.Live) to list every client with where it came from and
// whether it is disabled.
type clientEntries interface {
	Entries() []clients.Entry
}

// listClients serves the registered clients: id, role, name, datasets
// and purposes (no keys: GET /v1/keys has those), each one's source (file
// or control) and whether it is disabled, with the node and its
// control-plane version.
func (s *Server) listClients(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	l, ok := s.d.Clients.(clientEntries)
	if !ok {
		return fmt.Errorf("list clients: this node's client registry cannot list: %w", codes.ErrNotFound)
	}
	var v uint64
	if s.d.Governance != nil {
		v = s.d.Governance.PolicyVersion()
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": s.d.Node, "version": v, "clients": l.Entries()})
	return nil
}
