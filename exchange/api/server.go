package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// Roles a client can have.
const (
	RolePublisher = "publisher"
	RoleConsumer  = "consumer"
	RoleOfficer   = "officer"
	RoleConsent   = "consent" // the consent service: publishes the consent dataset as a publisher does
	RoleCitizen   = "citizen" // a resident signed in with an ID token of the citizen provider (citizen.go)
	rolePublic    = "public"  // no token needed
)

// Auditor durably records audit entries; Write returns only when they are
// on every in-sync replica of the audit topic.
type Auditor interface {
	Write(ctx context.Context, entries ...audit.Entry) error
}

// AuditLog is the node's copy of the audit Merkle log, for checkpoints,
// proofs and the accesses of one subject.
type AuditLog interface {
	Checkpoint(ctx context.Context) (string, error)
	BySubject(pseudonym string) []audit.IndexedEntry
	// Log is the node's copy of the log, for proofs and entry pages.
	Log() *audit.Log
	// CatchUp waits (bounded) until the node's copy holds every entry
	// durably written before the call, or fails with codes.ErrUnavailable.
	CatchUp(ctx context.Context) error
}

// Deps are the parts the server is built from.
type Deps struct {
	Auth      *auth.Issuer
	Policy    func() *policy.Set
	Schemas   *schemas.Registry
	View      *view.View
	Pseudonym *pseudonym.Pseudonymizer
	Ingest    *ingest.Pipeline
	Audit     Auditor
	AuditLog  AuditLog // optional
	Receipts  keys.Signer
	Keys      *keys.Directory
	// KeyLog durably publishes key directory changes to every node, as
	// events the exchange signs (see exchange/keys/doc.go).
	KeyLog interface {
		PublishKeyEvent(ctx context.Context, e keys.Event) error
	}
	// Clients knows the registered clients and their roles.
	Clients interface {
		Role(clientID string) (string, bool)
	}
	// Citizens verifies residents' ID tokens for the /v1/me routes (nil:
	// citizen sign-in is off and they answer 404).
	Citizens Citizens
	// Governance is the node's policy control plane (the /v1/policy
	// routes but explain, and the version /healthz shows).
	Governance Governance
	Metrics    *prometheus.Registry
	Logger     *slog.Logger
	Node       string

	// Corrections is the node's correction book (the /v1/corrections routes).
	Corrections Corrections

	// Ready reports whether the node has caught up with the accepted
	// topics and may answer queries.
	Ready func() error
	// Fresh reports whether the node's key versions are fresh enough to
	// answer with (nil when always).
	Fresh func() error
	Now   func() time.Time
	// PublishBytesInFlight bounds the publish bodies the node reads at
	// once, in bytes (0: DefaultPublishBytesInFlight). A publish waits up
	// to 5 s for room, then gets 503 with Retry-After.
	PublishBytesInFlight int64
	// Live fetches records of live datasets from their departments (nil:
	// queries of a live dataset answer source_timeout).
	Live query.LiveSource
}

// Server is an http.Handler.
type Server struct {
	d        Deps
	mux      *http.ServeMux
	routes   []route
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec // exchange/api/latency.go
	queryDur *prometheus.HistogramVec
	queries  *query.Service

	limits          limiter
	sampler         sampler
	publishGate     *byteGate
	rateLimited     *prometheus.CounterVec
	auditSuppressed *prometheus.CounterVec
	publishInFlight prometheus.Gauge
	corrections     correctionLimiter // citizen correction requests (citizen.go)
}

type route struct {
	method, pattern string
	roles           []string
	summary         string
	h               func(w http.ResponseWriter, r *http.Request, p auth.Principal) error
}

