package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Policy governance at runtime. The control topic is untrusted input like
// every other topic: a node applies only events that verify
// (control.Parse: an officer's own key, or for the seed the exchange's
// audit key), feeds them to its policy.Ledger in topic order and, when a
// version is applied, swaps the policy that ingest and queries read. Fed
// the same topic, every node reaches the same versions.

// submitWait bounds how long POST /v1/policy/events waits for this node
// to apply the event it produced.
const submitWait = 10 * time.Second

// governance is the node's control-plane state.
type governance struct {
	mu      sync.Mutex
	ledger  *policy.Ledger
	seen    map[string]bool        // jti of every event applied or refused by the ledger
	waiters map[string]chan error  // jti -> the API request waiting for it
	applied map[uint64]time.Time   // version -> when this node applied it
	version prometheus.Gauge       // onevisit_policy_version
	lag     prometheus.Histogram   // onevisit_policy_apply_lag_seconds
	refused *prometheus.CounterVec // onevisit_policy_events_refused_total
	budget  refusalBudget          // audits of refused events
}

func newGovernance(reg *prometheus.Registry, approvals int) (*governance, error) {
	l, err := policy.NewLedger(policy.Rule{Approvals: approvals})
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	g := &governance{ledger: l, seen: map[string]bool{}, waiters: map[string]chan error{}, applied: map[uint64]time.Time{}}
	g.version = prometheus.NewGauge(prometheus.GaugeOpts{Name: "onevisit_policy_version", Help: "The control-plane policy version this node decides by (0: none applied yet, the files it started with)."})
	g.lag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "onevisit_policy_apply_lag_seconds", Help: "Seconds from the write of the event that applied a policy version (the approval, narrowing or seed) to this node applying it.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30}})
	g.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_policy_events_refused_total", Help: "Control-topic events this node did not apply, by reason: bad_event (unsigned, badly signed, not an officer), replay, or the ledger's refusal code."}, []string{"reason"})
	reg.MustRegister(g.version, g.lag, g.refused)
	return g, nil
}

// ledgerError maps a Ledger error to the code an officer sees.
func ledgerError(err error) error {
	var c error
	switch {
	case errors.Is(err, policy.ErrSelfApproval):
		c = control.ErrSelfApproval
	case errors.Is(err, policy.ErrAlreadyApproved):
		c = control.ErrAlreadyApproved
	case errors.Is(err, policy.ErrStaleBase):
		c = control.ErrStaleBase
	case errors.Is(err, policy.ErrWidens):
		c = control.ErrNeedsApproval
	case errors.Is(err, policy.ErrUnknownProposal), errors.Is(err, policy.ErrNotPending):
		c = control.ErrUnknownProposal
	default:
		c = control.ErrBadEvent
	}
	return fmt.Errorf("%w: %w", c, err)
}

// parseSet parses the policy an event carries against the node's schemas.
func (n *Node) parseSet(e control.Event) (*policy.Set, error) {
	s, err := policy.Parse("control-"+e.ID+".yaml", []byte(e.Policy), n.p.Schemas)
	if errors.Is(err, policy.ErrUnknownField) {
		// Its own code, not bad_event (which the catalogue ranks first):
		// a field no schema version of the dataset has; propose the
		// schema version first.
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: policy: %w", control.ErrBadEvent, err)
	}
	return s, nil
}

