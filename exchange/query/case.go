package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Case sentinels.
var (
	// ErrUnknownProcedure: the procedure is not in the catalogue (GET
	// /v1/procedures lists it). Check the name.
	ErrUnknownProcedure = wire.WithCode("unknown_procedure", errors.New("unknown procedure"))
	// ErrRoleNotInProcedure: a subject's role is not one the procedure's
	// evidence names. Send only the procedure's roles.
	ErrRoleNotInProcedure = wire.WithCode("role_not_in_procedure", errors.New("role not in the procedure"))
	// ErrProcedureNotYours: the procedure is run by another service; the
	// caller may not assemble its cases.
	ErrProcedureNotYours = wire.WithCode("procedure_not_yours", errors.New("procedure run by another service"))
)

// CaseRoute is the route of case bundles, as audit entries name it.
const CaseRoute = "POST /v1/cases"

// MaxSubjects bounds the subjects of one case request.
const MaxSubjects = 16

// Reasons of a missing item that are not refusal codes.
const (
	MissingNotFound  = "not_found"  // no record of the subject is held
	MissingNoSubject = "no_subject" // the request named no subject for the role
)

// CaseRequest is one case bundle request of an authenticated consumer.
// Procedure, CaseID and Subjects are the caller's untrusted input.
type CaseRequest struct {
	Consumer  string
	Role      string
	RequestID string
	Procedure string
	CaseID    string
	Subjects  map[string]string // role to resident ID or credit code
	// Limit, as Request.Limit, is called once per item to be queried,
	// before any is: a case counts against the consumer's limits as its
	// items would one by one. purpose is the procedure's, which its
	// items state.
	Limit func(pol *policy.Set, purpose string) (auditIt bool, refusal error)
	// Start is when the request arrived, for the assembly time (zero:
	// when Case starts).
	Start time.Time
}

// CaseItem is an evidence item released.
type CaseItem struct {
	Role, Dataset string
	Answer
}

// MissingItem is an evidence item not released: Reason is
// MissingNotFound, MissingNoSubject or the refusal's code; Holders are
// the publishers granted the dataset.
type MissingItem struct {
	Role, Dataset, Reason string
	Holders               []string
}

// CaseAnswer is an assembled case bundle, items in the order of the
// procedure's evidence.
type CaseAnswer struct {
	Procedure, Purpose, CaseID string
	Items                      []CaseItem
	Missing                    []MissingItem
	// Receipt is the exchange's case receipt over the whole bundle
	// (receipt.CaseClaims): a relay can neither drop an item nor pass a
	// released one off as missing.
	Receipt string
	// Elapsed is the assembly time: from Start until every item was
	// decided and its audit entry durable.
	Elapsed time.Duration
}

// Complete reports whether every evidence item was released.
func (a CaseAnswer) Complete() bool { return len(a.Missing) == 0 }

