package citizen

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/schemas"
)

// ErrUnauthenticated: the ID token is missing, malformed, badly signed,
// expired, for another issuer or audience, or names no valid resident.
// The caller answers 401 and the resident signs in again.
var ErrUnauthenticated = errors.New("citizen sign-in refused")

// ErrNotConfigured: this node has no citizen sign-in (no issuer and JWKS
// URL in its config). The caller answers 404.
var ErrNotConfigured = errors.New("citizen sign-in not configured")

// Defaults.
const (
	DefaultAlg           = "RS256"
	DefaultResidentClaim = "resident_id"
	jwksLimit            = 64 << 10
	jwksTTL              = 5 * time.Minute
	jwksMinRefetch       = 30 * time.Second
	leeway               = 30 * time.Second
)

// Config says which provider's ID tokens a node accepts (the config keys
// citizen.* in deploy/README.md).
type Config struct {
	Issuer   string `yaml:"issuer"`
	JWKSURL  string `yaml:"jwks_url"`
	Audience string `yaml:"audience"`
	// ResidentClaim names the claim holding the resident ID number.
	ResidentClaim string `yaml:"resident_claim"`
	// Alg is the one signature algorithm accepted (RS256, ES256, EdDSA).
	Alg string `yaml:"alg"`
	// SignInURL is where the citizen page sends a resident to sign in
	// (the provider's page, or the citizen app's); optional.
	SignInURL string `yaml:"signin_url"`
}

// Enabled reports whether citizen sign-in is configured at all.
func (c Config) Enabled() bool { return c.Issuer != "" || c.JWKSURL != "" }

// WithDefaults fills the defaults in.
func (c Config) WithDefaults() Config {
	if c.Alg == "" {
		c.Alg = DefaultAlg
	}
	if c.ResidentClaim == "" {
		c.ResidentClaim = DefaultResidentClaim
	}
	return c
}

// Validate names the field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Issuer == "":
		return errors.New("citizen.issuer: required")
	case c.JWKSURL == "":
		return errors.New("citizen.jwks_url: required")
	case c.Audience == "":
		return errors.New("citizen.audience: required")
	}
	switch c.Alg {
	case "RS256", "ES256", "EdDSA":
	default:
		return fmt.Errorf("citizen.alg: %q, want RS256, ES256 or EdDSA", c.Alg)
	}
	return nil
}

// Verifier checks residents' ID tokens. It is safe for concurrent use.
type Verifier struct {
	c    Config
	http *http.Client
	now  func() time.Time

	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time // of keys
	tried   time.Time // the last fetch, failed or not
}

// NewVerifier builds a verifier; it does no I/O. hc may be nil.
func NewVerifier(c Config, hc *http.Client) (*Verifier, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Verifier{c: c, http: hc, now: time.Now}, nil
}

// SignInURL is the configured sign-in page, "" when none.
func (v *Verifier) SignInURL() string { return v.c.SignInURL }

// Resident verifies an ID token (see the package doc) and returns the
// resident ID number it names.
func (v *Verifier) Resident(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("no ID token: %w", ErrUnauthenticated)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid in the header")
		}
		return v.key(ctx, kid)
	},
		jwt.WithValidMethods([]string{v.c.Alg}), jwt.WithIssuer(v.c.Issuer), jwt.WithAudience(v.c.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(leeway), jwt.WithTimeFunc(v.now))
	if err != nil {
		return "", fmt.Errorf("ID token: %v: %w", err, ErrUnauthenticated)
	}
	if _, ok := claims["iat"]; !ok {
		return "", fmt.Errorf("ID token: no iat: %w", ErrUnauthenticated)
	}
	id, _ := claims[v.c.ResidentClaim].(string)
	if id == "" {
		return "", fmt.Errorf("ID token: no %s claim: %w", v.c.ResidentClaim, ErrUnauthenticated)
	}
	if err := schemas.ValidResidentID(id); err != nil {
		return "", fmt.Errorf("ID token: %s claim is not a valid resident ID: %w", v.c.ResidentClaim, ErrUnauthenticated)
	}
	return id, nil
}

// key returns the provider's key kid, fetching the JWKS when it is old
// or lacks kid. It tries at most every jwksMinRefetch, failed tries
// included: while the provider is down, the keys held go on verifying
// without every request waiting on another try. A try is not cut short
// when the request that made it goes away (the HTTP client's timeout
// bounds it), so a caller cannot make it fail for everyone.
func (v *Verifier) key(ctx context.Context, kid string) (any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	k, ok := v.keys[kid]
	if ok && now.Sub(v.fetched) <= jwksTTL {
		return k, nil
	}
	if v.tried.IsZero() || now.Sub(v.tried) > jwksMinRefetch {
		v.tried = now
		keys, err := v.fetch(context.WithoutCancel(ctx))
		switch {
		case err == nil:
			v.keys, v.fetched = keys, now
			k, ok = keys[kid]
		case !ok:
			return nil, err
		}
	}
	if !ok {
		return nil, fmt.Errorf("kid %q not in the provider's JWKS", kid)
	}
	return k, nil
}

func (v *Verifier) fetch(ctx context.Context) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.c.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, jwksLimit+1))
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	if len(b) > jwksLimit {
		return nil, fmt.Errorf("JWKS: over %d bytes", jwksLimit)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	out := map[string]any{}
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != v.c.Alg {
			continue
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			if v.c.Alg == "RS256" && pk.N.BitLen() >= 2048 {
				out[k.KeyID] = pk
			}
		case *ecdsa.PublicKey:
			if v.c.Alg == "ES256" {
				out[k.KeyID] = pk
			}
		case ed25519.PublicKey:
			if v.c.Alg == "EdDSA" {
				out[k.KeyID] = pk
			}
		}
	}
	return out, nil
}
