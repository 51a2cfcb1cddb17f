package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

const (
	// GrantClientCredentials is the only grant_type the token endpoint serves.
	GrantClientCredentials = "client_credentials"
	// AssertionTypeJWTBearer is the client_assertion_type of RFC 7523.
	AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// AssertionJWTType is the typ header of client assertions.
	AssertionJWTType = "JWT"
	// AccessTokenJWTType is the typ header of access tokens (RFC 9068).
	AccessTokenJWTType = "at+jwt"
	// MaxTokenSize bounds assertions and access tokens; longer ones are
	// refused before any parsing.
	MaxTokenSize = 8 << 10
	// AssertionLifetime is how long NewAssertion's assertions live.
	AssertionLifetime = 60 * time.Second
	// MaxAssertionLifetime bounds how far ahead an assertion's exp may be.
	MaxAssertionLifetime = 5 * time.Minute
	// DefaultTTL and MaxTTL bound access token lifetimes.
	DefaultTTL = 5 * time.Minute
	MaxTTL     = 15 * time.Minute
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway = 5 * time.Second
	// DefaultReplayCacheSize is the default number of live assertion jtis
	// remembered per client (IssuerConfig.ReplayCacheSize).
	DefaultReplayCacheSize = 1 << 10
	// maxJTI bounds the jti length kept in the replay cache.
	maxJTI = 256
)

var (
	// ErrInvalidRequest: a parameter is missing, repeated or unsupported
	// (RFC 6749 "invalid_request", HTTP 400). The client fixes its request.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnsupportedGrant: grant_type is not client_credentials
	// ("unsupported_grant_type", HTTP 400).
	ErrUnsupportedGrant = errors.New("unsupported grant type")
	// ErrInvalidClient: the client assertion is not acceptable (signature,
	// alg, kid, owner, aud, exp, replay, unknown client...)
	// ("invalid_client", HTTP 401). The wrapped reason is for the log only.
	ErrInvalidClient = errors.New("invalid client")
	// ErrInvalidToken: the access token is not acceptable (RFC 6750
	// "invalid_token", HTTP 401). The client gets a new token; the wrapped
	// reason is for the log only.
	ErrInvalidToken = errors.New("invalid access token")
	// ErrTooManyAssertions: the client holds ReplayCacheSize live
	// assertions already (HTTP 429). It waits for them to expire (at
	// most MaxAssertionLifetime) and sends fewer; other clients are not
	// affected.
	ErrTooManyAssertions = errors.New("too many live assertions for this client")
)

// authenticatedError marks an error returned after the caller's signature
// verified: the refusal is then attributable to that client.
type authenticatedError struct {
	client string
	err    error
}

func (e *authenticatedError) Error() string { return e.err.Error() }
func (e *authenticatedError) Unwrap() error { return e.err }

// Authenticated returns the client whose signature verified before Token
// or Verify refused it (a replayed assertion, a revoked or unregistered
// client, a role change), so the refusal can be audited under that
// client. ok is false when nothing verified: the request is
// unauthenticated and any client id it names is only a claim.
func Authenticated(err error) (client string, ok bool) {
	var ae *authenticatedError
	if errors.As(err, &ae) && ae.client != "" {
		return ae.client, true
	}
	return "", false
}

// OAuthError returns the RFC 6749 / RFC 6750 error code for err, the only
// thing the HTTP layer shows the client: "invalid_request",
// "unsupported_grant_type", "invalid_client", "invalid_token", or
// "slow_down" (ErrTooManyAssertions, as RFC 8628 §3.5 names it), or
// "server_error" for anything else (a signer outage). It returns "" for
// nil.
func OAuthError(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, ErrUnsupportedGrant):
		return "unsupported_grant_type"
	case errors.Is(err, ErrInvalidClient):
		return "invalid_client"
	case errors.Is(err, ErrTooManyAssertions):
		return "slow_down"
	case errors.Is(err, ErrInvalidToken):
		return "invalid_token"
	default:
		return "server_error"
	}
}

