package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Body limits.
const (
	tokenBodyLimit   = 16 << 10
	queryBodyLimit   = 16 << 10
	publishBodyLimit = 64 << 20
	// MaxBatch is the most records one publish request may carry.
	MaxBatch = 1000
	// writeTimeout bounds a request's durable Kafka writes (records,
	// audit entries); past it the client gets 503 and retries.
	writeTimeout = 15 * time.Second
)

//go:embed openapi.json
var openapiDoc []byte

func (s *Server) table() []route {
	pub := []string{rolePublic}
	return []route{
		{"POST", "/v1/token", pub, "Exchange a client assertion (RFC 7523) for an access token", s.token},
		{"POST", "/v1/query", []string{RoleConsumer}, "Ask for the allowed fields of one subject's record", s.query},
		{"POST", "/v1/cases", []string{RoleConsumer}, "Gather every evidence item of a procedure in one call: each a minimised, verifiable record with its receipt, plus what is missing", s.cases},
		{"GET", "/v1/procedures", pub, "The procedure catalogue: each procedure's purpose, case-id format, service and evidence", s.procedures},
		{"POST", "/v1/datasets/{dataset}/records", []string{RolePublisher, RoleConsent}, "Publish signed records", s.publish},
		{"GET", "/v1/datasets", pub, "List datasets with their fields", s.datasets},
		{"POST", "/v1/policy/explain", []string{RoleConsumer, RoleOfficer}, "Explain a policy decision", s.explain},
		{"GET", "/v1/keys", pub, "Key directory (JWKS) of every record, token and receipt key", s.keys},
		{"POST", "/v1/keys", []string{RoleOfficer}, "Register a client's new key version (retires its other active ones)", s.registerKey},
		{"POST", "/v1/keys/revoke", []string{RoleOfficer}, "Revoke a client's key version from a moment on (exchange keys: break-glass only)", s.revokeKey},
		{"POST", "/v1/policy/events", []string{RoleOfficer}, "Submit a signed policy change event (propose, approve, reject, narrow, rollback; approve and reject also decide client proposals); answers once this node applied it", s.postPolicyEvent},
		{"GET", "/v1/policy/proposals", []string{RoleOfficer}, "Pending policy proposals", s.listProposals},
		{"GET", "/v1/policy/proposals/{id}", []string{RoleOfficer}, "Review a proposal: its diff, widenings and what-if replay of the audit log", s.reviewProposal},
		{"GET", "/v1/policy/versions", pub, "Applied policy versions and the one this node decides by", s.policyVersions},
		{"POST", "/v1/clients/events", []string{RoleOfficer}, "Submit a signed client change event (clients.add, a proposal; clients.disable, at once); answers once this node applied it", s.postClientEvent},
		{"POST", "/v1/schemas/events", []string{RoleOfficer}, "Submit a signed schema change event (schemas.propose: the next version of a dataset, a proposal); answers once this node applied it", s.postSchemaEvent},
		{"GET", "/v1/schemas", pub, "Every dataset's schema versions as this node holds them", s.listSchemas},
		{"GET", "/v1/audit/checkpoint", pub, "Signed tree head of the audit log", s.checkpoint},
		{"POST", "/v1/audit/subject", []string{RoleOfficer}, "Audit entries about one subject", s.auditSubject},
		{"GET", "/v1/audit/verifiers", pub, "Signed-note verifier keys of the audit keys, one a line", s.auditVerifiers},
		{"GET", "/v1/audit/proof/inclusion", pub, "RFC 9162 inclusion proof of one audit entry", s.inclusionProof},
		{"GET", "/v1/audit/proof/consistency", pub, "RFC 9162 consistency proof between two audit log sizes", s.consistencyProof},
		{"GET", "/v1/audit/entries", []string{RoleOfficer}, "A page of audit log entries, with their leaf hashes; with filters (consumer, case_id, dataset, kind, code, from, to), the matching entries newest first", s.auditEntries},
		{"GET", "/v1/audit/rejections", []string{RoleOfficer}, "Records refused at ingest (dead letters), counted by dataset and code", s.auditRejections},
		{"GET", "/healthz", pub, "Liveness and readiness", s.healthz},
		{"GET", "/livez", pub, "Liveness: the process is up and serving HTTP", s.livez},
		{"GET", "/readyz", pub, "Readiness: caught up with the accepted, audit and keys topics, and the key backend fresh", s.readyz},
		{"GET", "/openapi.json", pub, "This API's OpenAPI document", s.openapi},
		// The officer console's and the citizen page's routes (exchange/webui); a citizen
		// route takes a resident's ID token instead of an access token (api/citizen.go).
		{"GET", "/v1/policy/current", []string{RoleOfficer}, "The policy set this node decides by, as canonical YAML", s.currentPolicy},
		{"GET", "/v1/clients", []string{RoleOfficer}, "Registered clients and their roles, datasets and purposes (enrolled at runtime and disabled ones included)", s.listClients},
		{"GET", "/v1/me/config", pub, "Where residents sign in for the citizen page", s.citizenConfig},
		{"GET", "/v1/me/accesses", []string{RoleCitizen}, "Every audit entry about the signed-in resident, newest first (ID token as bearer)", s.myAccesses},
		{"POST", "/v1/me/corrections", []string{RoleCitizen}, "Ask for the correction of a field about the signed-in resident (ID token as bearer)", s.myCorrection},
		{"GET", "/v1/me/corrections", []string{RoleCitizen}, "The signed-in resident's correction requests and their status (ID token as bearer)", s.myCorrections},
		{"POST", "/v1/corrections", []string{RoleConsumer}, "File a correction of a field of a record you received (its record and receipt)", s.fileCorrection},
		{"GET", "/v1/corrections", []string{RolePublisher, RoleConsent}, "The corrections routed to your department (?status=open|accepted|rejected)", s.listCorrections},
		{"GET", "/v1/corrections/{id}", []string{RoleConsumer, RolePublisher, RoleConsent}, "One correction you filed or decide", s.getCorrection},
		{"POST", "/v1/corrections/{id}", []string{RolePublisher, RoleConsent}, "Accept or reject a correction routed to your department", s.decideCorrection},
	}
}

