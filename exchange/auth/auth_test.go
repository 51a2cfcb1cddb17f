package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
)

const (
	tokenURL = "https://onevisit.example/oauth/token"
	audience = "onevisit-api"
	school   = "school-enrol"
	tax      = "tax-bureau"
)

func seedKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b
	}
	return ed25519.NewKeyFromSeed(seed)
}

var (
	schoolAuth    = seedKey(1) // school-auth#1
	taxAuth       = seedKey(2) // tax-auth#1
	taxRecord     = seedKey(3) // tax-record#1
	exchangeToken = seedKey(4) // exchange-token#1
	rogueToken    = seedKey(5) // rogue-token#1: a token-use key not owned by the exchange
	strangerAuth  = seedKey(6) // stranger-auth#1: a key of an unregistered client
)

// clientTable is a real, map-backed Clients.
type clientTable struct {
	mu    sync.Mutex
	roles map[string]string
}

func (c *clientTable) Role(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.roles[id]
	return r, ok
}

func (c *clientTable) set(id, role string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if role == "" {
		delete(c.roles, id)
	} else {
		c.roles[id] = role
	}
}

type fixture struct {
	dir     *keys.Directory
	clients *clientTable
	issuer  *Issuer
	now     time.Time
}

func newFixture(tb testing.TB, now func() time.Time) *fixture {
	tb.Helper()
	f := &fixture{dir: keys.NewDirectory(), clients: &clientTable{roles: map[string]string{school: "requester", tax: "publisher"}}}
	for _, k := range []keys.PublicKey{
		{KID: "school-auth#1", Owner: school, Use: keys.UseAuth, Key: pub(schoolAuth), Status: keys.Active},
		{KID: "tax-auth#1", Owner: tax, Use: keys.UseAuth, Key: pub(taxAuth), Status: keys.Active},
		{KID: "tax-record#1", Owner: tax, Use: keys.UseRecord, Key: pub(taxRecord), Status: keys.Active},
		{KID: "exchange-token#1", Owner: keys.OwnerExchange, Use: keys.UseToken, Key: pub(exchangeToken), Status: keys.Active},
		{KID: "rogue-token#1", Owner: tax, Use: keys.UseToken, Key: pub(rogueToken), Status: keys.Active},
		{KID: "stranger-auth#1", Owner: "stranger", Use: keys.UseAuth, Key: pub(strangerAuth), Status: keys.Active},
	} {
		if err := f.dir.Add(k); err != nil {
			tb.Fatal(err)
		}
	}
	var err error
	f.issuer, err = NewIssuer(IssuerConfig{
		Issuer: "onevisit", TokenURL: tokenURL, Audience: audience,
		Signer: keys.NewLocalSigner("exchange-token#1", exchangeToken), Keys: f.dir, Clients: f.clients, Now: now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func form(assertion string) url.Values {
	return url.Values{
		"grant_type":            {GrantClientCredentials},
		"client_assertion_type": {AssertionTypeJWTBearer},
		"client_assertion":      {assertion},
	}
}

var b64 = base64.RawURLEncoding

// craft signs raw header and payload JSON with sign.
func craft(header, payload string, sign func([]byte) []byte) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return in + "." + b64.EncodeToString(sign([]byte(in)))
}

func ed(k ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(k, in) }
}

func hdr(alg, kid, typ string) string {
	return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + typ + `"}`
}

// claimsJSON renders claims with numbers for dates, in a fixed order.
func claimsJSON(m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var t0 = time.Unix(1_750_000_000, 0)

func assertionClaimsAt(now time.Time, jti string) map[string]any {
	return map[string]any{"iss": school, "sub": school, "aud": tokenURL, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": jti}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestTokenAndVerify(t *testing.T) {
	f := newFixture(t, func() time.Time { return t0 })
	ctx := context.Background()
	a, err := NewAssertion(ctx, keys.NewLocalSigner("school-auth#1", schoolAuth), school, tokenURL, t0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.issuer.Token(ctx, form(a))
	if err != nil {
		t.Fatal(err)
	}
	if resp.TokenType != "Bearer" || resp.ExpiresIn != 300 || resp.Scope != "" {
		t.Fatalf("response = %+v", resp)
	}
	body, _ := json.Marshal(resp)
	if want := `{"access_token":"` + resp.AccessToken + `","token_type":"Bearer","expires_in":300}`; string(body) != want {
		t.Fatalf("JSON = %s", body)
	}
	p, err := f.issuer.Verify(resp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientID != school || p.Role != "requester" || p.TokenID == "" || !p.Expires.Equal(t0.Add(DefaultTTL)) {
		t.Fatalf("principal = %+v", p)
	}
	// The token is an RFC 9068 JWT with exactly these claims.
	h, err := keys.DecodeHeader(resp.AccessToken)
	if err != nil || h != (keys.Header{Alg: "EdDSA", Kid: "exchange-token#1", Typ: "at+jwt"}) {
		t.Fatalf("header %+v %v", h, err)
	}
	var claims map[string]any
	payload, _ := b64.DecodeString(strings.Split(resp.AccessToken, ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"iss": "onevisit", "sub": school, "aud": []any{audience}, "exp": float64(t0.Add(DefaultTTL).Unix()),
		"iat": float64(t0.Unix()), "jti": p.TokenID, "client_id": school, "role": "requester"}
	if claimsJSON(claims) != claimsJSON(want) {
		t.Fatalf("claims = %v\nwant %v", claims, want)
	}
	// Cached: a second Verify returns the same principal from the cache.
	if len(f.issuer.tokens) != 1 {
		t.Fatalf("cache holds %d tokens", len(f.issuer.tokens))
	}
	if p2, err := f.issuer.Verify(resp.AccessToken); err != nil || p2 != p {
		t.Fatalf("cached Verify = %+v, %v", p2, err)
	}
}

func TestTokenErrors(t *testing.T) {
	ctx := context.Background()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	schoolPub := []byte(pub(schoolAuth))
	base := assertionClaimsAt(t0, "jti-base")
	good := craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(base), ed(schoolAuth))
	f0 := newFixture(t, func() time.Time { return t0 })
	tokResp, err := f0.issuer.Token(ctx, form(good))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		form    url.Values
		wantErr []error
	}{
		{"no grant_type", url.Values{"client_assertion": {good}}, []error{ErrInvalidRequest}},
		{"password grant", with2(form(good), "grant_type", "password"), []error{ErrUnsupportedGrant}},
		{"grant_type twice", url.Values{"grant_type": {GrantClientCredentials, GrantClientCredentials}, "client_assertion_type": {AssertionTypeJWTBearer}, "client_assertion": {good}}, []error{ErrInvalidRequest}},
		{"saml assertion type", with2(form(good), "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), []error{ErrInvalidRequest}},
		{"no assertion", with2(form(good), "client_assertion", ""), []error{ErrInvalidRequest}},
		{"client_id of another client", with2(form(good), "client_id", tax), []error{ErrInvalidClient}},
		{"alg none", form(craft(hdr("none", "school-auth#1", "JWT"), claimsJSON(base), func([]byte) []byte { return nil })), []error{ErrInvalidClient, keys.ErrAlgorithm}},
		{"HS256 with the public key bytes", form(craft(hdr("HS256", "school-auth#1", "JWT"), claimsJSON(base), func(in []byte) []byte {
			m := hmac.New(sha256.New, schoolPub)
			m.Write(in)
			return m.Sum(nil)
		})), []error{ErrInvalidClient, keys.ErrAlgorithm}},
		{"RS256", form(craft(hdr("RS256", "school-auth#1", "JWT"), claimsJSON(base), func(in []byte) []byte {
			h := sha256.Sum256(in)
			s, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, h[:])
			return s
		})), []error{ErrInvalidClient, keys.ErrAlgorithm}},
		{"expired", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "iat", t0.Add(-2*time.Minute).Unix(), "exp", t0.Add(-time.Minute).Unix())), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenExpired}},
		{"nbf in the future", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "nbf", t0.Add(time.Minute).Unix())), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenNotValidYet}},
		{"iat in the future", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "iat", t0.Add(time.Minute).Unix())), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenUsedBeforeIssued}},
		{"iat long ago", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "iat", t0.Add(-time.Hour).Unix())), ed(schoolAuth))), []error{ErrInvalidClient}},
		{"missing exp", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "exp", nil)), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenRequiredClaimMissing}},
		{"exp an hour ahead", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "exp", t0.Add(time.Hour).Unix())), ed(schoolAuth))), []error{ErrInvalidClient}},
		{"exp a string", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "exp", strconv.FormatInt(t0.Add(time.Minute).Unix(), 10))), ed(schoolAuth))), []error{ErrInvalidClient, keys.ErrMalformedJWT}},
		{"wrong aud", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "aud", "https://other.example/token")), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenInvalidAudience}},
		{"aud array without ours", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "aud", []string{"a", "b"})), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenInvalidAudience}},
		{"empty aud array", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "aud", []string{})), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenRequiredClaimMissing}},
		{"aud array with a number", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "aud", []any{tokenURL, 1})), ed(schoolAuth))), []error{ErrInvalidClient, keys.ErrMalformedJWT}},
		{"no aud", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "aud", nil)), ed(schoolAuth))), []error{ErrInvalidClient, jwt.ErrTokenRequiredClaimMissing}},
		{"wrong iss", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "iss", tax, "sub", tax)), ed(schoolAuth))), []error{ErrInvalidClient}},
		{"iss differs from sub", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "sub", tax)), ed(schoolAuth))), []error{ErrInvalidClient}},
		{"case-variant iss", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), strings.Replace(claimsJSON(base), `"iss"`, `"ISS"`, 1), ed(schoolAuth))), []error{ErrInvalidClient}},
		{"unknown kid", form(craft(hdr("EdDSA", "school-auth#9", "JWT"), claimsJSON(base), ed(schoolAuth))), []error{ErrInvalidClient, keys.ErrUnknownKey}},
		{"another client's kid", form(craft(hdr("EdDSA", "tax-auth#1", "JWT"), claimsJSON(base), ed(taxAuth))), []error{ErrInvalidClient}},
		{"record key as auth key", form(craft(hdr("EdDSA", "tax-record#1", "JWT"), claimsJSON(with(base, "iss", tax, "sub", tax)), ed(taxRecord))), []error{ErrInvalidClient, keys.ErrWrongUse}},
		{"bad signature", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(base), ed(taxAuth))), []error{ErrInvalidClient, keys.ErrBadSignature}},
		{"missing jti", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "jti", nil)), ed(schoolAuth))), []error{ErrInvalidClient}},
		{"no typ", form(craft(`{"alg":"EdDSA","kid":"school-auth#1"}`, claimsJSON(base), ed(schoolAuth))), []error{ErrInvalidClient, keys.ErrBadType}},
		{"access token as assertion", form(tokResp.AccessToken), []error{ErrInvalidClient, keys.ErrBadType}},
		{"access-token typ signed by the client", form(craft(hdr("EdDSA", "school-auth#1", "at+jwt"), claimsJSON(base), ed(schoolAuth))), []error{ErrInvalidClient, keys.ErrBadType}},
		{"unregistered client", form(craft(hdr("EdDSA", "stranger-auth#1", "JWT"), claimsJSON(with(base, "iss", "stranger", "sub", "stranger")), ed(strangerAuth))), []error{ErrInvalidClient}},
		{"assertion over 8 KiB", form(craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(base, "pad", strings.Repeat("x", MaxTokenSize))), ed(schoolAuth))), []error{ErrInvalidClient}},
		{"garbage", form("not.a.jwt"), []error{ErrInvalidClient, keys.ErrMalformedJWT}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func() time.Time { return t0 })
			resp, err := f.issuer.Token(ctx, tt.form)
			if resp != (TokenResponse{}) {
				t.Errorf("response with error: %+v", resp)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

func with2(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for kk, vv := range v {
		out[kk] = vv
	}
	out[k] = []string{val}
	return out
}

func TestTokenAccepts(t *testing.T) {
	tests := []struct {
		name   string
		claims map[string]any
	}{
		{"aud array containing ours", with(assertionClaimsAt(t0, "j"), "aud", []string{"https://other", tokenURL})},
		{"no iat", with(assertionClaimsAt(t0, "j"), "iat", nil)},
		{"extra claims ignored", with(assertionClaimsAt(t0, "j"), "custom", "x")},
		{"exp 5 minutes ahead", with(assertionClaimsAt(t0, "j"), "exp", t0.Add(5*time.Minute).Unix())},
		{"expired within leeway", with(assertionClaimsAt(t0, "j"), "exp", t0.Add(-3*time.Second).Unix())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func() time.Time { return t0 })
			a := craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(tt.claims), ed(schoolAuth))
			if _, err := f.issuer.Token(context.Background(), form(a)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	now := t0
	f := newFixture(t, func() time.Time { return now })
	ctx := context.Background()
	a := craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(assertionClaimsAt(t0, "once")), ed(schoolAuth))
	if _, err := f.issuer.Token(ctx, form(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.issuer.Token(ctx, form(a)); !errors.Is(err, ErrInvalidClient) || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replay = %v, want ErrInvalidClient (replayed)", err)
	}
	// The same jti from another client is another assertion.
	b := craft(hdr("EdDSA", "tax-auth#1", "JWT"), claimsJSON(with(assertionClaimsAt(t0, "once"), "iss", tax, "sub", tax)), ed(taxAuth))
	if _, err := f.issuer.Token(ctx, form(b)); err != nil {
		t.Fatalf("same jti, other client: %v", err)
	}
	// Bounded per client: with room for one live entry each, school's
	// second live jti is refused (429, slow_down) and so is its next, but
	// tax, whose share is its own, still gets a token.
	f.issuer.cfg.ReplayCacheSize = 1
	c := craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(assertionClaimsAt(t0, "third")), ed(schoolAuth))
	if _, err := f.issuer.Token(ctx, form(c)); !errors.Is(err, ErrTooManyAssertions) || OAuthError(err) != "slow_down" {
		t.Fatalf("full share = %v (%s), want ErrTooManyAssertions (slow_down)", err, OAuthError(err))
	}
	if client, ok := Authenticated(func() error { _, err := f.issuer.Token(ctx, form(c)); return err }()); !ok || client != school {
		t.Fatalf("refusal attributed to %q (%v), want %q", client, ok, school)
	}
	f.issuer.cfg.ReplayCacheSize = 2
	e := craft(hdr("EdDSA", "tax-auth#1", "JWT"), claimsJSON(with(assertionClaimsAt(t0, "other"), "iss", tax, "sub", tax)), ed(taxAuth))
	if _, err := f.issuer.Token(ctx, form(e)); err != nil {
		t.Fatalf("another client while school's share is full: %v", err)
	}
	// Once the remembered assertions expire they are swept.
	now = t0.Add(2 * time.Minute)
	d := craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(assertionClaimsAt(now, "fourth")), ed(schoolAuth))
	if _, err := f.issuer.Token(ctx, form(d)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := len(f.issuer.replay); n != 1 || len(f.issuer.replay[school]) != 1 {
		t.Fatalf("replay cache holds %d clients (%d of school's jtis), want 1 client with 1", n, len(f.issuer.replay[school]))
	}
}

func TestAuthenticatedRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func() time.Time { return t0 })
	tests := []struct {
		name       string
		assertion  string
		wantClient string
		wantErr    error
	}{
		{"bad signature is unauthenticated", craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(assertionClaimsAt(t0, "a")), ed(taxAuth)), "", ErrInvalidClient},
		{"verified signature, iss of another client", craft(hdr("EdDSA", "school-auth#1", "JWT"), claimsJSON(with(assertionClaimsAt(t0, "b"), "iss", tax, "sub", tax)), ed(schoolAuth)), school, ErrInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.Token(ctx, form(tt.assertion))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			client, ok := Authenticated(err)
			if client != tt.wantClient || ok != (tt.wantClient != "") {
				t.Fatalf("Authenticated = %q, %v; want %q", client, ok, tt.wantClient)
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func() time.Time { return t0 })
	assertion, err := NewAssertion(ctx, keys.NewLocalSigner("school-auth#1", schoolAuth), school, tokenURL, t0)
	if err != nil {
		t.Fatal(err)
	}
	at := func(m map[string]any) map[string]any {
		return with(map[string]any{"iss": "onevisit", "sub": school, "client_id": school, "role": "requester", "aud": audience,
			"iat": t0.Unix(), "exp": t0.Add(5 * time.Minute).Unix(), "jti": "t1"}, flat(m)...)
	}
	xh := hdr("EdDSA", "exchange-token#1", "at+jwt")
	good := craft(xh, claimsJSON(at(nil)), ed(exchangeToken))
	if _, err := f.issuer.Verify(good); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}
	tests := []struct {
		name    string
		token   string
		wantErr []error
	}{
		{"assertion as access token", assertion, []error{ErrInvalidToken, keys.ErrBadType}},
		{"alg none", craft(hdr("none", "exchange-token#1", "at+jwt"), claimsJSON(at(nil)), func([]byte) []byte { return nil }), []error{ErrInvalidToken, keys.ErrAlgorithm}},
		{"HS256 with the public key bytes", craft(hdr("HS256", "exchange-token#1", "at+jwt"), claimsJSON(at(nil)), func(in []byte) []byte {
			m := hmac.New(sha256.New, []byte(pub(exchangeToken)))
			m.Write(in)
			return m.Sum(nil)
		}), []error{ErrInvalidToken, keys.ErrAlgorithm}},
		{"expired", craft(xh, claimsJSON(at(map[string]any{"iat": t0.Add(-10 * time.Minute).Unix(), "exp": t0.Add(-time.Minute).Unix()})), ed(exchangeToken)), []error{ErrInvalidToken, jwt.ErrTokenExpired}},
		{"expired and forged", craft(xh, claimsJSON(at(map[string]any{"iat": t0.Add(-10 * time.Minute).Unix(), "exp": t0.Add(-time.Minute).Unix()})), ed(taxAuth)), []error{ErrInvalidToken, keys.ErrBadSignature}},
		{"missing exp", craft(xh, claimsJSON(at(map[string]any{"exp": nil})), ed(exchangeToken)), []error{ErrInvalidToken, jwt.ErrTokenRequiredClaimMissing}},
		{"wrong aud", craft(xh, claimsJSON(at(map[string]any{"aud": "other-api"})), ed(exchangeToken)), []error{ErrInvalidToken, jwt.ErrTokenInvalidAudience}},
		{"wrong iss", craft(xh, claimsJSON(at(map[string]any{"iss": "elsewhere"})), ed(exchangeToken)), []error{ErrInvalidToken, jwt.ErrTokenInvalidIssuer}},
		{"token key not owned by the exchange", craft(hdr("EdDSA", "rogue-token#1", "at+jwt"), claimsJSON(at(nil)), ed(rogueToken)), []error{ErrInvalidToken}},
		{"auth key as token key", craft(hdr("EdDSA", "school-auth#1", "at+jwt"), claimsJSON(at(nil)), ed(schoolAuth)), []error{ErrInvalidToken, keys.ErrWrongUse}},
		{"lifetime over 15 minutes", craft(xh, claimsJSON(at(map[string]any{"exp": t0.Add(time.Hour).Unix()})), ed(exchangeToken)), []error{ErrInvalidToken}},
		{"client_id differs from sub", craft(xh, claimsJSON(at(map[string]any{"client_id": tax})), ed(exchangeToken)), []error{ErrInvalidToken}},
		{"unknown claim", craft(xh, claimsJSON(at(map[string]any{"scope": "admin"})), ed(exchangeToken)), []error{ErrInvalidToken, keys.ErrMalformedJWT}},
		{"role not the client's", craft(xh, claimsJSON(at(map[string]any{"role": "officer"})), ed(exchangeToken)), []error{ErrInvalidToken}},
		{"over 8 KiB", good + strings.Repeat("A", MaxTokenSize), []error{ErrInvalidToken}},
		{"garbage", "a.b.c", []error{ErrInvalidToken, keys.ErrMalformedJWT}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.issuer.Verify(tt.token)
			if p != (Principal{}) {
				t.Errorf("principal with error: %+v", p)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			if OAuthError(err) != "invalid_token" {
				t.Errorf("OAuthError = %q", OAuthError(err))
			}
		})
	}
}