// NewAssertion makes a client assertion (RFC 7523 §2.2) for the token
// endpoint at tokenURL: iss = sub = clientID, aud = tokenURL, iat = now,
// exp = now + 60 s, a random jti, typ "JWT", signed with s, which must be
// the client's auth key (keys.UseAuth).
func NewAssertion(ctx context.Context, s keys.Signer, clientID, tokenURL string, now time.Time) (string, error) {
	if clientID == "" || tokenURL == "" {
		return "", fmt.Errorf("new assertion: %w: empty client id or token URL", ErrInvalidRequest)
	}
	jti, err := randomID()
	if err != nil {
		return "", fmt.Errorf("new assertion: %w", err)
	}
	c := jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{tokenURL},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(AssertionLifetime)), ID: jti,
	}
	tok, err := keys.SignJWT(ctx, s, AssertionJWTType, &c)
	if err != nil {
		return "", fmt.Errorf("new assertion: %w", err)
	}
	return tok, nil
}

// Clients tells the issuer which clients exist. Role is called on every
// token request and every Verify, so it must be a map read.
type Clients interface {
	Role(clientID string) (role string, ok bool)
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	Issuer   string        // iss of access tokens, e.g. "onevisit"
	TokenURL string        // the aud client assertions must carry
	Audience string        // aud of access tokens, e.g. "onevisit-api"
	TTL      time.Duration // access token lifetime; 0 means DefaultTTL; at most MaxTTL
	Signer   keys.Signer   // the exchange's token key (keys.UseToken, owner "exchange")
	Keys     keys.Resolver // client auth keys and the exchange token keys
	Clients  Clients
	Now      func() time.Time // nil means time.Now
	// ReplayCacheSize bounds the live assertion jtis remembered per
	// client (default 1024). When a client's share is full of live
	// entries, that client's token requests are refused
	// (ErrTooManyAssertions) until some expire; other clients are not
	// affected.
	ReplayCacheSize int
	// TokenCacheSize bounds the verified-token cache (default 16384).
	TokenCacheSize int
}

// Validate names the first bad field.
func (c *IssuerConfig) Validate() error {
	switch {
	case c.Issuer == "":
		return errors.New("auth config: Issuer is required")
	case c.TokenURL == "":
		return errors.New("auth config: TokenURL is required")
	case c.Audience == "":
		return errors.New("auth config: Audience is required")
	case c.TTL < 0 || c.TTL > MaxTTL:
		return fmt.Errorf("auth config: TTL %v must be between 0 (default %v) and %v", c.TTL, DefaultTTL, MaxTTL)
	case c.Signer == nil:
		return errors.New("auth config: Signer is required")
	case c.Keys == nil:
		return errors.New("auth config: Keys is required")
	case c.Clients == nil:
		return errors.New("auth config: Clients is required")
	case c.ReplayCacheSize < 0 || c.TokenCacheSize < 0:
		return errors.New("auth config: ReplayCacheSize and TokenCacheSize must not be negative")
	}
	return nil
}

// TokenResponse is the token endpoint's success body (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	// Client and Role name who got the token, for the audit trail; they
	// are not part of the response body.
	Client string `json:"-"`
	Role   string `json:"-"`
}

// Principal is the verified caller of one request.
type Principal struct {
	ClientID string
	Role     string
	TokenID  string    // the access token's jti, for the audit trail
	Expires  time.Time // the access token's exp
}

// Issuer is the exchange's token endpoint and access-token verifier.
//
// Verify caches what it verified, keyed by the SHA-256 of the token,
// until the token's exp (bounded by TokenCacheSize), so the query hot
// path pays one Ed25519 verification per token, not per request. A cache
// hit still checks, by map reads, that the signing key is not revoked and
// that the client is registered with the same role, so revoking a key or
// a client takes effect at once.
type Issuer struct {
	cfg IssuerConfig

	mu        sync.Mutex
	replay    map[string]map[string]time.Time // client -> jti -> assertion exp
	tokens    map[[sha256.Size]byte]cachedToken
	lastSweep time.Time
}

type cachedToken struct {
	p   Principal
	kid string
}

// NewIssuer checks cfg and returns an Issuer. It has no side effects.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReplayCacheSize == 0 {
		cfg.ReplayCacheSize = DefaultReplayCacheSize
	}
	if cfg.TokenCacheSize == 0 {
		cfg.TokenCacheSize = 1 << 14
	}
	return &Issuer{cfg: cfg, replay: make(map[string]map[string]time.Time), tokens: make(map[[sha256.Size]byte]cachedToken)}, nil
}

