package api

import (
	"net/http"
	"time"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
)

// caseBodyLimit bounds a case request: a procedure, a case id and at
// most query.MaxSubjects subjects.
const caseBodyLimit = 16 << 10

// cases assembles a procedure's evidence in one call (query.Service.Case).
func (s *Server) cases(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	start := time.Now()
	var q wire.CaseRequest
	if err := decodeBody(r, caseBodyLimit, &q); err != nil {
		return err
	}
	ans, err := s.queries.Case(r.Context(), query.CaseRequest{
		Consumer: p.ClientID, Role: p.Role, RequestID: requestID(r.Context()), Start: start,
		Procedure: q.Procedure, CaseID: q.CaseID, Subjects: q.Subjects,
		Limit: func(pol *policy.Set, purpose string) (bool, error) {
			return s.limit(w, pol, p.ClientID, purpose, query.CaseRoute)
		},
	})
	if err != nil {
		if query.Audited(err) {
			return auditDone{err}
		}
		return err
	}
	out := wire.CaseAnswer{
		Procedure: ans.Procedure, Purpose: ans.Purpose, CaseID: ans.CaseID, Complete: ans.Complete(),
		Items: []wire.CaseItem{}, Missing: []wire.CaseMissing{}, RequestID: requestID(r.Context()), Receipt: ans.Receipt,
	}
	for _, it := range ans.Items {
		out.Items = append(out.Items, wire.CaseItem{Role: it.Role, Dataset: it.Dataset, Record: it.Record, Data: it.Data, Receipt: it.Receipt})
	}
	for _, m := range ans.Missing {
		holders := m.Holders
		if holders == nil {
			holders = []string{}
		}
		out.Missing = append(out.Missing, wire.CaseMissing{Role: m.Role, Dataset: m.Dataset, Reason: m.Reason, Holders: holders})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// procedures lists the procedure catalogue of the policy this node
// decides by.
func (s *Server) procedures(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	out := wire.ProcedureList{Procedures: []wire.Procedure{}}
	for _, p := range s.d.Policy().Procedures() {
		wp := wire.Procedure{Procedure: p.ID, Description: p.Description, Purpose: p.Purpose, CaseIDPattern: p.CaseIDPattern,
			Service: p.Service, Roles: map[string]string{}}
		for _, e := range p.Evidence {
			wp.Evidence = append(wp.Evidence, wire.Evidence{Dataset: e.Dataset, Role: e.Role, Fields: e.Fields})
			wp.Roles[e.Role] = "person"
			if policy.OrganisationRole(e.Role) {
				wp.Roles[e.Role] = "organisation"
			}
		}
		out.Procedures = append(out.Procedures, wp)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
