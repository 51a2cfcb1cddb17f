// Package auth authenticates OneVisit's callers: OAuth 2.0 client
// credentials with a JWT client assertion (RFC 7523) at the token
// endpoint, and short-lived access tokens (RFC 9068 JWTs) on every API
// call.
//
// A client holds an Ed25519 auth key registered in the key directory. It
// signs an assertion with NewAssertion (iss = sub = its client id, aud =
// the token endpoint URL, exp 60 s ahead, a fresh jti) and posts it:
//
//	grant_type=client_credentials
//	client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
//	client_assertion=<JWT>
//
// Issuer.Token checks it and answers with an access token signed by the
// exchange's token key (typ at+jwt; iss, sub, aud, exp, iat, jti,
// client_id, role). Issuer.Verify checks an access token on each request.
//
// What this package promises:
//   - only EdDSA is accepted, with keys from the pinned key directory
//     (keys.ParseJWT): no alg none, no HMAC with a public key as secret,
//     no key named by the token itself, no network I/O;
//   - explicit typing: an access token is never accepted as an assertion
//     nor the reverse (typ and key use both differ);
//   - an assertion's kid is an auth key owned by the assertion's iss, so
//     one client cannot speak for another; record keys never authenticate;
//   - aud, exp, nbf and iat are always checked (5 s leeway); an
//     assertion's exp is required and at most 5 minutes ahead, and its
//     iat (when present) at most 5 minutes old; its jti is remembered
//     until exp, in a share of the replay cache that belongs to the
//     client whose signature verified (IssuerConfig.ReplayCacheSize live
//     jtis each). A client that fills its share is refused with
//     ErrTooManyAssertions (429, "slow_down") until its assertions
//     expire; it can lock out only itself, never another client;
//   - tokens over 8 KiB are refused before parsing;
//   - all JSON is strict (schemas/jsonstrict), claim names
//     matched exactly;
//   - Verify caches verified tokens by SHA-256 until exp (bounded), so the
//     hot path pays one Ed25519 verification per token; a cache hit still
//     re-checks key revocation and client registration by map reads.
//
// Errors are ErrInvalidRequest, ErrUnsupportedGrant, ErrInvalidClient,
// ErrInvalidToken and ErrTooManyAssertions, each wrapping a precise
// reason for the log. The HTTP layer shows the client only
// OAuthError(err), never the reason. Authenticated(err) names the client
// whose signature verified before a refusal (so the refusal can be
// audited under that client); a request whose signature did not verify
// is unauthenticated, whatever client id it claims.
package auth