// formValue returns the single value of name; repeated parameters are
// ErrInvalidRequest (RFC 6749 §3.2), and so is a missing one.
func formValue(form url.Values, name string) (string, error) {
	vs := form[name]
	switch {
	case len(vs) > 1:
		return "", fmt.Errorf("%w: %s repeated", ErrInvalidRequest, name)
	case len(vs) == 0 || vs[0] == "":
		return "", fmt.Errorf("%w: %s missing", ErrInvalidRequest, name)
	}
	return vs[0], nil
}

// Token serves one client-credentials request authenticated by a JWT
// client assertion (RFC 7523 §2.2). The assertion must be EdDSA, signed
// with an auth key owned by its iss, with iss = sub, aud containing
// TokenURL, exp present and at most 5 minutes ahead, iat and nbf not in
// the future, and a jti not seen before within its lifetime. The access
// token is an RFC 9068 JWT (typ at+jwt) signed with the exchange's token
// key.
func (is *Issuer) Token(ctx context.Context, form url.Values) (TokenResponse, error) {
	grant, err := formValue(form, "grant_type")
	if err != nil {
		return TokenResponse{}, fmt.Errorf("token: %w", err)
	}
	if grant != GrantClientCredentials {
		return TokenResponse{}, fmt.Errorf("token: %w: %q", ErrUnsupportedGrant, grant)
	}
	at, err := formValue(form, "client_assertion_type")
	if err != nil {
		return TokenResponse{}, fmt.Errorf("token: %w", err)
	}
	if at != AssertionTypeJWTBearer {
		return TokenResponse{}, fmt.Errorf("token: %w: client_assertion_type %q", ErrInvalidRequest, at)
	}
	assertion, err := formValue(form, "client_assertion")
	if err != nil {
		return TokenResponse{}, fmt.Errorf("token: %w", err)
	}
	if len(form["client_id"]) > 1 {
		return TokenResponse{}, fmt.Errorf("token: %w: client_id repeated", ErrInvalidRequest)
	}
	if len(assertion) > MaxTokenSize {
		return TokenResponse{}, fmt.Errorf("token: %w: assertion of %d bytes", ErrInvalidClient, len(assertion))
	}

	now := is.cfg.Now()
	var c assertionClaims
	pk, err := keys.ParseJWT(assertion, is.cfg.Keys, keys.UseAuth, AssertionJWTType, &c,
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithAudience(is.cfg.TokenURL))
	if err != nil {
		return TokenResponse{}, fmt.Errorf("token: %w: %w", ErrInvalidClient, err)
	}
	// The signature verified: whatever is refused from here on was
	// asked by the key's owner.
	resp, err := is.issue(ctx, &c, pk, form, now)
	if err != nil {
		return TokenResponse{}, &authenticatedError{client: pk.Owner, err: err}
	}
	return resp, nil
}

// issue finishes Token once the assertion's signature verified.
func (is *Issuer) issue(ctx context.Context, c *assertionClaims, pk keys.PublicKey, form url.Values, now time.Time) (TokenResponse, error) {
	client := c.Issuer
	switch {
	case client == "" || c.Subject != client:
		return TokenResponse{}, fmt.Errorf("token: %w: iss %q and sub %q must be the client id", ErrInvalidClient, c.Issuer, c.Subject)
	case pk.Owner != client:
		return TokenResponse{}, fmt.Errorf("token: %w: kid %q belongs to %q, not %q", ErrInvalidClient, pk.KID, pk.Owner, client)
	case form.Get("client_id") != "" && form.Get("client_id") != client:
		return TokenResponse{}, fmt.Errorf("token: %w: client_id differs from the assertion's iss", ErrInvalidClient)
	case c.ExpiresAt.After(now.Add(MaxAssertionLifetime + Leeway)):
		return TokenResponse{}, fmt.Errorf("token: %w: exp more than %v ahead", ErrInvalidClient, MaxAssertionLifetime)
	case c.IssuedAt != nil && c.IssuedAt.Before(now.Add(-MaxAssertionLifetime-Leeway)):
		return TokenResponse{}, fmt.Errorf("token: %w: iat more than %v ago", ErrInvalidClient, MaxAssertionLifetime)
	case c.ID == "" || len(c.ID) > maxJTI:
		return TokenResponse{}, fmt.Errorf("token: %w: jti missing or longer than %d", ErrInvalidClient, maxJTI)
	}
	role, ok := is.cfg.Clients.Role(client)
	if !ok {
		return TokenResponse{}, fmt.Errorf("token: %w: client %q not registered", ErrInvalidClient, client)
	}
	if err := is.remember(client, c.ID, c.ExpiresAt.Time, now); err != nil {
		return TokenResponse{}, fmt.Errorf("token: %w", err)
	}

	jti, err := randomID()
	if err != nil {
		return TokenResponse{}, fmt.Errorf("token: %w", err)
	}
	ac := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: is.cfg.Issuer, Subject: client, Audience: jwt.ClaimStrings{is.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(is.cfg.TTL)), IssuedAt: jwt.NewNumericDate(now), ID: jti,
		},
		ClientID: client, Role: role,
	}
	tok, err := keys.SignJWT(ctx, is.cfg.Signer, AccessTokenJWTType, &ac)
	if err != nil {
		return TokenResponse{}, fmt.Errorf("token: %w", err)
	}
	return TokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(is.cfg.TTL / time.Second), Client: client, Role: role}, nil
}

