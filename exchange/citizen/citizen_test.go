package citizen_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/citizen"
)

const resident = "330106202003080153" // a sample resident (connectors/samples)

// provider is an OpenID Connect provider's JWKS endpoint on loopback,
// serving the public halves of the keys given.
func provider(t *testing.T, keys map[string]any) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func signed(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tk := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResident checks each rule of the package doc with a provider using
// RS256, as a province's provider typically does, and the claim name
// configured as "idcard".
func TestResident(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	jwks := provider(t, map[string]any{"rsa-1": rsaKey.Public(), "ec-1": ecKey.Public(), "ed-1": edKey.Public()})
	const iss, aud = "https://id.zj.example/realms/citizens", "onevisit-me"
	v, err := citizen.NewVerifier(citizen.Config{Issuer: iss, JWKSURL: jwks, Audience: aud, ResidentClaim: "idcard"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": iss, "aud": aud, "idcard": resident, "sub": "u-1", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(nil))
	parts := strings.Split(good, ".")
	for _, c := range []struct {
		name    string
		token   string
		wantErr error
	}{
		{"valid", good, nil},
		{"aud as a list holding ours", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", aud} })), nil},
		{"empty", "", citizen.ErrUnauthenticated},
		{"not a JWS", "abc", citizen.ErrUnauthenticated},
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), citizen.ErrUnauthenticated},
		{"ES256 with a key the JWKS lists, but not the configured alg", signed(t, jwt.SigningMethodES256, ecKey, "ec-1", claims(nil)), citizen.ErrUnauthenticated},
		{"EdDSA with a key the JWKS lists, but not the configured alg", signed(t, jwt.SigningMethodEdDSA, edKey, "ed-1", claims(nil)), citizen.ErrUnauthenticated},
		{"HS256 keyed with the public key's bytes", signed(t, jwt.SigningMethodHS256, rsaKey.N.Bytes(), "rsa-1", claims(nil)), citizen.ErrUnauthenticated},
		{"signed by another key under the provider's kid", signed(t, jwt.SigningMethodRS256, otherRSA, "rsa-1", claims(nil)), citizen.ErrUnauthenticated},
		{"unknown kid", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-9", claims(nil)), citizen.ErrUnauthenticated},
		{"no kid", signed(t, jwt.SigningMethodRS256, rsaKey, "", claims(nil)), citizen.ErrUnauthenticated},
		{"payload swapped for another resident", parts[0] + "." + jwtPart(t, claims(func(c jwt.MapClaims) { c["idcard"] = "330106198503120415" })) + "." + parts[2], citizen.ErrUnauthenticated},
		{"another issuer", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), citizen.ErrUnauthenticated},
		{"another audience", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["aud"] = "another-app" })), citizen.ErrUnauthenticated},
		{"expired", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), citizen.ErrUnauthenticated},
		{"no exp", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "exp") })), citizen.ErrUnauthenticated},
		{"no iat", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "iat") })), citizen.ErrUnauthenticated},
		{"iat in the future", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })), citizen.ErrUnauthenticated},
		{"no resident claim", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "idcard") })), citizen.ErrUnauthenticated},
		{"resident claim under the default name only", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "idcard"); c["resident_id"] = resident })), citizen.ErrUnauthenticated},
		{"resident ID with a wrong check character", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["idcard"] = "330106202003080154" })), citizen.ErrUnauthenticated},
		{"resident claim not a string", signed(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["idcard"] = 330106202003080153 })), citizen.ErrUnauthenticated},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Resident(context.Background(), c.token)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if c.wantErr == nil && got != resident {
				t.Errorf("resident %q, want %q", got, resident)
			}
			if err != nil && (strings.Contains(err.Error(), resident) || (c.token != "" && strings.Contains(err.Error(), c.token))) {
				t.Errorf("the error quotes the token or the ID number: %v", err)
			}
		})
	}
}

func jwtPart(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	s := signed(t, jwt.SigningMethodHS256, []byte("x"), "", c)
	return strings.Split(s, ".")[1]
}

