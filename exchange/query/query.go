package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Auditor durably records audit entries; Write returns only when they are
// on every in-sync replica of the audit topic.
type Auditor interface {
	Write(ctx context.Context, entries ...audit.Entry) error
}

// Deps are the parts a Service answers from.
type Deps struct {
	Policy    func() *policy.Set
	Schemas   *schemas.Registry
	View      *view.View
	Pseudonym *pseudonym.Pseudonymizer
	Audit     Auditor
	Receipts  keys.Signer
	Keys      keys.Resolver
	Node      string
	// Ready reports whether the view has caught up with the accepted
	// topics (nil: always).
	Ready func() error
	// Fresh reports whether the node's key versions are fresh enough to
	// answer with (nil: always).
	Fresh func() error
	Now   func() time.Time
	// AuditTimeout bounds the durable audit writes of one query, from the
	// start of Do (0: DefaultAuditTimeout).
	AuditTimeout time.Duration
	// Metrics, when set, gets the package's metrics (see the package doc).
	Metrics prometheus.Registerer
	// Live fetches records of live datasets (nil: they answer
	// source_timeout). See "Live datasets" in the package doc.
	Live LiveSource
}

// DefaultAuditTimeout bounds a query's audit writes when
// Deps.AuditTimeout is 0.
const DefaultAuditTimeout = 15 * time.Second

// Request is one query of an authenticated consumer. Dataset, Subject,
// Purpose and CaseID are the caller's untrusted input; Consumer, Role and
// RequestID come from the HTTP layer.
type Request struct {
	Consumer  string // the client id whose token verified
	Role      string
	RequestID string
	Dataset   string
	Subject   string // a resident identity number
	Purpose   string
	CaseID    string
	// Limit, when set, counts this query against the consumer's limits
	// under pol. Over a limit it returns the refusal (wrapping
	// codes.ErrRateLimited) and whether to audit it: a refusal that costs
	// the caller nothing to repeat is audited only now and then.
	Limit func(pol *policy.Set) (auditIt bool, refusal error)
	// Fields, when not nil, narrows the release to these fields (a
	// procedure's evidence item names the fields it uses); the policy's
	// decision still bounds it. Set by Case, never from a request body.
	Fields []string
	// Procedure names the case bundle this query is an item of, and
	// CaseRole the role of its subject; both go into the audit entry. Set
	// by Case after checking them.
	Procedure, CaseRole string
}

// Answer is what a permitted query releases.
type Answer struct {
	// Record is the issuer's signed record with only the released
	// disclosures (the policy's fields and the subject field).
	Record string
	// Data is the released fields, as the record discloses them.
	Data map[string]any
	// Receipt is the exchange's signed statement of the release.
	Receipt string
	// Fields are the released field names, sorted.
	Fields []string
}

// Outcome is how a query ended, for the latency histogram of the caller.
type Outcome string

// Outcomes.
const (
	Permit   Outcome = "permit"
	Deny     Outcome = "deny" // refused by policy
	NotFound Outcome = "not_found"
	Error    Outcome = "error" // anything else: a bad request, limits, an outage
)

// Service answers queries. It is safe for concurrent use.
type Service struct {
	d         Deps
	decisions *prometheus.CounterVec
	distinctN *prometheus.CounterVec
	distinct  distinct
	cases     caseMetrics
}

// New builds a Service; it does no I/O.
func New(d Deps) (*Service, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Ready == nil {
		d.Ready = func() error { return nil }
	}
	if d.Fresh == nil {
		d.Fresh = func() error { return nil }
	}
	if d.AuditTimeout <= 0 {
		d.AuditTimeout = DefaultAuditTimeout
	}
	if d.Live == nil {
		d.Live = noLive{}
	}
	s := &Service{d: d}
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "onevisit_policy_decisions_total", Help: "Policy decisions by dataset and decision.",
	}, []string{"dataset", "decision"})
	s.distinctN = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "onevisit_query_distinct_subjects_total", Help: "Subjects a consumer asked about for the first time in the current hour, by consumer.",
	}, []string{"consumer"})
	s.cases = newCaseMetrics()
	if d.Metrics != nil {
		for _, c := range append([]prometheus.Collector{s.decisions, s.distinctN}, s.cases.collectors()...) {
			if err := d.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("query: %w", err)
			}
		}
	}
	return s, nil
}