// remember records an assertion's jti until its exp, refusing one seen
// before (ErrInvalidClient). Each client has its own share of
// ReplayCacheSize live entries: a client that fills it is refused
// (ErrTooManyAssertions), fail closed, and nobody else is. Only
// registered clients whose signature verified get here, so the number
// of shares is bounded by the client registry.
func (is *Issuer) remember(client, jti string, exp, now time.Time) error {
	is.mu.Lock()
	defer is.mu.Unlock()
	seen := is.replay[client]
	if until, ok := seen[jti]; ok && now.Before(until.Add(Leeway)) {
		return fmt.Errorf("%w: jti replayed", ErrInvalidClient)
	}
	if now.Sub(is.lastSweep) > time.Minute {
		is.sweepLocked(now)
		seen = is.replay[client]
	}
	if len(seen) >= is.cfg.ReplayCacheSize {
		sweepJTIs(seen, now)
	}
	if len(seen) >= is.cfg.ReplayCacheSize {
		return fmt.Errorf("%w: %d live assertions", ErrTooManyAssertions, len(seen))
	}
	if seen == nil {
		seen = make(map[string]time.Time)
		is.replay[client] = seen
	}
	seen[jti] = exp
	return nil
}

// sweepJTIs drops the expired entries of one client's replay share.
func sweepJTIs(seen map[string]time.Time, now time.Time) {
	for jti, until := range seen {
		if !now.Before(until.Add(Leeway)) {
			delete(seen, jti)
		}
	}
}

// sweepLocked drops expired replay entries and cached tokens.
func (is *Issuer) sweepLocked(now time.Time) {
	is.lastSweep = now
	for client, seen := range is.replay {
		sweepJTIs(seen, now)
		if len(seen) == 0 {
			delete(is.replay, client)
		}
	}
	for k, t := range is.tokens {
		if !now.Before(t.p.Expires) {
			delete(is.tokens, k)
		}
	}
}

// Verify checks an access token: at most MaxTokenSize bytes, typ at+jwt,
// EdDSA, kid a token key owned by "exchange", iss, aud and exp required
// and right (Leeway of skew), iat present and exp-iat at most MaxTTL,
// client_id = sub, and the client still registered with the token's
// role. See the Issuer doc for the cache.
func (is *Issuer) Verify(token string) (Principal, error) {
	if len(token) > MaxTokenSize {
		return Principal{}, fmt.Errorf("verify token: %w: %d bytes", ErrInvalidToken, len(token))
	}
	now := is.cfg.Now()
	sum := sha256.Sum256([]byte(token))
	is.mu.Lock()
	hit, ok := is.tokens[sum]
	if ok && !now.Before(hit.p.Expires) {
		delete(is.tokens, sum)
		ok = false
	}
	is.mu.Unlock()
	if ok {
		if err := is.stillValid(hit); err != nil {
			is.mu.Lock()
			delete(is.tokens, sum)
			is.mu.Unlock()
			return Principal{}, &authenticatedError{client: hit.p.ClientID, err: fmt.Errorf("verify token: %w", err)}
		}
		return hit.p, nil
	}

	var c accessClaims
	pk, err := keys.ParseJWT(token, is.cfg.Keys, keys.UseToken, AccessTokenJWTType, &c,
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithAudience(is.cfg.Audience), jwt.WithIssuer(is.cfg.Issuer))
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w: %w", ErrInvalidToken, err)
	}
	if pk.Owner != keys.OwnerExchange {
		return Principal{}, fmt.Errorf("verify token: %w: kid %q is owned by %q, not the exchange", ErrInvalidToken, pk.KID, pk.Owner)
	}
	// The exchange signed it: refusals from here on concern its sub.
	authenticated := func(err error) error { return &authenticatedError{client: c.Subject, err: err} }
	switch {
	case c.Subject == "" || c.ClientID != c.Subject:
		return Principal{}, fmt.Errorf("verify token: %w: sub %q and client_id %q", ErrInvalidToken, c.Subject, c.ClientID)
	case c.ID == "" || c.IssuedAt == nil:
		return Principal{}, authenticated(fmt.Errorf("verify token: %w: jti or iat missing", ErrInvalidToken))
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxTTL:
		return Principal{}, authenticated(fmt.Errorf("verify token: %w: lifetime over %v", ErrInvalidToken, MaxTTL))
	}
	entry := cachedToken{p: Principal{ClientID: c.Subject, Role: c.Role, TokenID: c.ID, Expires: c.ExpiresAt.Time}, kid: pk.KID}
	if err := is.stillValid(entry); err != nil {
		return Principal{}, authenticated(fmt.Errorf("verify token: %w", err))
	}
	is.mu.Lock()
	if len(is.tokens) >= is.cfg.TokenCacheSize {
		is.sweepLocked(now)
		for k := range is.tokens { // still full: drop an arbitrary entry
			if len(is.tokens) < is.cfg.TokenCacheSize {
				break
			}
			delete(is.tokens, k)
		}
	}
	is.tokens[sum] = entry
	is.mu.Unlock()
	return entry.p, nil
}