// toLedger applies one verified event to the ledger. Callers hold g.mu.
func (n *Node) toLedger(e control.Event) error {
	l := n.gov.ledger
	cur, _ := l.Current()
	p := policy.Proposal{ID: e.Proposal, Proposer: e.Issuer, Reason: e.Reason, Base: e.Base, Time: e.IssuedAt}
	var err error
	switch e.Action {
	case control.ActionSeed:
		if cur != 0 {
			return fmt.Errorf("%w: a seed is accepted only as the first applied event, the ledger is at version %d", control.ErrBadEvent, cur)
		}
		var s *policy.Set
		if s, err = n.parseSet(e); err != nil {
			return err
		}
		err = l.Seed(s, e.IssuedAt)
	case control.ActionPropose, control.ActionNarrow:
		if p.Set, err = n.parseSet(e); err != nil {
			return err
		}
		if e.Action == control.ActionPropose {
			_, err = l.Propose(p)
		} else {
			_, err = l.NarrowNow(p)
		}
	case control.ActionRollback:
		_, err = l.Rollback(p, e.RollbackTo)
	case control.ActionSchemasPropose:
		if p, err = n.schemaProposal(e, p); err != nil {
			return err
		}
		_, err = l.Propose(p)
	case control.ActionClientsAdd, control.ActionClientsDisable:
		if p, err = n.clientProposal(e, p); err != nil {
			return err
		}
		if e.Action == control.ActionClientsAdd {
			_, err = l.Propose(p)
		} else {
			_, err = l.NarrowNow(p)
		}
	case control.ActionApprove:
		if st, ok := l.Proposal(e.Proposal); ok && st.State == policy.Pending && st.Base != e.Base {
			return fmt.Errorf("%w: approval of %q names base %d, the proposal's is %d", control.ErrStaleBase, e.Proposal, e.Base, st.Base)
		}
		if err := n.approvable(e.Proposal); err != nil {
			return err
		}
		_, err = l.Approve(e.Proposal, e.Issuer, e.Reason, e.IssuedAt)
	case control.ActionReject:
		_, err = l.Reject(e.Proposal, e.Issuer, e.Reason, e.IssuedAt)
	default:
		return fmt.Errorf("%w: action %q", control.ErrBadEvent, e.Action)
	}
	if err != nil {
		return ledgerError(err)
	}
	return nil
}

// applyControl verifies and applies one message of the control topic.
// live is set for messages the node read after it caught up (not while
// replaying the topic at start): only those are audited and measured,
// since the node that first read the others audited them then.
func (n *Node) applyControl(m kafka.Message, live bool) {
	g := n.gov
	v, err := control.Parse(string(m.Value), n.dir, n.clients)
	if err != nil {
		n.refuseControl(m, live, "bad_event", err, control.Event{})
		return
	}
	g.mu.Lock()
	if g.seen[v.ID] {
		g.mu.Unlock()
		n.refuseControl(m, live, "replay", fmt.Errorf("%w: jti %q seen before", control.ErrBadEvent, v.ID), v.Event)
		return
	}
	before := len(g.ledger.Steps())
	oldVersion, _ := g.ledger.Current()
	err = n.toLedger(v.Event)
	g.seen[v.ID] = true
	steps := g.ledger.Steps()[before:]
	newVersion, set := g.ledger.Current()
	now := time.Now()
	if newVersion != oldVersion {
		for _, applied := range g.ledger.Versions()[oldVersion:] {
			n.applyClientChange(applied)
			n.applySchemaChange(applied)
		}
		g.applied[newVersion] = now
		n.policy.Store(set)
		g.version.Set(float64(newVersion))
		if live {
			// From when the deciding event was written (the broker's
			// timestamp; its iat, whole seconds, when there is none).
			from := m.Time
			if from.IsZero() {
				from = v.IssuedAt
			}
			g.lag.Observe(max(0, now.Sub(from).Seconds()))
		}
		n.p.Logger.Info("policy version applied", "version", newVersion, "policy_version", set.Version(), "proposal", v.Proposal)
	}
	area, client, dataset := n.changeOf(v.Proposal)
	wait := g.waiters[v.ID]
	delete(g.waiters, v.ID)
	g.mu.Unlock()
	if err != nil {
		n.refuseControl(m, live, wireName(err), err, v.Event)
	} else if live {
		n.auditSteps(v.Event, steps, area, client, dataset)
	}
	if wait != nil {
		wait <- err
	}
}

func wireName(err error) string { return wire.Of(err).Name }

// refuseControl counts, logs and (when live, within the budget) audits an
// event the node did not apply. The message's bytes are an outsider's:
// the log and the audit entry say where it is and why it was refused.
func (n *Node) refuseControl(m kafka.Message, live bool, reason string, err error, e control.Event) {
	n.gov.refused.WithLabelValues(reason).Inc()
	n.p.Logger.Warn("control event refused", "partition", m.Partition, "offset", m.Offset, "reason", reason)
	if !live {
		return
	}
	if !n.gov.budget.take(time.Now()) {
		n.p.Logger.Warn("control event refusal not audited: over the budget of refusal audits per minute", "offset", m.Offset)
		return
	}
	entry := audit.Entry{
		Time: time.Now().UTC(), Kind: audit.KindPolicyChange, Decision: audit.DecisionDeny,
		Code:     "policy_event_refused:" + reason,
		RecordID: "control:" + strconv.Itoa(m.Partition) + ":" + strconv.FormatInt(m.Offset, 10),
		Node:     n.p.Node,
	}
	if reason != "bad_event" && reason != "replay" {
		// The event verified: its officer, proposal and reason are theirs.
		entry.Actor, entry.Role, entry.Reason, entry.Policy = e.Issuer, control.RoleOfficer, e.Reason, e.Proposal
	}
	n.writeControlAudit(entry)
	_ = err
}

