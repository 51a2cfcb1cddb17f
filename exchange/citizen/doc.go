// Package citizen signs residents in for the citizen page (/me): it
// verifies an OpenID Connect ID token from the province's identity
// provider and says which resident it names. Dev mode adds a development
// provider for the sample residents (DevProvider), clearly marked as such.
//
// # What an ID token must be
//
// Verifier.Resident accepts a compact JWS only when, checked in this order:
//
//  1. its header alg is the one configured (Config.Alg, default RS256;
//     any other, "none" included, is refused) and its kid names a key of
//     the provider's JWKS (Config.JWKSURL, fetched over HTTP(S), at most
//     64 KiB, kept for 5 minutes and fetched again, at most every 30 s,
//     when a token names a kid it does not hold; while the provider is
//     unreachable, the keys already held go on verifying, and it is
//     tried again at most every 30 s, failed tries included);
//  2. the signature verifies with that key;
//  3. iss is Config.Issuer exactly, aud holds Config.Audience, exp is in
//     the future and iat (required) is not in the future (30 s leeway);
//  4. the claim Config.ResidentClaim (default "resident_id") is a valid
//     18-character resident identity number (check character included).
//
// Anything else is ErrUnauthenticated, wrapped with the cause; the token
// itself is never in an error, a log line or a metric.
//
// The ID number is then only used to compute the resident's pseudonym;
// the citizen routes (exchange/api/citizen.go) take no subject from the
// request, so a resident can reach their own entries only.
//
// # The development provider
//
// DevProvider is for dev mode only: it holds an Ed25519 key made at start,
// signs ID tokens (alg EdDSA) for the sample residents without any
// password, and serves, under the prefix it is mounted at (/dev/oidc/):
//
//	GET  /dev/oidc/            sign-in page listing the sample residents, marked DEVELOPMENT ONLY
//	POST /dev/oidc/signin      form field resident: an HTML hand-off page that puts the ID token
//	                           into the page's session storage (never into a URL) and opens /me/
//	POST /dev/oidc/token       form field resident: {"id_token", "token_type", "expires_in"} as JSON,
//	                           for `onevisit citizen-token` and scripts (400 unknown_resident for
//	                           anyone not listed)
//	GET  /dev/oidc/jwks.json   its public key, as a JWKS
package citizen