// stillValid re-checks, by map reads, what may change during a token's
// life: its key's status and its client's registration and role.
func (is *Issuer) stillValid(t cachedToken) error {
	k, err := is.cfg.Keys.PublicKey(t.kid)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if k.Status == keys.Revoked {
		return fmt.Errorf("%w: %w: %q", ErrInvalidToken, keys.ErrRevoked, t.kid)
	}
	role, ok := is.cfg.Clients.Role(t.p.ClientID)
	if !ok {
		return fmt.Errorf("%w: client %q no longer registered", ErrInvalidToken, t.p.ClientID)
	}
	if role != t.p.Role {
		return fmt.Errorf("%w: client %q role changed", ErrInvalidToken, t.p.ClientID)
	}
	return nil
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// assertionClaims are a client assertion's claims. Registered claims are
// matched exactly (not with encoding/json's case folding); other claims
// are ignored, as RFC 7523 allows.
type assertionClaims struct {
	jwt.RegisteredClaims
}

func (c *assertionClaims) UnmarshalJSON(data []byte) error {
	return decodeClaims(data, &c.RegisteredClaims, nil, true)
}

// accessClaims are an access token's claims (RFC 9068 §2.2), with the
// client's role. Every claim must be one of these, spelled exactly.
type accessClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Role     string `json:"role"`
}

func (c *accessClaims) UnmarshalJSON(data []byte) error {
	return decodeClaims(data, &c.RegisteredClaims, map[string]*string{"client_id": &c.ClientID, "role": &c.Role}, false)
}

// decodeClaims decodes a JWT claims set strictly (jsonstrict), matching
// names exactly. String claims must be strings, dates numbers, aud a
// string or an array of strings.
func decodeClaims(data []byte, rc *jwt.RegisteredClaims, extra map[string]*string, allowUnknown bool) error {
	var raw map[string]json.RawMessage
	if err := jsonstrict.Decode(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		return errors.New("claims are not an object")
	}
	for name, v := range raw {
		var err error
		switch name {
		case "iss":
			err = keys.StringClaim(v, &rc.Issuer)
		case "sub":
			err = keys.StringClaim(v, &rc.Subject)
		case "jti":
			err = keys.StringClaim(v, &rc.ID)
		case "aud":
			if len(v) == 0 || (v[0] != '"' && v[0] != '[') {
				err = errors.New("not a string or array")
			} else {
				err = json.Unmarshal(v, &rc.Audience)
			}
		case "exp":
			rc.ExpiresAt, err = keys.DateClaim(v)
		case "nbf":
			rc.NotBefore, err = keys.DateClaim(v)
		case "iat":
			rc.IssuedAt, err = keys.DateClaim(v)
		default:
			if dst, ok := extra[name]; ok {
				err = keys.StringClaim(v, dst)
			} else if !allowUnknown {
				return fmt.Errorf("claim %q not allowed", name)
			}
		}
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
	}
	return nil
}