// TestConfigValidate names the field at fault.
func TestConfigValidate(t *testing.T) {
	ok := citizen.Config{Issuer: "https://id.example", JWKSURL: "https://id.example/jwks", Audience: "me"}
	for _, c := range []struct {
		name  string
		edit  func(*citizen.Config)
		field string
	}{
		{"valid", func(*citizen.Config) {}, ""},
		{"no issuer", func(c *citizen.Config) { c.Issuer = "" }, "citizen.issuer"},
		{"no jwks_url", func(c *citizen.Config) { c.JWKSURL = "" }, "citizen.jwks_url"},
		{"no audience", func(c *citizen.Config) { c.Audience = "" }, "citizen.audience"},
		{"alg HS256", func(c *citizen.Config) { c.Alg = "HS256" }, "citizen.alg"},
		{"alg none", func(c *citizen.Config) { c.Alg = "none" }, "citizen.alg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			err := cfg.WithDefaults().Validate()
			if (err == nil) != (c.field == "") || (err != nil && !strings.HasPrefix(err.Error(), c.field+":")) {
				t.Errorf("error %v, want one naming %q", err, c.field)
			}
		})
	}
}

// TestDevProvider: its tokens verify with the config it gives, for the
// resident named; its sign-in page is marked as for development only.
func TestDevProvider(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p, err := citizen.NewDevProvider(srv.URL+"/dev/oidc", []citizen.Resident{{ID: resident, Name: "陈子涵"}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/dev/", p.Handler("/dev/oidc"))
	v, err := citizen.NewVerifier(p.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.IDToken(resident)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Resident(context.Background(), tok); err != nil || got != resident {
		t.Fatalf("Resident = %q, %v", got, err)
	}
	for _, id := range []string{"", "123", "330106202003080154"} {
		if tok, err := p.IDToken(id); err == nil {
			t.Errorf("IDToken(%q) = %q, want an error: not a resident ID number", id, tok)
		}
	}
	resp, err := http.Get(srv.URL + "/dev/oidc/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	if !strings.Contains(b.String(), "DEVELOPMENT ONLY") || !strings.Contains(b.String(), "陈子涵") {
		t.Errorf("sign-in page lacks the development marking or the resident:\n%s", b.String())
	}
	resp2, err := http.PostForm(srv.URL+"/dev/oidc/signin", map[string][]string{"resident": {"330106198503120415"}})
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusBadRequest {
		t.Errorf("sign-in as a resident not listed: %d, want 400", resp2.StatusCode)
	}
}

// TestJWKSProviderDown: while the provider's JWKS endpoint fails, tokens
// under a key already held go on verifying once the keys are stale, and
// the endpoint is tried at most every 30 s, failed tries included (not
// once a token); a request that goes away does not cut a try short.
func TestJWKSProviderDown(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "rsa-1", Use: "sig"}}}
	var mu sync.Mutex
	down, fetches := false, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	count := func() int { mu.Lock(); defer mu.Unlock(); return fetches }
	const iss, aud = "https://id.zj.example", "onevisit-me"
	v, err := citizen.NewVerifier(citizen.Config{Issuer: iss, JWKSURL: srv.URL, Audience: aud}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	citizen.SetNow(v, func() time.Time { return clock })
	tok := signed(t, jwt.SigningMethodRS256, key, "rsa-1", jwt.MapClaims{"iss": iss, "aud": aud, "resident_id": resident, "iat": clock.Unix(), "exp": clock.Add(time.Hour).Unix()})
	verify := func(ctx context.Context) {
		t.Helper()
		if id, err := v.Resident(ctx, tok); err != nil || id != resident {
			t.Fatalf("Resident: %q, %v", id, err)
		}
	}

	verify(context.Background())
	if n := count(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	mu.Lock()
	down = true
	mu.Unlock()
	clock = clock.Add(6 * time.Minute) // the keys are stale
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	verify(gone)
	for range 5 {
		verify(context.Background())
	}
	if n := count(); n != 2 {
		t.Errorf("%d fetches, want 2: one failed try for six tokens while the provider is down", n)
	}
	clock = clock.Add(31 * time.Second)
	verify(context.Background())
	verify(context.Background())
	if n := count(); n != 3 {
		t.Errorf("%d fetches, want 3: one more try 31 s later", n)
	}
}
