package citizen

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/schemas"
)

// Resident is one sample resident the development provider lists.
type Resident struct {
	ID   string
	Name string
}

// DevAudience is the audience of the development provider's ID tokens.
const DevAudience = "onevisit-citizen-page"

// devTokenLifetime is how long a development ID token lasts.
const devTokenLifetime = 30 * time.Minute

// DevProvider is the development sign-in provider (see the package doc).
// Never run it outside dev mode: anyone who reaches it signs in as any
// listed resident.
type DevProvider struct {
	issuer    string
	kid       string
	priv      ed25519.PrivateKey
	residents []Resident
	now       func() time.Time
}

// NewDevProvider makes a provider whose issuer is issuer (the URL it is
// served at, e.g. http://127.0.0.1:8080/dev/oidc) with a new key.
func NewDevProvider(issuer string, residents []Resident) (*DevProvider, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &DevProvider{issuer: issuer, kid: "dev-oidc-1", priv: priv, residents: residents, now: time.Now}, nil
}

// Config is the verifier config that accepts this provider's tokens.
func (p *DevProvider) Config() Config {
	return Config{Issuer: p.issuer, JWKSURL: p.issuer + "/jwks.json", Audience: DevAudience, Alg: "EdDSA", SignInURL: p.issuer + "/"}
}

// IDToken signs an ID token for resident id, which must be a valid
// resident ID number.
func (p *DevProvider) IDToken(id string) (string, error) {
	if err := schemas.ValidResidentID(id); err != nil {
		return "", fmt.Errorf("development ID token: not a resident ID number: %w", err)
	}
	now := p.now()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": p.issuer, "aud": DevAudience, "sub": "dev-" + id[len(id)-4:], DefaultResidentClaim: id,
		"iat": now.Unix(), "exp": now.Add(devTokenLifetime).Unix(),
	})
	t.Header["kid"] = p.kid
	return t.SignedString(p.priv)
}

// Handler serves the provider under prefix (e.g. "/dev/oidc").
func (p *DevProvider) Handler(prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: p.priv.Public(), KeyID: p.kid, Algorithm: "EdDSA", Use: "sig"}}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("GET "+prefix+"/{$}", func(w http.ResponseWriter, _ *http.Request) {
		pageHeaders(w)
		_ = signInPage.Execute(w, map[string]any{"Action": prefix + "/signin", "Residents": p.residents})
	})
	mux.HandleFunc("POST "+prefix+"/token", p.token)
	mux.HandleFunc("POST "+prefix+"/signin", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		id := r.PostFormValue("resident")
		if !p.known(id) {
			http.Error(w, "unknown sample resident", http.StatusBadRequest)
			return
		}
		tok, err := p.IDToken(id)
		if err != nil {
			http.Error(w, "could not sign", http.StatusInternalServerError)
			return
		}
		pageHeaders(w)
		_ = handoffPage.Execute(w, map[string]string{"Token": tok})
	})
	return mux
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

var signInPage = template.Must(template.New("signin").Parse(strings.TrimSpace(`
<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>开发用登录 · Development sign-in</title><link rel="stylesheet" href="/me/style.css"></head>
<body><main>
<p class="devbanner" role="alert">仅供开发 · DEVELOPMENT ONLY — 这不是真实的身份提供方；任何人都可以作为以下样例居民登录。
This is not a real identity provider: anyone can sign in as these sample residents.</p>
<h1>选择样例居民 · Choose a sample resident</h1>
<form method="post" action="{{.Action}}">
<fieldset><legend>样例居民 · Sample residents</legend>
{{range $i, $r := .Residents}}<div class="choice"><input type="radio" name="resident" id="r{{$i}}" value="{{$r.ID}}"{{if eq $i 0}} checked{{end}}><label for="r{{$i}}">{{$r.Name}}</label></div>
{{end}}</fieldset>
<button type="submit" id="signin">登录 · Sign in</button>
</form></main></body></html>`)))

var handoffPage = template.Must(template.New("handoff").Parse(strings.TrimSpace(`
<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>OneVisit</title></head>
<body><div id="handoff" data-token="{{.Token}}" hidden></div><p>正在登录… Signing in…</p>
<script src="/me/handoff.js"></script></body></html>`)))

// known reports whether id is one of the listed sample residents.
func (p *DevProvider) known(id string) bool {
	for _, res := range p.residents {
		if res.ID == id {
			return true
		}
	}
	return false
}

// token answers POST {prefix}/token (form field resident, a listed sample
// resident's ID) with {"id_token", "expires_in"}: the same ID token the
// sign-in page hands the citizen page, for `onevisit citizen-token` and
// scripts. An unlisted resident is 400 unknown_resident, the ID not
// echoed.
func (p *DevProvider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	id := r.PostFormValue("resident")
	if !p.known(id) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"unknown_resident","message":"resident: not a sample resident of the development provider"}}` + "\n"))
		return
	}
	tok, err := p.IDToken(id)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"code":"internal","message":"could not sign"}}` + "\n"))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"id_token": tok, "token_type": "id_token", "expires_in": int(devTokenLifetime / time.Second)})
}

// String names the provider for banners.
func (p *DevProvider) String() string { return fmt.Sprintf("development OIDC provider %s", p.issuer) }