// Case assembles the evidence a procedure needs in one call. It checks,
// in this order, refusing the whole case with a durably audited query
// entry (route POST /v1/cases) at the first failure: procedure and case
// id present (missing_field); the procedure in the catalogue
// (unknown_procedure); the caller the procedure's service
// (procedure_not_yours, 403); the case id a plain token in the format of
// the procedure's purpose (bad_case_id); at least one and at most
// MaxSubjects subjects, each of a role the procedure's evidence names
// (role_not_in_procedure, pointer /subjects/<role>) and valid for it: a
// unified social credit code for the company role (invalid_credit_code),
// a resident ID for every other (invalid_subject, bad_check_character,
// lowercase_check_character); the caller's limits, one count per item.
//
// Then every item whose role has a subject is answered by Do, exactly as
// a query of that dataset and subject for the procedure's purpose and
// case id would be, its release narrowed to the fields the procedure
// names, with its own audit entry naming the procedure; the items run
// concurrently. An item refused (not_found, denied, consent_required,
// ...) becomes a MissingItem; an outage or a retryable refusal
// (unavailable, keys_stale) fails the whole case. Then the bundle is
// signed (CaseAnswer.Receipt), and last comes one audit entry of kind
// case: the procedure, case id, case_complete or case_incomplete, and the
// assembly time.
func (s *Service) Case(ctx context.Context, r CaseRequest) (CaseAnswer, error) {
	if r.Start.IsZero() {
		r.Start = time.Now()
	}
	entry := audit.Entry{
		Time: s.d.Now().UTC(), Kind: audit.KindQuery, Actor: r.Consumer, Role: r.Role, Route: CaseRoute,
		RequestID: r.RequestID, Node: s.d.Node, Decision: audit.DecisionDeny,
	}
	auditCtx, cancel := context.WithTimeout(ctx, s.d.AuditTimeout)
	defer cancel()
	refuse := func(cause error) error {
		entry.Code = wire.Of(cause).Name
		if err := s.d.Audit.Write(auditCtx, entry); err != nil {
			return fmt.Errorf("case: audit: %v: %w", err, codes.ErrUnavailable)
		}
		return audited{cause}
	}
	pol := s.d.Policy()
	entry.PolicyVersion = pol.Version()
	proc, err := s.checkCase(pol, r, &entry)
	if err != nil {
		return CaseAnswer{}, refuse(err)
	}
	if r.Limit != nil {
		for _, ev := range proc.Evidence {
			if _, ok := r.Subjects[ev.Role]; !ok {
				continue
			}
			if auditIt, refusal := r.Limit(pol, proc.Purpose); refusal != nil {
				if auditIt {
					return CaseAnswer{}, refuse(refusal)
				}
				return CaseAnswer{}, audited{refusal}
			}
		}
	}

	type result struct {
		ans Answer
		err error
	}
	results := make([]result, len(proc.Evidence))
	var wg sync.WaitGroup
	for i, ev := range proc.Evidence {
		subject, ok := r.Subjects[ev.Role]
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, _, err := s.Do(ctx, Request{
				Consumer: r.Consumer, Role: r.Role, RequestID: r.RequestID, Dataset: ev.Dataset, Subject: subject,
				Purpose: proc.Purpose, CaseID: r.CaseID, Fields: ev.Fields, Procedure: proc.ID, CaseRole: ev.Role,
			})
			results[i] = result{ans, err}
		}()
	}
	wg.Wait()

	out := CaseAnswer{Procedure: proc.ID, Purpose: proc.Purpose, CaseID: r.CaseID}
	for i, ev := range proc.Evidence {
		reason := MissingNoSubject
		if _, ok := r.Subjects[ev.Role]; ok {
			res := results[i]
			if res.err == nil {
				out.Items = append(out.Items, CaseItem{Role: ev.Role, Dataset: ev.Dataset, Answer: res.ans})
				continue
			}
			c := wire.Of(res.err)
			if !Audited(res.err) || c.Retryable || c.Status >= 500 {
				return CaseAnswer{}, fmt.Errorf("case %s: %s of the %s: %w", proc.ID, ev.Dataset, ev.Role, res.err)
			}
			reason = c.Name
		}
		out.Missing = append(out.Missing, MissingItem{Role: ev.Role, Dataset: ev.Dataset, Reason: reason, Holders: pol.Publishers(ev.Dataset)})
	}
	out.Receipt, err = s.caseReceipt(ctx, r, out)
	if err != nil {
		return CaseAnswer{}, err
	}
	out.Elapsed = time.Since(r.Start)

	sum := entry
	sum.Time, sum.Kind, sum.Decision, sum.Code = s.d.Now().UTC(), audit.KindCase, audit.DecisionPermit, "case_complete"
	sum.ElapsedMicros = max(out.Elapsed.Microseconds(), 1)
	if !out.Complete() {
		sum.Code = "case_incomplete"
	}
	if err := s.d.Audit.Write(auditCtx, sum); err != nil {
		return CaseAnswer{}, fmt.Errorf("case: audit: %v: %w", err, codes.ErrUnavailable)
	}
	s.cases.observe(out)
	return out, nil
}

// caseReceipt signs the bundle a: each item by the digest of its own
// receipt, each missing item by its reason, in the order of the evidence.
func (s *Service) caseReceipt(ctx context.Context, r CaseRequest, a CaseAnswer) (string, error) {
	c := receipt.CaseClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: r.Consumer, ID: r.RequestID, IssuedAt: jwt.NewNumericDate(s.d.Now())},
		Procedure:        a.Procedure, Purpose: a.Purpose, CaseID: a.CaseID,
	}
	for _, it := range a.Items {
		c.Items = append(c.Items, receipt.CaseItem{Role: it.Role, Dataset: it.Dataset, ReceiptSHA256: receipt.Digest(it.Receipt)})
	}
	for _, m := range a.Missing {
		c.Missing = append(c.Missing, receipt.CaseMissing{Role: m.Role, Dataset: m.Dataset, Reason: m.Reason})
	}
	tok, err := receipt.SignCase(ctx, s.d.Receipts, c)
	if err != nil {
		return "", fmt.Errorf("case %s: %w", a.Procedure, err)
	}
	return tok, nil
}