// audited marks an error whose audit entry Do wrote (or deliberately
// sampled away, for a limit refusal).
type audited struct{ error }

func (e audited) Unwrap() error { return e.error }

// Audited reports whether err, from Do, has had its audit entry written
// (or deliberately not, see Request.Limit), so the caller must not write
// another. Errors Do returns unaudited are outages (5xx) and the
// re-parse of a held record.
func Audited(err error) bool {
	var a audited
	return errors.As(err, &a)
}

// Do answers one query, in this order: the caller's limits; the request
// fields (each refusal names its field, see CheckDataset and friends);
// the policy decision; the view being ready and the key versions fresh;
// the record in the view; its signing key not revoked before its
// acceptance; the projection onto the released fields plus the subject
// field, whose disclosure binds the answer to the subject asked about;
// the signed receipt; and the audit entry. Every outcome, refusals
// included, is durably audited before Do returns it; if the entry cannot
// be written Do fails with codes.ErrUnavailable and releases nothing.
func (s *Service) Do(ctx context.Context, q Request) (ans Answer, outcome Outcome, err error) {
	// Purpose and case id enter the entry only once they are known to be
	// a declared purpose and a plain case id: the audit log is permanent.
	entry := audit.Entry{
		Time: s.d.Now().UTC(), Kind: audit.KindQuery, Actor: q.Consumer, Role: q.Role,
		RequestID: q.RequestID, Node: s.d.Node, Decision: audit.DecisionDeny, Procedure: q.Procedure, CaseRole: q.CaseRole,
	}
	// Every outcome, refusals included, is audited before the answer.
	auditCtx, cancel := context.WithTimeout(ctx, s.d.AuditTimeout)
	defer cancel()
	refuse := func(cause error) error {
		entry.Code = wire.Of(cause).Name
		if err := s.d.Audit.Write(auditCtx, entry); err != nil {
			return fmt.Errorf("query: audit: %v: %w", err, codes.ErrUnavailable)
		}
		return audited{cause}
	}
	pol := s.d.Policy()
	purposeErr, caseErr := CheckPurpose("query", pol, q.Purpose), CheckCaseID("query", q.CaseID)
	if purposeErr == nil && caseErr == nil {
		caseErr = CheckCaseIDFormat("query", pol, q.Purpose, q.CaseID)
	}
	if purposeErr == nil {
		entry.Purpose = q.Purpose
	}
	if caseErr == nil {
		entry.CaseID = q.CaseID
	}
	if q.Limit != nil {
		if auditIt, refusal := q.Limit(pol); refusal != nil {
			if auditIt {
				return Answer{}, Error, refuse(refusal)
			}
			return Answer{}, Error, audited{refusal}
		}
	}
	if err := Required("query", "/dataset", q.Dataset, "/subject", q.Subject, "/purpose", q.Purpose); err != nil {
		return Answer{}, Error, refuse(err)
	}
	if err := CheckDataset("query", s.d.Schemas, q.Dataset); err != nil {
		return Answer{}, Error, refuse(err)
	}
	entry.Dataset = q.Dataset
	if err := CheckSubjectOf("query", s.d.Schemas, q.Dataset, "/subject", q.Subject); err != nil {
		return Answer{}, Error, refuse(err)
	}
	if entry.Subject, err = s.d.Pseudonym.Of(ctx, q.Subject); err != nil {
		return Answer{}, Error, err
	}
	if purposeErr != nil {
		return Answer{}, Error, refuse(purposeErr)
	}
	if caseErr != nil {
		return Answer{}, Error, refuse(caseErr)
	}
	dec := pol.Decide(policy.Request{Consumer: q.Consumer, Dataset: q.Dataset, Purpose: q.Purpose, CaseID: q.CaseID, Time: s.d.Now()})
	entry.Policy, entry.PolicyVersion = dec.Policy, pol.Version()
	if !dec.Allowed {
		s.decisions.WithLabelValues(q.Dataset, "deny").Inc()
		return Answer{}, Deny, refuse(dec.Err())
	}
	s.decisions.WithLabelValues(q.Dataset, "permit").Inc()
	if err := s.d.Ready(); err != nil {
		return Answer{}, Error, fmt.Errorf("query: view not ready: %v: %w", err, codes.ErrUnavailable)
	}
	if err := s.d.Fresh(); err != nil {
		return Answer{}, Error, refuse(err)
	}
	// Fields the policy releases only with the citizen's consent go only
	// while a consent of this consumer for this purpose is in force.
	fields := dec.Fields
	if dec.RequiresConsent {
		cs := s.consent(pol, entry.Subject, q.Consumer, q.Purpose, s.d.Now())
		entry.ConsentRecordID, entry.Consent = cs.recordID, audit.ConsentInForce
		if !cs.inForce {
			entry.Consent = audit.ConsentAbsent
			if fields = withoutFields(dec.Fields, dec.ConsentFields); len(fields) == 0 {
				return Answer{}, Deny, refuse(fmt.Errorf("query: %s for %s: %w", q.Consumer, q.Purpose, ErrConsentRequired))
			}
		}
	}
	if q.Fields != nil {
		if fields = onlyFields(fields, q.Fields); len(fields) == 0 {
			return Answer{}, Deny, refuse(fmt.Errorf("query: the policy releases none of the procedure's fields of %s: %w", q.Dataset, policy.ErrDenied))
		}
	}
	if s.distinct.first(q.Consumer, entry.Subject, s.d.Now()) {
		s.distinctN.WithLabelValues(q.Consumer).Inc()
	}
	var e *view.Entry
	ok := false
	if pol.Live(q.Dataset) {
		// The data stays at the department: ask it now (LiveSource). The
		// answer is checked and released below exactly as a held record.
		if e, err = s.d.Live.Fetch(ctx, pol, q.Dataset, q.Subject); err != nil {
			return Answer{}, Error, refuse(fmt.Errorf("query: live: %w", err))
		}
		ok = !e.Deleted
	} else {
		e, ok = s.d.View.Get(q.Dataset, entry.Subject)
	}
	if !ok {
		return Answer{}, NotFound, refuse(fmt.Errorf("query: %w", codes.ErrNotFound))
	}
	entry.RecordID = e.ID
	// The same rule ingest and consumers apply: the directory as of the
	// record's acceptance (a version revoked later still counts).
	if k, err := keys.AcceptedBefore(s.d.Keys, time.UnixMilli(e.AcceptedAt)).PublicKey(e.KID); err == nil && k.Status == keys.Revoked {
		return Answer{}, Error, refuse(fmt.Errorf("query: record %s signed with %s, revoked before acceptance: %w", e.ID, e.KID, keys.ErrRevoked))
	}
	// The subject field is always released on top of the policy's: the
	// requester sent that identifier, and it is how the requester checks
	// the answer is about it (subject binding, exchange/record).
	released := WithSubject(fields, s.d.Schemas, q.Dataset)
	projected := e.Project(released)
	rec, err := record.Parse(projected)
	if err != nil {
		return Answer{}, Error, fmt.Errorf("query: re-parse held record %s: %w", e.ID, err)
	}
	subj, _, err := rec.Subject()
	if err != nil {
		return Answer{}, Error, refuse(fmt.Errorf("query: held record %s: %w", e.ID, err))
	}
	rcpt, err := receipt.Sign(ctx, s.d.Receipts, receipt.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: q.Consumer, ID: entry.RequestID, IssuedAt: jwt.NewNumericDate(s.d.Now())},
		RecordID:         e.ID, RecordIssuer: e.Issuer, Dataset: q.Dataset, Purpose: q.Purpose, CaseID: q.CaseID,
		Fields: released, Policy: dec.Policy, RecordSHA256: receipt.Digest(projected), RecordAcceptedAt: e.AcceptedAt,
		SubjectSD: subj.Digest,
	})
	if err != nil {
		return Answer{}, Error, fmt.Errorf("query: %w", err)
	}
	entry.Decision, entry.Fields = audit.DecisionPermit, released
	if err := s.d.Audit.Write(auditCtx, entry); err != nil {
		return Answer{}, Error, fmt.Errorf("query: audit: %v: %w", err, codes.ErrUnavailable)
	}
	return Answer{Record: projected, Data: rec.Fields(), Receipt: rcpt, Fields: released}, Permit, nil
}

// WithSubject returns fields with the dataset's subject field added, in
// sorted order (a new slice; fields is the policy's and stays as it is).
func WithSubject(fields []string, reg *schemas.Registry, dataset string) []string {
	ds, ok := reg.Dataset(dataset)
	if !ok || slices.Contains(fields, ds.Subject) {
		return fields
	}
	out := append(slices.Clip(fields), ds.Subject)
	slices.Sort(out)
	return out
}