// oauthError marks token endpoint errors, which RFC 6749 §5.2 shapes.
type oauthError struct{ error }

func (e oauthError) Unwrap() error { return e.error }

func (s *Server) token(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if r.ContentLength > tokenBodyLimit {
		return s.oauthFail(w, r, fmt.Errorf("token: body of %d bytes: %w", r.ContentLength, auth.ErrInvalidRequest))
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, tokenBodyLimit))
	if err != nil {
		return s.oauthFail(w, r, fmt.Errorf("token: read body: %w", auth.ErrInvalidRequest))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return s.oauthFail(w, r, fmt.Errorf("token: parse form: %w", auth.ErrInvalidRequest))
	}
	if err := checkBody(r, body, "application/x-www-form-urlencoded"); err != nil {
		return s.oauthFail(w, r, fmt.Errorf("token: %v: %w", err, auth.ErrInvalidRequest))
	}
	resp, err := s.d.Auth.Token(r.Context(), form)
	if err != nil {
		return s.oauthFail(w, r, err)
	}
	// The token is audited before it is handed out, as a query is.
	if s.d.Audit != nil {
		ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
		defer cancel()
		if err := s.d.Audit.Write(ctx, s.tokenEntry(r, resp.Client, resp.Role, audit.DecisionPermit, "")); err != nil {
			return s.oauthFail(w, r, fmt.Errorf("token: audit: %v: %w", err, codes.ErrUnavailable))
		}
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// tokenEntry is the audit entry of a token decision. client is the
// client whose signature verified, "" when none did.
func (s *Server) tokenEntry(r *http.Request, client, role string, d audit.Decision, code string) audit.Entry {
	return audit.Entry{
		Time: s.d.Now().UTC(), Kind: audit.KindToken, Actor: client, Role: role, Route: "POST /v1/token",
		Decision: d, Code: code, RequestID: requestID(r.Context()), Node: s.d.Node,
	}
}

// oauthFail answers {"error","error_description"} as RFC 6749 asks and
// returns nil so the generic error body is not written too. The refusal
// is audited (under the client whose signature verified, if any) at most
// once a second per client and code: anyone can send junk to the token
// endpoint, and it must not grow the audit log at the sender's pace.
func (s *Server) oauthFail(w http.ResponseWriter, r *http.Request, err error) error {
	c := wire.Of(err)
	client, _ := auth.Authenticated(err)
	s.d.Logger.Info("token refused", "request_id", requestID(r.Context()), "code", c.Name, "detail", schemas.RedactIdentities(err.Error()))
	if s.d.Audit != nil && c.Status < 500 {
		if s.sampler.take(client, "POST /v1/token", c.Name, s.d.Now()) {
			role, _ := s.clientRole(client)
			ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
			defer cancel()
			if werr := s.d.Audit.Write(ctx, s.tokenEntry(r, client, role, audit.DecisionDeny, c.Name)); werr != nil {
				s.d.Logger.Error("token refusal not audited", "request_id", requestID(r.Context()), "code", c.Name, "detail", werr.Error())
			}
		} else {
			s.auditSuppressed.WithLabelValues(string(audit.KindToken)).Inc()
		}
	}
	status := http.StatusBadRequest
	switch {
	case c.Status == http.StatusTooManyRequests:
		status = c.Status // this client's own assertions fill its replay share
		w.Header().Set("Retry-After", strconv.Itoa(int(auth.AssertionLifetime/time.Second)))
		s.rateLimited.WithLabelValues(client).Inc()
	case c.Status == http.StatusUnauthorized:
		status = http.StatusUnauthorized
	case c.Status >= 500:
		status = c.Status // the key service is down: retry later
		if c.Retryable {
			w.Header().Set("Retry-After", "1")
		}
	}
	writeJSON(w, status, map[string]string{
		"error":             auth.OAuthError(err),
		"error_description": c.Message,
		"request_id":        requestID(r.Context()),
	})
	setOutcome(r.Context(), c.Name)
	return nil
}

type queryRequest struct {
	Dataset string `json:"dataset"`
	Subject string `json:"subject"`
	Purpose string `json:"purpose"`
	CaseID  string `json:"case_id"`
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	start := time.Now()
	outcome := query.Error
	defer func() { s.queryDur.WithLabelValues(string(outcome)).Observe(time.Since(start).Seconds()) }()

	var q queryRequest
	if err := decodeBody(r, queryBodyLimit, &q); err != nil {
		return err
	}
	ans, outcome, err := s.queries.Do(r.Context(), query.Request{
		Consumer: p.ClientID, Role: p.Role, RequestID: requestID(r.Context()),
		Dataset: q.Dataset, Subject: q.Subject, Purpose: q.Purpose, CaseID: q.CaseID,
		Limit: func(pol *policy.Set) (bool, error) {
			return s.limit(w, pol, p.ClientID, q.Purpose, "POST /v1/query")
		},
	})
	if err != nil {
		if query.Audited(err) {
			return auditDone{err}
		}
		return err
	}
	writeJSON(w, http.StatusOK, wire.QueryAnswer{Record: ans.Record, Data: ans.Data, Receipt: ans.Receipt, RequestID: requestID(r.Context())})
	return nil
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	dataset := r.PathValue("dataset")
	if _, ok := s.d.Schemas.Dataset(dataset); !ok {
		return fmt.Errorf("publish: %w", codes.ErrUnknownDataset)
	}
	if r.ContentLength > publishBodyLimit {
		return fmt.Errorf("publish: declared %d bytes, over %d: %w", r.ContentLength, publishBodyLimit, codes.ErrTooLarge)
	}
	// Bound the publish bodies read at once, node-wide: a body of unknown
	// length holds room for the largest allowed.
	want := r.ContentLength
	if want <= 0 {
		want = publishBodyLimit
	}
	waitCtx, cancelWait := context.WithTimeout(r.Context(), publishWait)
	held, err := s.publishGate.acquire(waitCtx, want)
	cancelWait()
	if err != nil {
		return fmt.Errorf("publish: no room for %d more bytes of publish bodies in flight: %v: %w", want, err, codes.ErrUnavailable)
	}
	s.publishInFlight.Add(float64(held))
	defer func() {
		s.publishGate.release(held)
		s.publishInFlight.Sub(float64(held))
	}()
	var req wire.PublishRequest
	if err := decodeBody(r, publishBodyLimit, &req); err != nil {
		return err
	}
	if len(req.Records) == 0 || len(req.Records) > MaxBatch {
		return &codes.FieldError{Pointer: "/records", Err: fmt.Errorf("publish: %d records, want 1 to %d: %w", len(req.Records), MaxBatch, codes.ErrBadRequest)}
	}
	subs := make([]ingest.Submission, len(req.Records))
	for i, raw := range req.Records {
		subs[i] = ingest.Submission{Raw: raw, Dataset: dataset, Publisher: p.ClientID}
	}
	// Bound the durable write: below min.insync.replicas the writer would
	// retry for longer than any client waits. Nothing is acknowledged on
	// a timeout, and record ids make the client's retry idempotent.
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	results, err := s.d.Ingest.Process(ctx, subs)
	if errors.Is(err, codes.ErrKeysStale) {
		return fmt.Errorf("publish: %w", err)
	}
	if err != nil {
		return fmt.Errorf("publish: %v: %w", err, codes.ErrUnavailable)
	}
	resp := wire.PublishResponse{Results: results, RequestID: requestID(r.Context())}
	for _, res := range results {
		switch res.Status {
		case wire.Accepted:
			resp.Accepted++
		case wire.Duplicate:
			resp.Duplicate++
		default:
			resp.Rejected++
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type datasetInfo struct {
	Name    string   `json:"name"`
	Schema  string   `json:"schema"`
	Subject string   `json:"subject"`
	Fields  []string `json:"fields"`
}

func (s *Server) datasets(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	out := []datasetInfo{}
	for _, name := range s.d.Schemas.Datasets() {
		d, _ := s.d.Schemas.Dataset(name)
		out = append(out, datasetInfo{Name: d.Name, Schema: d.Latest, Subject: d.Subject, Fields: d.Fields})
	}
	writeJSON(w, http.StatusOK, map[string]any{"datasets": out})
	return nil
}

type explainRequest struct {
	Consumer string `json:"consumer"`
	Dataset  string `json:"dataset"`
	Purpose  string `json:"purpose"`
	CaseID   string `json:"case_id"`
}

// explainCaseID stands in for a case id when the asker gives none, so an
// explanation shows which fields a query with a case id would get.
const explainCaseID = "(any case id)"

func (s *Server) explain(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var q explainRequest
	if err := decodeBody(r, queryBodyLimit, &q); err != nil {
		return err
	}
	if err := query.Required("explain", "/consumer", q.Consumer, "/dataset", q.Dataset, "/purpose", q.Purpose); err != nil {
		return err
	}
	if p.Role != RoleOfficer && q.Consumer != p.ClientID {
		return fmt.Errorf("explain: %s asked about %s: %w", p.ClientID, q.Consumer, codes.ErrForbidden)
	}
	// The checks a query makes before its policy decision, so explain
	// never permits what the query then refuses.
	if err := query.CheckDataset("explain", s.d.Schemas, q.Dataset); err != nil {
		return err
	}
	pol := s.d.Policy()
	if err := query.CheckPurpose("explain", pol, q.Purpose); err != nil {
		return err
	}
	if err := query.CheckCaseID("explain", q.CaseID); err != nil {
		return err
	}
	if err := query.CheckCaseIDFormat("explain", pol, q.Purpose, q.CaseID); err != nil {
		return err
	}
	// A consumer's explain calls count against its limits as its queries
	// do: each is an audit entry.
	if p.Role == RoleConsumer {
		const route = "POST /v1/policy/explain"
		refuse := func(cause error) error {
			if err := s.writeDeny(r, p, route, wire.Of(cause).Name); err != nil {
				return err
			}
			return auditDone{cause}
		}
		if err := s.checkLimits(w, pol, p.ClientID, q.Purpose, route, refuse); err != nil {
			return err
		}
	}
	caseID := q.CaseID
	req := policy.Request{Consumer: q.Consumer, Dataset: q.Dataset, Purpose: q.Purpose, CaseID: q.CaseID, Time: s.d.Now()}
	conditions := []string{}
	if q.CaseID == "" {
		// Explain what a query with a case id would get, and say that a
		// query without one is refused.
		bare := pol.Decide(req)
		req.CaseID = explainCaseID
		if d := pol.Decide(req); d.Allowed && errors.Is(bare.Err(), policy.ErrCaseIDRequired) {
			conditions = append(conditions, wire.Of(policy.ErrCaseIDRequired).Name)
		}
	}
	d := pol.Decide(req)
	if err := s.auditExplain(r, p, q, caseID, pol.Version(), d); err != nil {
		return err
	}
	for _, c := range conditions {
		d.Reasons = append(d.Reasons, "condition: "+c+": a query without a case_id is refused")
	}
	if pat := pol.CaseIDPattern(q.Purpose); pat != "" && d.Allowed {
		conditions = append(conditions, wire.Of(policy.ErrBadCaseID).Name)
		d.Reasons = append(d.Reasons, "condition: "+wire.Of(policy.ErrBadCaseID).Name+": a case_id that does not match "+pat+" is refused")
	}
	if d.Allowed && d.RequiresConsent {
		conditions = append(conditions, wire.Of(query.ErrConsentRequired).Name)
		d.Reasons = append(d.Reasons, "condition: "+wire.Of(query.ErrConsentRequired).Name+": "+
			strings.Join(d.ConsentFields, ", ")+" are released only while the citizen's consent for "+q.Purpose+" is in force")
	}
	writeJSON(w, http.StatusOK, explainResponse{d, conditions})
	return nil
}

// explainResponse is a policy decision and the conditions a query must
// meet on top of it (codes of the refusals it would otherwise get).
type explainResponse struct {
	policy.Decision
	Conditions []string
}

// MarshalJSON is the decision's own JSON object with "conditions" added
// as its last member.
func (e explainResponse) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(e.Decision)
	if err != nil {
		return nil, err
	}
	c, err := json.Marshal(e.Conditions)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("explain: decision JSON %q is not an object", b)
	}
	out := append(b[:len(b)-1:len(b)-1], `,"conditions":`...)
	return append(append(out, c...), '}'), nil
}

// auditExplain writes the entry of an explain call: who asked, about
// which consumer (when not themselves), dataset and purpose, and the
// decision explained. The purpose and case id have passed the query's own
// checks (query.CheckPurpose, query.CheckCaseID) before this is called, so
// they go in as the query's entry would hold them; the consumer and the
// dataset go in only when they name a known client or dataset.
func (s *Server) auditExplain(r *http.Request, p auth.Principal, q explainRequest, caseID, version string, d policy.Decision) error {
	e := audit.Entry{
		Time: s.d.Now().UTC(), Kind: audit.KindExplain, Actor: p.ClientID, Role: p.Role,
		Purpose: q.Purpose, CaseID: caseID, Fields: d.Fields,
		Decision: audit.DecisionDeny, Policy: d.Policy, PolicyVersion: version,
		RequestID: requestID(r.Context()), Node: s.d.Node,
	}
	if _, ok := s.clientRole(q.Consumer); ok && q.Consumer != p.ClientID {
		e.Consumer = q.Consumer
	}
	if _, ok := s.d.Schemas.Dataset(q.Dataset); ok {
		e.Dataset = q.Dataset
	}
	if d.Allowed {
		e.Decision = audit.DecisionPermit
	} else {
		e.Code = wire.Of(d.Err()).Name
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if err := s.d.Audit.Write(ctx, e); err != nil {
		return fmt.Errorf("explain: audit: %v: %w", err, codes.ErrUnavailable)
	}
	return nil
}

// clientRole is the role of a registered client; ok is false for "" and
// for clients the registry does not know.
func (s *Server) clientRole(client string) (string, bool) {
	if client == "" || s.d.Clients == nil {
		return "", false
	}
	return s.d.Clients.Role(client)
}

func (s *Server) keys(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	b, err := s.d.Keys.JWKS()
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=30")
	_, err = w.Write(b)
	return err
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if s.d.AuditLog == nil {
		return fmt.Errorf("checkpoint: no audit log on this node: %w", codes.ErrNotFound)
	}
	cp, err := s.d.AuditLog.Checkpoint(r.Context())
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = io.WriteString(w, cp)
	return err
}

type subjectRequest struct {
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
}

// auditSubject lists the audit entries about one subject, for an officer
// investigating (or answering a citizen). The lookup is itself audited.
func (s *Server) auditSubject(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	if s.d.AuditLog == nil {
		return fmt.Errorf("audit subject: no audit log on this node: %w", codes.ErrNotFound)
	}
	var q subjectRequest
	if err := decodeBody(r, queryBodyLimit, &q); err != nil {
		return err
	}
	if err := query.Required("audit subject", "/subject", q.Subject, "/reason", q.Reason); err != nil {
		return err
	}
	if err := checkReason("audit subject", q.Reason); err != nil {
		return err
	}
	// A subject is a person (resident ID) or an organisation (credit code).
	if schemas.ValidCreditCode(q.Subject) != nil {
		if err := query.CheckSubject("audit subject", q.Subject); err != nil {
			return err
		}
	}
	pseud, err := s.d.Pseudonym.Of(ctx, q.Subject)
	if err != nil {
		return err
	}
	if err := s.d.Audit.Write(ctx, audit.Entry{
		Time: s.d.Now().UTC(), Kind: audit.KindQuery, Actor: p.ClientID, Role: p.Role, Purpose: "audit_investigation",
		Reason: q.Reason, Subject: pseud, Decision: audit.DecisionPermit, RequestID: requestID(ctx), Node: s.d.Node, Code: "audit_read",
	}); err != nil {
		return fmt.Errorf("audit subject: %v: %w", err, codes.ErrUnavailable)
	}
	// Read your writes: list only once this node's copy of the log holds
	// every entry written before this lookup, its own entry included.
	if err := s.d.AuditLog.CatchUp(ctx); err != nil {
		return fmt.Errorf("audit subject: %w", err)
	}
	type item struct {
		Index uint64          `json:"index"`
		Entry json.RawMessage `json:"entry"`
	}
	out := []item{}
	for _, e := range s.d.AuditLog.BySubject(pseud) {
		out = append(out, item{e.Index, e.Raw})
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	if err := s.d.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "node": s.d.Node, "detail": err.Error()})
		return nil
	}
	out := map[string]string{"status": "ok", "node": s.d.Node}
	if s.d.Governance != nil {
		out["policy_version"] = strconv.FormatUint(s.d.Governance.PolicyVersion(), 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// livez answers 200 while the process serves HTTP: a failing liveness
// probe restarts the process, so it checks nothing a restart cannot fix
// (not the brokers, not the key backend).
func (s *Server) livez(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": s.d.Node})
	return nil
}

// readyz answers 200 only when the node may answer queries: it has read
// the accepted, audit and keys topics to their end (Deps.Ready) and its
// key versions are fresh (Deps.Fresh). Otherwise 503 with status
// "starting" or "keys_stale" and the cause, so a load balancer sends
// requests elsewhere without restarting the node.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	if err := s.d.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "node": s.d.Node, "detail": err.Error()})
		return nil
	}
	if err := s.d.Fresh(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "keys_stale", "node": s.d.Node, "detail": err.Error()})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": s.d.Node})
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiDoc)
	return err
}
