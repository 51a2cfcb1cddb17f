package api

import (
	"net/http"

	"github.com/onevisit/onevisit/exchange/auth"
)

// Schema versions at runtime: an officer proposes the next version of a
// dataset (schemas.propose, which other officers approve with
// policy.approve at /v1/policy/events); every node adds it once approved.

// postSchemaEvent takes one signed schemas.* control event from an
// officer; it answers once this node applied it.
func (s *Server) postSchemaEvent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.postControlEvent(w, r, p, "schemas", "schema event")
}

// SchemaView is one dataset's schema versions as GET /v1/schemas shows
// them.
type SchemaView struct {
	Dataset  string   `json:"dataset"`
	Latest   string   `json:"latest"`
	Mode     string   `json:"compatibility"`
	Subject  string   `json:"subject"`
	Fields   []string `json:"fields"` // of the latest version
	Versions []string `json:"versions"`
}

// listSchemas answers every dataset's versions as this node holds them.
func (s *Server) listSchemas(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	out := []SchemaView{}
	for _, name := range s.d.Schemas.Datasets() {
		d, _ := s.d.Schemas.Dataset(name)
		out = append(out, SchemaView{Dataset: d.Name, Latest: d.Latest, Mode: string(d.Mode), Subject: d.Subject, Fields: d.Fields, Versions: d.Versions})
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": s.d.Node, "version": s.d.Governance.PolicyVersion(), "schemas": out})
	return nil
}
