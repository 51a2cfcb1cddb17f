package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/policy"
)

// Governance is the node's control plane, as the policy routes use it.
type Governance interface {
	// SubmitControl checks a signed event as a node would, produces it
	// and waits (bounded) until this node applied it; submitter is the
	// authenticated officer, who must be the event's issuer; area the
	// area of its action ("policy", "clients" or "schemas", as the route).
	SubmitControl(ctx context.Context, token, submitter, area string) (control.Event, error)
	PolicyVersion() uint64
	PolicyVersions() ([]policy.Version, map[uint64]time.Time)
	PolicyProposals() []policy.Status
	PolicyProposal(id string) (policy.Status, *policy.Set, bool)
	RecordedDecisions() []policy.Recorded
}

type policyEventRequest struct {
	Event string `json:"event"` // the compact JWS (exchange/control)
}

// VersionView is one applied policy version as the API shows it.
type VersionView struct {
	Number     uint64    `json:"number"`
	Hash       string    `json:"policy_version"` // the set's content hash, as audit entries name it
	Proposal   string    `json:"proposal,omitempty"`
	Officers   []string  `json:"officers,omitempty"`
	Reason     string    `json:"reason"`
	Effect     string    `json:"effect"`
	Time       time.Time `json:"time"`
	AppliedAt  time.Time `json:"applied_here,omitzero"`
	RollbackTo uint64    `json:"rollback_to,omitempty"`
	Narrowing  bool      `json:"narrowing,omitempty"`
	// Change names a change other than the policy set, e.g.
	// "clients.add school-meals (consumer)"; "" for a policy change.
	Change string `json:"change,omitempty"`
}

// ProposalView is one proposal as the API shows it.
type ProposalView struct {
	ID         string         `json:"id"`
	State      string         `json:"state"`
	Proposer   string         `json:"proposer"`
	Reason     string         `json:"reason"`
	Base       uint64         `json:"base"`
	RollbackTo uint64         `json:"rollback_to,omitempty"`
	Effect     string         `json:"effect"`
	Widenings  []string       `json:"widenings,omitempty"`
	Changes    []string       `json:"changes,omitempty"`
	Approvals  []ApprovalView `json:"approvals"`
	Rejection  *ApprovalView  `json:"rejection,omitempty"`
	Version    uint64         `json:"version,omitempty"`
	Change     string         `json:"change,omitempty"` // as VersionView.Change
	WhatIf     *policy.Report `json:"what_if,omitempty"`
	Time       time.Time      `json:"time"`
}

// ApprovalView is one officer's approval or rejection.
type ApprovalView struct {
	Officer string    `json:"officer"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

// changeName names a proposal's Change (a fmt.Stringer of the node's),
// "" when it has none.
func changeName(c any) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}

func proposalView(st policy.Status) ProposalView {
	v := ProposalView{ID: st.ID, State: st.State.String(), Proposer: st.Proposer, Reason: st.Reason, Base: st.Base,
		RollbackTo: st.RollbackTo, Effect: st.Classification.Effect.String(), Widenings: st.Classification.Widenings,
		Version: st.Version, Time: st.Time.UTC(), Approvals: []ApprovalView{}, Change: changeName(st.Change)}
	for _, c := range st.Classification.Changes {
		v.Changes = append(v.Changes, c.String())
	}
	for _, a := range st.Approvals {
		v.Approvals = append(v.Approvals, ApprovalView{a.Officer, a.Reason, a.Time.UTC()})
	}
	if st.Rejection != nil {
		v.Rejection = &ApprovalView{st.Rejection.Officer, st.Rejection.Reason, st.Rejection.Time.UTC()}
	}
	return v
}

// postPolicyEvent takes one signed policy.* control event from an
// officer.
func (s *Server) postPolicyEvent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.postControlEvent(w, r, p, "policy", "policy event")
}

// postControlEvent takes one signed control event of area ("policy",
// "clients" or "schemas", as its route) from an officer; it answers once
// this node applied it. what names the event in errors.
func (s *Server) postControlEvent(w http.ResponseWriter, r *http.Request, p auth.Principal, area, what string) error {
	var q policyEventRequest
	if err := decodeBody(r, control.MaxEventSize+1024, &q); err != nil {
		return err
	}
	if q.Event == "" {
		return fmt.Errorf("%s: /event is required: %w", what, codes.ErrBadRequest)
	}
	e, err := s.d.Governance.SubmitControl(r.Context(), q.Event, p.ClientID, area)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	out := map[string]any{"node": s.d.Node, "action": e.Action, "officer": e.Issuer, "version": s.d.Governance.PolicyVersion()}
	if st, _, ok := s.d.Governance.PolicyProposal(e.Proposal); ok {
		out["proposal"] = proposalView(st)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listProposals(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	out := []ProposalView{}
	for _, st := range s.d.Governance.PolicyProposals() {
		out = append(out, proposalView(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": s.d.Node, "version": s.d.Governance.PolicyVersion(), "proposals": out})
	return nil
}

// reviewProposal answers a proposal with its diff and the what-if replay
// of this node's audit log over ?window= (a Go duration; default 30 days).
func (s *Server) reviewProposal(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	id := r.PathValue("id")
	st, _, ok := s.d.Governance.PolicyProposal(id)
	if !ok {
		return fmt.Errorf("review proposal: %w", control.ErrUnknownProposal)
	}
	window := policy.DefaultWhatIfWindow
	if ws := r.URL.Query().Get("window"); ws != "" {
		d, err := time.ParseDuration(ws)
		if err != nil || d <= 0 || d > 366*24*time.Hour {
			return fmt.Errorf("review proposal: window %q must be a duration up to 8784h: %w", ws, codes.ErrBadRequest)
		}
		window = d
	}
	v := proposalView(st)
	rep := policy.WhatIf(s.d.Governance.RecordedDecisions(), st.Set, s.d.Now(), window)
	v.WhatIf = &rep
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) policyVersions(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	vs, at := s.d.Governance.PolicyVersions()
	out := make([]VersionView, 0, len(vs))
	for _, v := range vs {
		out = append(out, VersionView{Number: v.Number, Hash: v.Set.Version(), Proposal: v.Proposal, Officers: v.Officers,
			Reason: v.Reason, Effect: v.Effect.String(), Time: v.Time.UTC(), AppliedAt: at[v.Number].UTC(),
			RollbackTo: v.Rollback, Narrowing: v.Narrowing, Change: changeName(v.Change)})
	}
	cur := s.d.Governance.PolicyVersion()
	hash := ""
	if pol := s.d.Policy(); pol != nil {
		hash = pol.Version()
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": s.d.Node, "current": cur, "policy_version": hash, "versions": out})
	return nil
}