// New builds the server; it does no I/O.
func New(d Deps) (*Server, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Ready == nil {
		d.Ready = func() error { return nil }
	}
	if d.Fresh == nil {
		d.Fresh = func() error { return nil }
	}
	if d.PublishBytesInFlight <= 0 {
		d.PublishBytesInFlight = DefaultPublishBytesInFlight
	}
	s := &Server{d: d, mux: http.NewServeMux(), publishGate: newByteGate(d.PublishBytesInFlight)}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "onevisit_api_requests_total", Help: "HTTP requests by route and result code.",
	}, []string{"route", "code"})
	s.queryDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "onevisit_query_seconds", Help: "Query latency by decision, audit write included.",
		Buckets: prometheus.ExponentialBuckets(100e-6, 2, 14),
	}, []string{"decision"})
	s.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "onevisit_api_rate_limited_total", Help: "Requests refused with 429 rate_limited, by client.",
	}, []string{"client"})
	s.auditSuppressed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "onevisit_api_audit_suppressed_total", Help: "Repeated refusals not audited (one entry a second per client, route and code is), by entry kind.",
	}, []string{"kind"})
	s.publishInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "onevisit_api_publish_bytes_in_flight", Help: "Bytes of publish bodies admitted and not yet answered.",
	})
	s.latency = newLatency()
	if d.Metrics != nil {
		for _, c := range []prometheus.Collector{s.requests, s.latency, s.queryDur, s.rateLimited, s.auditSuppressed, s.publishInFlight} {
			if err := d.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("api: %w", err)
			}
		}
	}
	var reg prometheus.Registerer
	if d.Metrics != nil {
		reg = d.Metrics
	}
	var err error
	s.queries, err = query.New(query.Deps{
		Policy: d.Policy, Schemas: d.Schemas, View: d.View, Pseudonym: d.Pseudonym, Audit: d.Audit,
		Receipts: d.Receipts, Keys: d.Keys, Node: d.Node, Ready: d.Ready, Fresh: d.Fresh, Now: d.Now,
		AuditTimeout: writeTimeout, Metrics: reg, Live: d.Live,
	})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	for _, rt := range s.table() {
		if err := s.handle(rt); err != nil {
			return nil, err
		}
	}
	s.handleUnmatched()
	return s, nil
}

// handleUnmatched answers requests no route takes in the JSON error shape,
// counted like every other answer: 405 method_not_allowed (with Allow)
// when the path exists for other methods, else 404 not_found. The route
// label is the path's pattern, or "unmatched": never the raw path.
func (s *Server) handleUnmatched() {
	methods := map[string][]string{}
	var order []string
	for _, rt := range s.routes {
		if methods[rt.pattern] == nil {
			order = append(order, rt.pattern)
		}
		methods[rt.pattern] = append(methods[rt.pattern], rt.method)
	}
	if s.d.Metrics != nil { // served by Handler
		order = append(order, "/metrics")
		methods["/metrics"] = append(methods["/metrics"], "GET")
	}
	paths := http.NewServeMux()
	for _, p := range order {
		paths.Handle(p, http.NotFoundHandler())
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", newID())
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r = r.WithContext(context.WithValue(r.Context(), reqIDKey{}, w.Header().Get("X-Request-Id")))
		start := time.Now()
		route, err := "unmatched", fmt.Errorf("api: no route for this path: %w", codes.ErrNoRoute)
		if _, pattern := paths.Handler(r); pattern != "" && !allows(methods[pattern], r.Method) {
			route = pattern
			err = fmt.Errorf("api: %s not allowed on %s: %w", r.Method, pattern, codes.ErrMethodNotAllowed)
			allow := methods[pattern]
			if slices.Contains(allow, "GET") {
				allow = append(slices.Clone(allow), "HEAD")
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
		}
		c := wire.Of(err)
		s.writeError(w, r, c, err)
		s.requests.WithLabelValues(route, c.Name).Inc()
		s.observe(r.Method, route, start)
	})
}

func allows(methods []string, m string) bool {
	return slices.Contains(methods, m) || m == "HEAD" && slices.Contains(methods, "GET")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Routes lists method, pattern and roles of every route, for tests and
// the OpenAPI document.
func (s *Server) Routes() [][3]string {
	out := make([][3]string, len(s.routes))
	for i, r := range s.routes {
		out[i] = [3]string{r.method, r.pattern, strings.Join(r.roles, ",")}
	}
	return out
}

func (s *Server) handle(rt route) error {
	if len(rt.roles) == 0 {
		return fmt.Errorf("api: route %s %s has no roles: refusing to register it", rt.method, rt.pattern)
	}
	s.routes = append(s.routes, rt)
	s.mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := newID()
		w.Header().Set("X-Request-Id", reqID)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		code := "ok"
		ctx := context.WithValue(context.WithValue(r.Context(), reqIDKey{}, reqID), outcomeKey{}, &code)
		r = r.WithContext(ctx)
		r, p, err := s.authorize(r, rt)
		if err == nil {
			r, err = checkParams(r) // exchange/api/spec.go
		}
		if err == nil {
			err = rt.h(w, r, p)
		}
		if err != nil {
			err = s.auditRefusal(r, rt, p, err)
			c := wire.Of(err)
			code = c.Name
			s.writeError(w, r, c, err)
		}
		s.requests.WithLabelValues(rt.pattern, code).Inc()
		s.observe(rt.method, rt.pattern, start)
	})
	return nil
}