// checkCase makes the case-level checks (see Case) and fills the refusal
// entry with what has passed them.
func (s *Service) checkCase(pol *policy.Set, r CaseRequest, entry *audit.Entry) (policy.Procedure, error) {
	if err := Required("case", "/procedure", r.Procedure, "/case_id", r.CaseID); err != nil {
		return policy.Procedure{}, err
	}
	proc, ok := pol.Procedure(r.Procedure)
	if !ok {
		return policy.Procedure{}, &codes.FieldError{Pointer: "/procedure", Err: fmt.Errorf("case: %d-byte procedure: %w", len(r.Procedure), ErrUnknownProcedure)}
	}
	entry.Procedure, entry.Purpose = proc.ID, proc.Purpose
	if proc.Service != r.Consumer {
		return proc, fmt.Errorf("case: %s is run by %s, not %s: %w", proc.ID, proc.Service, r.Consumer, ErrProcedureNotYours)
	}
	if err := CheckCaseID("case", r.CaseID); err != nil {
		return proc, err
	}
	if err := CheckCaseIDFormat("case", pol, proc.Purpose, r.CaseID); err != nil {
		return proc, err
	}
	entry.CaseID = r.CaseID
	switch {
	case len(r.Subjects) == 0:
		return proc, &codes.FieldError{Pointer: "/subjects", Err: fmt.Errorf("case: no subjects: %w", codes.ErrMissingField)}
	case len(r.Subjects) > MaxSubjects:
		return proc, &codes.FieldError{Pointer: "/subjects", Err: fmt.Errorf("case: %d subjects, at most %d: %w", len(r.Subjects), MaxSubjects, codes.ErrBadRequest)}
	}
	roles := proc.Roles()
	var asked []string
	for role := range r.Subjects {
		asked = append(asked, role)
	}
	slices.Sort(asked)
	for _, role := range asked {
		if !slices.Contains(roles, role) {
			// Only a known role goes into the pointer: the key is the
			// caller's free text.
			ptr := "/subjects"
			if slices.Contains(policy.Roles, role) {
				ptr += "/" + role
			}
			return proc, &codes.FieldError{Pointer: ptr, Err: fmt.Errorf("case: a role the evidence of %s does not name: %w", proc.ID, ErrRoleNotInProcedure)}
		}
		format := schemas.FormatResidentID
		if policy.OrganisationRole(role) {
			format = schemas.FormatCreditCode
		}
		if err := CheckSubjectFormat("case", format, "/subjects/"+role, r.Subjects[role]); err != nil {
			return proc, err
		}
	}
	return proc, nil
}

// caseMetrics are the reform's own numbers (see the package doc).
type caseMetrics struct {
	delivered *prometheus.CounterVec
	cases     *prometheus.CounterVec
	assembly  *prometheus.HistogramVec
}

func newCaseMetrics() caseMetrics {
	return caseMetrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onevisit_case_records_delivered_total",
			Help: "Evidence records released in case bundles, by procedure: each a paper the citizen did not fetch.",
		}, []string{"procedure"}),
		cases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onevisit_cases_total",
			Help: "Case bundles assembled, by procedure and outcome (complete: nothing missing; incomplete).",
		}, []string{"procedure", "outcome"}),
		assembly: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "onevisit_case_assembly_seconds",
			Help:    "Time to assemble a case bundle, every item decided and audited, by procedure.",
			Buckets: []float64{.002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"procedure"}),
	}
}

func (m caseMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.delivered, m.cases, m.assembly}
}

func (m caseMetrics) observe(a CaseAnswer) {
	m.delivered.WithLabelValues(a.Procedure).Add(float64(len(a.Items)))
	outcome := "complete"
	if !a.Complete() {
		outcome = "incomplete"
	}
	m.cases.WithLabelValues(a.Procedure, outcome).Inc()
	m.assembly.WithLabelValues(a.Procedure).Observe(a.Elapsed.Seconds())
}

// onlyFields returns the fields of fields that keep lists, in fields'
// order.
func onlyFields(fields, keep []string) []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if slices.Contains(keep, f) {
			out = append(out, f)
		}
	}
	return out
}