// auditSteps writes one policy_change entry per ledger step an event
// caused: who did what to which proposal, why, and the version. A step
// is coded "<area>_<step>:<effect>": area policy, clients (naming the
// client as Consumer) or schemas (naming the dataset).
func (n *Node) auditSteps(e control.Event, steps []policy.Step, area, client, dataset string) {
	entries := make([]audit.Entry, 0, len(steps))
	for _, s := range steps {
		en := audit.Entry{
			Time: time.Now().UTC(), Kind: audit.KindPolicyChange, Decision: audit.DecisionPermit, Consumer: client, Dataset: dataset,
			Code: area + "_" + string(s.Kind) + ":" + s.Effect.String(), Actor: s.Officer, Reason: s.Reason,
			Policy: s.Proposal, PolicyVersion: strconv.FormatUint(s.Version, 10), RecordID: "control:" + e.ID, Node: n.p.Node,
		}
		if s.Officer != "" {
			en.Role = control.RoleOfficer
		}
		if s.Kind == policy.StepSeed {
			en.Actor = control.SeedIssuer
		}
		entries = append(entries, en)
	}
	n.writeControlAudit(entries...)
}

func (n *Node) writeControlAudit(entries ...audit.Entry) {
	if len(entries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.trail.Write(ctx, entries...); err != nil {
		n.p.Logger.Error("audit of a control event not written", "err", err)
	}
}

// seed publishes the files the node started with as version 1, signed by
// the exchange's audit key, when the control topic is empty. Two nodes
// seeding at once both publish; every node applies the first and refuses
// the second.
func (n *Node) seed(ctx context.Context) error {
	if n.p.Policy == nil {
		return nil
	}
	tok, err := control.Sign(ctx, n.p.AuditSigner, control.Event{
		Issuer: control.SeedIssuer, Action: control.ActionSeed, Reason: "seeded from files by node " + n.p.Node,
		Policy: string(n.p.Policy.YAML()),
	})
	if err != nil {
		return fmt.Errorf("exchange: seed policy: %w", err)
	}
	if err := n.writer.WriteMessages(ctx, kafka.Message{Topic: n.p.Kafka.Names.Control(), Value: []byte(tok)}); err != nil {
		return fmt.Errorf("exchange: seed policy: %w", err)
	}
	n.p.Logger.Info("control plane empty: seeded policy version 1 from files", "policy_version", n.p.Policy.Version())
	return nil
}

// SubmitControl checks a signed event as the node would apply it,
// produces it to the control topic and waits (up to submitWait) until
// this node applied it. submitter, the officer authenticated at the API,
// must be the event's issuer; area ("policy", "clients", "schemas") the
// area its action must be of. Refusals wrap the control package's
// sentinels.
func (n *Node) SubmitControl(ctx context.Context, token, submitter, area string) (control.Event, error) {
	v, err := control.Parse(token, n.dir, n.clients)
	if err != nil {
		return control.Event{}, err
	}
	if a, _, _ := strings.Cut(v.Action, "."); a != area {
		return control.Event{}, fmt.Errorf("%w: action %s is not a %s event", control.ErrBadEvent, v.Action, area)
	}
	if v.Issuer != submitter {
		return control.Event{}, fmt.Errorf("%w: signed by %q, submitted by %q", control.ErrBadEvent, v.Issuer, submitter)
	}
	if err := v.Fresh(time.Now()); err != nil {
		return control.Event{}, err
	}
	if v.Action == control.ActionSeed {
		return control.Event{}, fmt.Errorf("%w: seeds come from the node, not the API", control.ErrBadEvent)
	}
	g := n.gov
	done := make(chan error, 1)
	g.mu.Lock()
	err = n.precheck(v.Event)
	if err == nil && g.waiters[v.ID] != nil {
		err = fmt.Errorf("%w: jti %q already submitted", control.ErrBadEvent, v.ID)
	}
	if err == nil {
		g.waiters[v.ID] = done
	}
	g.mu.Unlock()
	if err != nil {
		return control.Event{}, err
	}
	defer func() {
		g.mu.Lock()
		delete(g.waiters, v.ID)
		g.mu.Unlock()
	}()
	if err := n.writer.WriteMessages(ctx, kafka.Message{Topic: n.p.Kafka.Names.Control(), Value: []byte(token)}); err != nil {
		return control.Event{}, fmt.Errorf("policy event: produce: %v: %w", err, codes.ErrUnavailable)
	}
	t := time.NewTimer(submitWait)
	defer t.Stop()
	select {
	case err := <-done:
		return v.Event, err
	case <-t.C:
		return control.Event{}, fmt.Errorf("policy event: produced, not applied on this node within %s: %w", submitWait, codes.ErrUnavailable)
	case <-ctx.Done():
		return control.Event{}, ctx.Err()
	}
}

// precheck refuses, without changing anything, an event the ledger would
// refuse now. The ledger decides again when the event comes back from
// the topic (another event may come first). Callers hold g.mu.
func (n *Node) precheck(e control.Event) error {
	l := n.gov.ledger
	if n.gov.seen[e.ID] {
		return fmt.Errorf("%w: jti %q seen before", control.ErrBadEvent, e.ID)
	}
	cur, set := l.Current()
	switch e.Action {
	case control.ActionPropose, control.ActionNarrow, control.ActionRollback,
		control.ActionClientsAdd, control.ActionClientsDisable, control.ActionSchemasPropose:
		if _, ok := l.Proposal(e.Proposal); ok {
			return fmt.Errorf("%w: proposal id %q already used", control.ErrBadEvent, e.Proposal)
		}
		if e.Base != cur {
			return fmt.Errorf("%w: base %d, current version %d", control.ErrStaleBase, e.Base, cur)
		}
		switch e.Action {
		case control.ActionRollback:
			if e.RollbackTo == 0 || e.RollbackTo > cur {
				return fmt.Errorf("%w: no version %d to roll back to (current %d)", control.ErrBadEvent, e.RollbackTo, cur)
			}
			return nil
		case control.ActionClientsAdd, control.ActionClientsDisable, control.ActionSchemasPropose:
			return n.precheckChange(e, set)
		}
		s, err := n.parseSet(e)
		if err != nil {
			return err
		}
		if c := policy.Classify(set, s); e.Action == control.ActionNarrow && c.Effect == policy.Widens {
			return fmt.Errorf("%w: %d widenings, first %q", control.ErrNeedsApproval, len(c.Widenings), c.Widenings[0])
		}
	case control.ActionApprove, control.ActionReject:
		st, ok := l.Proposal(e.Proposal)
		if !ok || st.State != policy.Pending {
			return fmt.Errorf("%w: %q", control.ErrUnknownProposal, e.Proposal)
		}
		if e.Action == control.ActionReject {
			return nil
		}
		if st.Proposer == e.Issuer {
			return fmt.Errorf("%w: %s proposed %q", control.ErrSelfApproval, e.Issuer, e.Proposal)
		}
		for _, a := range st.Approvals {
			if a.Officer == e.Issuer {
				return fmt.Errorf("%w: %s, %q", control.ErrAlreadyApproved, e.Issuer, e.Proposal)
			}
		}
		if st.Base != cur || e.Base != cur {
			return fmt.Errorf("%w: proposal base %d, event base %d, current version %d", control.ErrStaleBase, st.Base, e.Base, cur)
		}
		return n.approvable(e.Proposal)
	}
	return nil
}

// precheckChange is precheck of a client or schema proposal, after its id
// and base: what the node would check replaying it, and what it refuses
// only at submission.
func (n *Node) precheckChange(e control.Event, set *policy.Set) error {
	if set == nil {
		return fmt.Errorf("%w: no policy version applied yet", control.ErrBadEvent)
	}
	if e.Action == control.ActionSchemasPropose {
		p, err := n.schemaProposal(e, policy.Proposal{})
		if err == nil && n.p.Schemas.Held(p.Change.(schemaChange).prepared) {
			// Only at submission: replaying it, a node whose files
			// have it already must reach the others' outcome.
			err = fmt.Errorf("%w: this exchange serves that version already", schemas.ErrBadSchema)
		}
		return err
	}
	p, err := n.clientProposal(e, policy.Proposal{})
	if err != nil {
		return err
	}
	if ch := p.Change.(clientChange); ch.add != nil && n.enrolmentInFile(*ch.add, ch.keys) {
		// Only at submission (see enrolmentInFile).
		return fmt.Errorf("%w: client %q is in the registry file", control.ErrClientExists, ch.add.ID)
	}
	return nil
}

// PolicyVersions lists the applied versions, oldest first, with when this
// node applied each (at start it replays the topic, so every version has
// a time: the replay's for old ones).
func (n *Node) PolicyVersions() ([]policy.Version, map[uint64]time.Time) {
	n.gov.mu.Lock()
	defer n.gov.mu.Unlock()
	at := make(map[uint64]time.Time, len(n.gov.applied))
	for k, v := range n.gov.applied {
		at[k] = v
	}
	return n.gov.ledger.Versions(), at
}

// PolicyVersion is the control-plane version the node decides by (0:
// none yet; the files it started with).
func (n *Node) PolicyVersion() uint64 {
	n.gov.mu.Lock()
	defer n.gov.mu.Unlock()
	v, _ := n.gov.ledger.Current()
	return v
}

// PolicyProposals lists the pending proposals, by id.
func (n *Node) PolicyProposals() []policy.Status {
	n.gov.mu.Lock()
	defer n.gov.mu.Unlock()
	return n.gov.ledger.Pending()
}

// PolicyProposal returns one proposal and the set of the current
// version, for review.
func (n *Node) PolicyProposal(id string) (policy.Status, *policy.Set, bool) {
	n.gov.mu.Lock()
	defer n.gov.mu.Unlock()
	st, ok := n.gov.ledger.Proposal(id)
	_, cur := n.gov.ledger.Current()
	return st, cur, ok
}

// RecordedDecisions converts the query entries of this node's audit log
// into what policy.WhatIf replays: permits, and refusals a policy decided.
// A permit's entry lists the released fields plus the dataset's subject
// field, which every answer discloses to bind it to the subject asked
// about (exchange/query); the subject field counts as released by the
// policy only when the set that decided (by its hash, else the current
// one) granted it, so a replay does not report it lost.
func (n *Node) RecordedDecisions() []policy.Recorded {
	raw, err := n.log.Entries(0, n.log.Size())
	if err != nil {
		return nil
	}
	sets := map[string]*policy.Set{}
	n.gov.mu.Lock()
	for _, v := range n.gov.ledger.Versions() {
		sets[v.Set.Version()] = v.Set
	}
	n.gov.mu.Unlock()
	cur := n.policy.Load()
	var out []policy.Recorded
	for _, b := range raw {
		e, err := audit.ParseEntry(b)
		if err != nil || e.Kind != audit.KindQuery {
			continue
		}
		permitted := e.Decision == audit.DecisionPermit
		if !permitted && !policyDecided[e.Code] {
			continue
		}
		fields := e.Fields
		ds, known := n.p.Schemas.Dataset(e.Dataset)
		if known && permitted && slices.Contains(fields, ds.Subject) {
			set := sets[e.PolicyVersion]
			if set == nil {
				set = cur
			}
			if set == nil || !slices.Contains(set.Decide(policy.Request{Consumer: e.Actor, Dataset: e.Dataset, Purpose: e.Purpose, CaseID: e.CaseID, Time: e.Time}).Fields, ds.Subject) {
				fields = slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == ds.Subject })
			}
		}
		rec := policy.Recorded{Time: e.Time, Consumer: e.Actor, Dataset: e.Dataset, Purpose: e.Purpose,
			CaseID: e.CaseID, Permitted: permitted, Fields: fields, Code: e.Code, Procedure: e.Procedure, CaseRole: e.CaseRole}
		if known {
			rec.SubjectField = ds.Subject
		}
		out = append(out, rec)
	}
	return out
}

// policyDecided are the refusal codes a policy decides; other refusals
// (rate limits, bad input, unknown subjects) are left out of a what-if.
var policyDecided = map[string]bool{
	"denied": true, "case_id_required": true, "purpose_not_allowed": true, "policy_expired": true,
	"forbidden_by_policy": true, "bad_case_id": true, "consent_required": true,
}