type reqIDKey struct{}

// outcomeKey holds the code a request is counted under in
// onevisit_api_requests_total; a handler that writes its own refusal
// (oauthFail) sets it, so the request is counted once, under that code.
type outcomeKey struct{}

func setOutcome(ctx context.Context, code string) {
	if p, ok := ctx.Value(outcomeKey{}).(*string); ok {
		*p = code
	}
}

func requestID(ctx context.Context) string { v, _ := ctx.Value(reqIDKey{}).(string); return v }

// authorize checks the bearer token against the route's roles; the
// request it returns is r, or for a citizen route r carrying the resident
// its ID token names (authorizeCitizen). On a refusal the principal names
// the caller when its token verified (a 403, or a 401 for a token that is
// no longer good), so the refusal can be audited under it; it is never
// used to serve the request.
func (s *Server) authorize(r *http.Request, rt route) (*http.Request, auth.Principal, error) {
	for _, role := range rt.roles {
		if role == rolePublic {
			return r, auth.Principal{}, nil
		}
	}
	if slices.Equal(rt.roles, []string{RoleCitizen}) {
		return s.authorizeCitizen(r)
	}
	p, err := s.authorizeClient(r, rt)
	return r, p, err
}

// authorizeClient checks a client's access token against rt's roles.
func (s *Server) authorizeClient(r *http.Request, rt route) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return auth.Principal{}, codes.ErrUnauthenticated
	}
	p, err := s.d.Auth.Verify(tok)
	if err != nil {
		client, _ := auth.Authenticated(err)
		return auth.Principal{ClientID: client}, err
	}
	for _, role := range rt.roles {
		if role == p.Role {
			return p, nil
		}
	}
	return p, fmt.Errorf("api: %s is a %s: %w", p.ClientID, p.Role, codes.ErrForbidden)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, c wire.Code, err error) {
	var b wire.ErrorBody
	b.Error.Code, b.Error.Message, b.Error.RequestID = c.Name, c.Message, requestID(r.Context())
	b.Error.Pointer = wire.Pointer(err)
	level := slog.LevelInfo
	if c.Status >= 500 {
		level = slog.LevelError
	}
	s.d.Logger.Log(r.Context(), level, "request failed", "request_id", b.Error.RequestID, "route", r.Pattern, "code", c.Name, "detail", schemas.RedactIdentities(err.Error()))
	if c.Retryable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if c.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="onevisit"`)
	}
	writeJSON(w, c.Status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeBody reads at most limit bytes and decodes them strictly. A body
// that declares more than limit is refused before a byte of it is read.
func decodeBody(r *http.Request, limit int64, v any) error {
	if r.ContentLength > limit {
		return fmt.Errorf("read body: declared %d bytes, over %d: %w", r.ContentLength, limit, codes.ErrTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("read body: over %d bytes: %w", limit, codes.ErrTooLarge)
		}
		return fmt.Errorf("read body: %v: %w", err, codes.ErrBadRequest)
	}
	if err := jsonstrict.Decode(body, v); err != nil {
		// Valid JSON the Go type refused (a number for a string, a
		// string that is no time): the document names the field.
		if errors.Is(err, jsonstrict.ErrSyntax) && json.Valid(body) {
			if serr := checkBody(r, body, "application/json"); serr != nil {
				return serr
			}
		}
		return fmt.Errorf("decode body: %w", err)
	}
	if err := checkBody(r, body, "application/json"); err != nil {
		return err
	}
	return nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Handler adds /metrics to the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s)
	if s.d.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.d.Metrics, promhttp.HandlerOpts{}))
	}
	return mux
}