func flat(m map[string]any) []any {
	var kv []any
	for k, v := range m {
		kv = append(kv, k, v)
	}
	return kv
}

// TestCacheRechecks: a cached token stops working at once when its key is
// revoked or its client is removed or changes role.
func TestCacheRechecks(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(f *fixture)
	}{
		{"token key revoked", func(f *fixture) {
			if err := f.dir.SetStatus("exchange-token#1", keys.Revoked, t0); err != nil {
				t.Fatal(err)
			}
		}},
		{"client removed", func(f *fixture) { f.clients.set(school, "") }},
		{"client role changed", func(f *fixture) { f.clients.set(school, "officer") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func() time.Time { return t0 })
			a, _ := NewAssertion(ctx, keys.NewLocalSigner("school-auth#1", schoolAuth), school, tokenURL, t0)
			resp, err := f.issuer.Token(ctx, form(a))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.issuer.Verify(resp.AccessToken); err != nil {
				t.Fatal(err)
			}
			tt.change(f)
			if _, err := f.issuer.Verify(resp.AccessToken); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("after change: %v, want ErrInvalidToken", err)
			}
			if len(f.issuer.tokens) != 0 {
				t.Fatal("rejected token left in the cache")
			}
		})
	}
}

// TestExpiryInBubble runs on synctest's fake clock: a cached token dies at
// its exp plus the leeway, with no sleeping in real time.
func TestExpiryInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil) // Now = time.Now, the bubble's clock
		ctx := context.Background()
		a, err := NewAssertion(ctx, keys.NewLocalSigner("school-auth#1", schoolAuth), school, tokenURL, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.issuer.Token(ctx, form(a))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.issuer.Verify(resp.AccessToken); err != nil {
			t.Fatal(err)
		}
		time.Sleep(DefaultTTL - time.Second)
		if _, err := f.issuer.Verify(resp.AccessToken); err != nil {
			t.Fatalf("1 s before exp: %v", err)
		}
		time.Sleep(time.Second + Leeway + time.Second)
		if _, err := f.issuer.Verify(resp.AccessToken); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired) {
			t.Fatalf("after exp: %v, want expired", err)
		}
		if len(f.issuer.tokens) != 0 {
			t.Fatal("expired token left in the cache")
		}
		// The assertion expired too: replaying it now fails on exp.
		if _, err := f.issuer.Token(ctx, form(a)); !errors.Is(err, jwt.ErrTokenExpired) {
			t.Fatalf("old assertion: %v", err)
		}
	})
}

