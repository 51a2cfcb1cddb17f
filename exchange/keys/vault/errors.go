package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/exchange/keys"
)

var (
	// ErrPermissionDenied: Vault refused the credentials or the policy does
	// not allow the operation (403, or a rejected AppRole login). Not
	// retryable: fix the role's policy or the credentials.
	ErrPermissionDenied = errors.New("vault permission denied")
	// ErrKeyType: the transit key exists but cannot serve this Signer's
	// purpose (not ed25519 for a signing Use, derived, or without HMAC).
	// Not retryable: fix the key or the configuration.
	ErrKeyType = errors.New("vault transit key of the wrong type")
	// ErrRejected: Vault refused a whole request as malformed (a 400 that
	// is none of the cases above): a bug here or a Vault version this
	// package does not know. Not retryable; report it.
	ErrRejected = errors.New("vault rejected the request")
	// ErrItemRejected: Vault refused one item of a batch. Only that item
	// failed; the caller drops or resubmits it alone.
	ErrItemRejected = errors.New("vault rejected the batch item")
	// ErrBadResponse: Vault answered with something that is not a
	// well-formed signature, HMAC or key record (wrong prefix, version,
	// length or encoding). Nothing from it is used. Treat as a server fault:
	// report it; retrying may help if the server was mid-upgrade.
	ErrBadResponse = errors.New("malformed vault response")
	// ErrNotStarted: Start has not succeeded yet, or Close was called. Call
	// Start first; after Close, make a new Signer.
	ErrNotStarted = errors.New("vault signer not started")
	// ErrInvalidConfig: Config.Validate refused the configuration. The
	// *ConfigError in the chain names the field.
	ErrInvalidConfig = errors.New("invalid vault signer config")
)

// ConfigError names the configuration field that Validate refused.
type ConfigError struct {
	Field  string // Go path of the field, e.g. "Auth.AppRole.RoleID"
	Reason string // what is wrong and what is allowed
}

func (e *ConfigError) Error() string {
	return "invalid vault signer config: " + e.Field + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// classify is the one place that decides what a failed Vault call means
// and whether the caller may retry it. It returns an error that wraps
// both the sentinel the caller branches on and the original cause.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		return classifyStatus(re.StatusCode, strings.Join(re.Errors, "; "), err)
	}
	switch {
	case errors.Is(err, context.Canceled):
		// The caller gave up; not a backend fault, and retrying is the
		// caller's own choice.
		return err
	case errors.Is(err, context.DeadlineExceeded):
		// A timeout (ours or the caller's): the server was too slow or
		// unreachable. Retryable.
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, err)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		// Connection refused, reset, DNS, TLS handshake, client timeout:
		// the transport never got an answer. Retryable.
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, err)
	}
	// Anything else (an undecodable body, an unexpected client error) is
	// a response we cannot trust. Not known to be retryable.
	return fmt.Errorf("%w: %w", ErrBadResponse, err)
}

// classifyStatus maps one HTTP status and Vault's error text to a
// sentinel. The text is matched only to tell apart cases that share a
// status code.
func classifyStatus(code int, msg string, cause error) error {
	switch {
	case code == http.StatusForbidden:
		// Bad, expired or revoked token, or a policy without the path.
		return fmt.Errorf("%w: %w", ErrPermissionDenied, cause)
	case code == http.StatusNotFound:
		// GET transit/keys/<name> of a key that does not exist.
		return fmt.Errorf("%w: %w", keys.ErrUnknownKey, cause)
	case strings.Contains(msg, "key not found"):
		// transit/sign or transit/hmac of a missing key ("signing key not
		// found", "encryption key not found") answers 400.
		return fmt.Errorf("%w: %w", keys.ErrUnknownKey, cause)
	case strings.Contains(msg, "requested version for signing is"),
		strings.Contains(msg, "invalid key version"):
		// A key_version Vault does not hold (or one below the key's
		// min_encryption_version) answers 500 or 400; it is the kid's
		// fault, not the server's, so it must not be retried.
		return fmt.Errorf("%w: %w", keys.ErrUnknownKey, cause)
	case code == http.StatusServiceUnavailable:
		// Sealed, standby without forwarding, or shutting down. Retryable.
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, cause)
	case code == http.StatusTooManyRequests:
		// Rate limited (or a performance standby). Retryable after backoff.
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, cause)
	case code == http.StatusPreconditionFailed:
		// Replication state not yet caught up. Retryable.
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, cause)
	case code >= 500:
		// Any other server fault: internal error, bad gateway in front of
		// Vault. Retryable; persistent ones need an operator.
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, cause)
	case strings.Contains(msg, "does not support"):
		// "key type aes256-gcm96 does not support signing". Not retryable.
		return fmt.Errorf("%w: %w", ErrKeyType, cause)
	default:
		// 400 and other client errors: the request itself is wrong for
		// this server. Not retryable.
		return fmt.Errorf("%w: %w", ErrRejected, cause)
	}
}

// classifyLogin is classify for an auth login: a 400 there means the
// role or secret id was refused, which is a credentials problem.
func classifyLogin(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
		return fmt.Errorf("%w: %w", ErrPermissionDenied, err)
	}
	return classify(err)
}

// classifyItem maps the error text of one batch item.
func classifyItem(msg string) error {
	if strings.Contains(msg, "requested version for signing is") {
		return fmt.Errorf("%w: %s", keys.ErrUnknownKey, msg)
	}
	return fmt.Errorf("%w: %s", ErrItemRejected, msg)
}
