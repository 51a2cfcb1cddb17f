// Package console is the officer's local console proxy, `onevisit
// console --credentials officer.json` (as kubectl proxy is for the
// Kubernetes API): it listens on loopback, serves the exchange's console
// through itself, and adds a fresh access token of the officer to every
// API request, so no token or key ever reaches the browser. It also signs
// policy events with the officer's key (POST /console/sign), which the
// browser cannot do without the key.
//
// Routes of the proxy itself:
//
//	GET  /console/session   {"proxy":true,"officer":ID}: the page is behind this proxy
//	POST /console/sign      {action, proposal, base, reason, policy, rollback_to}: signs the
//	                        control event as the officer and posts it to /v1/policy/events
//	                        through the proxy; answers with the exchange's answer
//
// Everything else goes to the exchange unchanged but for the token:
// /v1/*, /metrics, /healthz and /openapi.json with the officer's bearer
// token (any Authorization header from the browser is dropped), the
// pages without one.
//
// The proxy acts with the officer's authority for whoever reaches it, so:
// it listens on loopback only; it answers only requests whose Host is its
// own address (a web page cannot reach it through DNS rebinding); and
// every request it adds the token to, and its own routes, must carry the
// header X-OneVisit-Console: 1, which a page from another origin cannot
// send without a CORS preflight the proxy never grants (no cross-site
// request forgery). Tokens are never logged.
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/control"
)

// Header is the header every API request through the proxy must carry.
const Header = "X-OneVisit-Console"

// maxSignBody bounds a /console/sign body: a whole policy set fits.
const maxSignBody = control.MaxEventSize

// Proxy is the console proxy of one officer.
type Proxy struct {
	cred   *connectors.Credentials
	client *connectors.Client
	log    *slog.Logger
	hosts  map[string]bool
	rp     *httputil.ReverseProxy
}

// New builds a proxy for the officer whose credentials cred are, in
// front of the exchange at client.BaseURL. It does no I/O.
func New(cred *connectors.Credentials, client *connectors.Client, lg *slog.Logger) (*Proxy, error) {
	u, err := url.Parse(client.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("console: exchange URL %q: want http(s)://host[:port]", client.BaseURL)
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cred: cred, client: client, log: lg, hosts: map[string]bool{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
			r.Out.Header.Del("Authorization")
			r.Out.Header.Del("Cookie")
			r.Out.Header.Del(Header)
			if tok, ok := r.In.Context().Value(tokenKey{}).(string); ok {
				r.Out.Header.Set("Authorization", "Bearer "+tok)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Warn("console proxy: exchange unreachable", "path", r.URL.Path, "detail", err.Error())
			http.Error(w, "exchange unreachable", http.StatusBadGateway)
		},
	}
	return p, nil
}

type tokenKey struct{}

// Listen listens on addr, which must be a loopback address.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := loopback(ln); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// loopback returns ln's address, or an error if it is not on loopback.
func loopback(ln net.Listener) (*net.TCPAddr, error) {
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() {
		return nil, fmt.Errorf("listen on a loopback address, not %s", ln.Addr())
	}
	return addr, nil
}

// Serve answers on ln (which must be a loopback address) until ctx ends.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	addr, err := loopback(ln)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	p.hosts[ln.Addr().String()] = true
	p.hosts[fmt.Sprintf("localhost:%d", addr.Port)] = true
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// withToken reports whether a path goes to the exchange with the
// officer's token.
func withToken(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/metrics" || path == "/healthz" || path == "/openapi.json"
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.hosts[r.Host] {
		http.Error(w, "console proxy: wrong Host", http.StatusMisdirectedRequest)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	own := r.URL.Path == "/console/session" || r.URL.Path == "/console/sign"
	if (own || withToken(r.URL.Path)) && r.Header.Get(Header) != "1" {
		http.Error(w, "console proxy: missing "+Header+" header", http.StatusForbidden)
		return
	}
	switch {
	case r.URL.Path == "/console/session" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"proxy": true, "officer": p.cred.ClientID})
	case r.URL.Path == "/console/sign" && r.Method == http.MethodPost:
		p.sign(w, r)
	case own:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case withToken(r.URL.Path):
		tok, err := p.client.Token(r.Context())
		if err != nil {
			p.log.Warn("console proxy: no access token", "detail", err.Error())
			http.Error(w, "console proxy: could not get an access token", http.StatusBadGateway)
			return
		}
		p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
	default:
		p.rp.ServeHTTP(w, r)
	}
}

type signRequest struct {
	Action     string `json:"action"`
	Proposal   string `json:"proposal"`
	Base       uint64 `json:"base"`
	Reason     string `json:"reason"`
	Policy     string `json:"policy"`
	RollbackTo uint64 `json:"rollback_to"`
}

// sign signs the control event the page asks for as the officer and
// submits it; the exchange checks it as it checks any (exchange/control).
func (p *Proxy) sign(w http.ResponseWriter, r *http.Request) {
	var q signRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSignBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		http.Error(w, "console proxy: bad sign request: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch q.Action {
	case control.ActionPropose, control.ActionNarrow, control.ActionApprove, control.ActionReject, control.ActionRollback:
	default:
		http.Error(w, "console proxy: unknown action", http.StatusBadRequest)
		return
	}
	if q.Proposal == "" {
		q.Proposal = control.NewID()
	}
	s, err := p.cred.AuthSigner()
	if err != nil {
		http.Error(w, "console proxy: officer key unusable", http.StatusInternalServerError)
		return
	}
	ev := control.Event{Issuer: p.cred.ClientID, Action: q.Action, Proposal: q.Proposal, Base: q.Base, Reason: q.Reason, Policy: q.Policy, RollbackTo: q.RollbackTo}
	tok, err := control.Sign(r.Context(), s, ev)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "bad_event", "message": err.Error()}})
		return
	}
	access, err := p.client.Token(r.Context())
	if err != nil {
		http.Error(w, "console proxy: could not get an access token", http.StatusBadGateway)
		return
	}
	body, _ := json.Marshal(map[string]string{"event": tok})
	out := r.Clone(context.WithValue(r.Context(), tokenKey{}, access))
	out.URL.Path, out.URL.RawPath, out.URL.RawQuery = "/v1/policy/events", "", ""
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	out.Header.Set("Content-Type", "application/json")
	p.log.Info("console proxy: submitting a policy event", "action", q.Action, "proposal", q.Proposal)
	p.rp.ServeHTTP(w, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