func TestOAuthError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrInvalidRequest, "invalid_request"},
		{ErrUnsupportedGrant, "unsupported_grant_type"},
		{ErrInvalidClient, "invalid_client"},
		{ErrInvalidToken, "invalid_token"},
		{keys.ErrUnavailable, "server_error"},
	}
	for _, tt := range tests {
		if got := OAuthError(tt.err); got != tt.want {
			t.Errorf("OAuthError(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestIssuerConfig(t *testing.T) {
	ok := IssuerConfig{Issuer: "onevisit", TokenURL: tokenURL, Audience: audience,
		Signer: keys.NewLocalSigner("exchange-token#1", exchangeToken), Keys: keys.NewDirectory(), Clients: &clientTable{}}
	tests := []struct {
		name  string
		edit  func(c *IssuerConfig)
		field string
	}{
		{"no issuer", func(c *IssuerConfig) { c.Issuer = "" }, "Issuer"},
		{"no token URL", func(c *IssuerConfig) { c.TokenURL = "" }, "TokenURL"},
		{"no audience", func(c *IssuerConfig) { c.Audience = "" }, "Audience"},
		{"TTL too long", func(c *IssuerConfig) { c.TTL = time.Hour }, "TTL"},
		{"no signer", func(c *IssuerConfig) { c.Signer = nil }, "Signer"},
		{"no keys", func(c *IssuerConfig) { c.Keys = nil }, "Keys"},
		{"no clients", func(c *IssuerConfig) { c.Clients = nil }, "Clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			if _, err := NewIssuer(c); err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want it to name %s", err, tt.field)
			}
		})
	}
	is, err := NewIssuer(ok)
	if err != nil || is.cfg.TTL != DefaultTTL {
		t.Fatalf("defaults: %v, TTL %v", err, is.cfg.TTL)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	f := newFixture(b, func() time.Time { return t0 })
	a, _ := NewAssertion(context.Background(), keys.NewLocalSigner("school-auth#1", schoolAuth), school, tokenURL, t0)
	resp, err := f.issuer.Token(context.Background(), form(a))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.issuer.Verify(resp.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}
