// Package vault implements OneVisit's key contracts (keys.Signer,
// keys.BatchSigner, keys.HMACer) with HashiCorp Vault's transit engine,
// or any server speaking its API (OpenBao). Private keys never leave
// Vault: this package sends messages and receives signatures.
//
// # Lifecycle
//
// New(cfg, logger) validates the Config and builds a Signer without any
// network I/O. Start(ctx) logs in (a token, or AppRole), starts keeping
// the token alive (renewal through api.LifetimeWatcher, and a new AppRole
// login when the token reaches its max TTL) and reads the key's versions.
// Close stops both; it is safe to call twice.
//
// # Keys and kids
//
// One Signer serves one transit key. Signing keys are non-derived
// ed25519 keys; a kid is "<key>#<version>". KeyID returns the latest
// version Vault reported, and Sign pins key_version to the version the
// kid names, which must be that latest version: an older one is retired
// and refused with keys.ErrRetired (it still verifies, never signs), so
// a caller whose header named a version just before a rotation takes
// KeyID again (keys.SignJWT does this once). Vault's "vault:v<N>:<base64>" answers are checked
// (N must be the version asked for, the length must be 64 bytes for a
// signature and 32 for an HMAC) and only the raw bytes are returned.
//
// Versions lists each version's public key from GET <mount>/keys/<key>:
// the latest is keys.Active, older ones keys.Retired. Revocation is
// OneVisit's own state, kept by the key directory: Vault does not store
// it, so this package never reports keys.Revoked and never returns
// keys.ErrRevoked. The list is cached and re-read every RefreshInterval,
// on Refresh and Rotate, and when a kid names a version newer than the
// cache.
//
// HMAC uses transit/hmac/<key> with SHA-256; any transit key type has an
// HMAC key (the sample setup uses an aes256-gcm96 key for pseudonyms).
//
// # Errors
//
// Failures wrap exactly one sentinel the caller branches on, plus the
// cause:
//   - keys.ErrUnavailable: no answer, a timeout, a sealed Vault (503) or
//     another 5xx. Retry with backoff; never fall back to unsigned.
//   - ErrPermissionDenied: the token or AppRole credentials were refused,
//     or the policy lacks the path. Fix the role; do not retry.
//   - keys.ErrUnknownKey: the kid is not "<key>#<version>" of this key,
//     names a version Vault does not hold or no longer lets sign, or the
//     key does not exist.
//   - keys.ErrRetired: the kid names a version older than the latest.
//     Take KeyID again and sign with it.
//   - ErrKeyType, ErrRejected, ErrItemRejected, ErrBadResponse,
//     ErrNotStarted, ErrInvalidConfig: see each one's doc.
//
// No call returns a signature or HMAC together with an error.
//
// # Secrets and logging
//
// Tokens and secret ids come from code, an environment variable or a
// file, never from a config file (those fields are tagged out of YAML
// and JSON). The address, token, namespace, timeout and retries come from
// Config alone, whatever VAULT_ADDR, VAULT_TOKEN or VAULT_NAMESPACE say;
// TLS settings (VAULT_CACERT and the like) are still read from the
// environment by the Vault client. Logs carry the mount, key name and
// version numbers, never tokens, secret ids, messages or signatures.
//
// Vault's answers are decoded by the Vault client (not jsonstrict: the
// server is authenticated and its responses gain fields across
// versions); every field this package uses is type-checked and bounded,
// and anything unexpected is ErrBadResponse.
//
// # Tests
//
// The tests that need a server run against a real one started by
// deploy/vault/run.sh (OpenBao in dev mode) when VAULT_ADDR and
// VAULT_TOKEN are set, and are skipped otherwise.
package vault
