// Package codes holds the exchange's own sentinel errors that more than
// one of its packages returns and no narrower package owns: refusals of a
// request (its fields, its caller, its size) and a dependency that is
// away. Each carries its stable error code (exchange/wire's catalogue,
// which maps codes to HTTP statuses and safe messages); the packages that
// own their errors (record, keys, auth, ingest, schemas, policy) map them
// themselves. Wrap a sentinel with %w; wire.Of finds its code.
//
// This package imports only exchange/wire.
package codes

import (
	"errors"

	"github.com/onevisit/onevisit/exchange/wire"
)

// Sentinels of the exchange's own checks, for the layers that have no
// package of their own to hold them.
var (
	// ErrNotFound: no record of that subject in that dataset (or a route
	// that does not exist).
	ErrNotFound = wire.WithCode("not_found", errors.New("not found"))
	// ErrUnknownDataset: the dataset is not in the catalogue.
	ErrUnknownDataset = wire.WithCode("unknown_dataset", errors.New("unknown dataset"))
	// ErrBadSubject: the subject is not a well-formed identity number
	// (length, characters, area code or birth date; a wrong check
	// character is ErrBadCheckCharacter).
	ErrBadSubject = wire.WithCode("invalid_subject", errors.New("subject is not a valid resident identity number"))
	// ErrForbidden: the caller's role may not use this endpoint.
	ErrForbidden = wire.WithCode("forbidden", errors.New("role not allowed"))
	// ErrUnauthenticated: no or unusable bearer token.
	ErrUnauthenticated = wire.WithCode("unauthenticated", errors.New("authentication required"))
	// ErrTooLarge: the request body is over its limit.
	ErrTooLarge = wire.WithCode("body_too_large", errors.New("request body too large"))
	// ErrBadRequest: the request is malformed in a way no other code names.
	ErrBadRequest = wire.WithCode("bad_request", errors.New("bad request"))
	// ErrUnavailable: a dependency (Kafka, Vault) cannot take the write or
	// the signature now. Retry with backoff; nothing was acknowledged.
	ErrUnavailable = wire.WithCode("unavailable", errors.New("temporarily unavailable"))
	// ErrKeysStale: the node could not refresh its key versions for longer
	// than its grace period and fails closed. Retry later.
	ErrKeysStale = wire.WithCode("keys_stale", errors.New("key versions too stale to trust"))
	// ErrMissingField: a required request field is absent or empty. Wrap
	// it in a *FieldError naming the field.
	ErrMissingField = wire.WithCode("missing_field", errors.New("missing field"))
	// ErrBadCheckCharacter: a resident identity number whose last
	// character is not the check character of its first 17 digits.
	ErrBadCheckCharacter = wire.WithCode("bad_check_character", errors.New("wrong check character"))
	// ErrLowercaseX: a resident identity number ending in a lowercase x
	// that would be valid with an uppercase X. Send it with X.
	ErrLowercaseX = wire.WithCode("lowercase_check_character", errors.New("check character x must be uppercase"))
	// ErrUnknownPurpose: no policy declares the stated purpose (a typo, or
	// text that is not a purpose at all): not a denial.
	ErrUnknownPurpose = wire.WithCode("unknown_purpose", errors.New("unknown purpose"))
	// ErrBadCaseID: the case id is not a plain token of at most
	// MaxCaseID characters, or carries an identity number.
	ErrBadCaseID = wire.WithCode("bad_case_id", errors.New("bad case id"))
	// ErrMethodNotAllowed: the path exists, but not for this method; the
	// Allow header lists the methods it takes.
	ErrMethodNotAllowed = wire.WithCode("method_not_allowed", errors.New("method not allowed"))
	// ErrNoRoute: no route has this path.
	ErrNoRoute = wire.WithCode("no_route", errors.New("no such path"))
	// ErrRateLimited: the caller is over a rate limit or daily quota its
	// policy declares. Retry after the Retry-After header's seconds, not
	// sooner.
	ErrRateLimited = wire.WithCode("rate_limited", errors.New("rate limited"))
	// ErrBadRange: an audit log index, size or range parameter is
	// missing, not a decimal number, reversed, or wider than the page
	// limit. Wrap it in a *FieldError naming the parameter.
	ErrBadRange = wire.WithCode("bad_range", errors.New("bad index or range"))
	// ErrBeyondLog: an index or size the audit log has not reached (on
	// this node, after catching up with every durable write). Ask again
	// with a size from GET /v1/audit/checkpoint.
	ErrBeyondLog = wire.WithCode("beyond_log", errors.New("beyond the audit log"))
	// ErrBadCreditCode: a subject of a dataset about organisations that is
	// not a valid unified social credit code (length, characters,
	// division code or check character).
	ErrBadCreditCode = wire.WithCode("invalid_credit_code", errors.New("subject is not a valid unified social credit code"))
	// ErrRequestSchema: the request does not match its operation in the
	// API document (/openapi.json) in a way no narrower code names. Wrap it
	// in a *FieldError naming the field.
	ErrRequestSchema = wire.WithCode("request_schema", errors.New("request does not match the API document"))
)

// MaxCaseID and MaxPurpose bound the free-text fields of a request; they
// reach the permanent audit log.
const (
	MaxCaseID  = 64
	MaxPurpose = 64
)

// FieldError names the request field an error is about, as a JSON
// pointer ("/reason"). wire.Pointer finds it; the HTTP layer puts it in
// the error body.
type FieldError struct {
	Pointer string
	Err     error
}

func (e *FieldError) Error() string { return e.Pointer + ": " + e.Err.Error() }

// Unwrap returns the cause, so wire.Of finds its code.
func (e *FieldError) Unwrap() error { return e.Err }

// JSONPointer returns Pointer (wire.Pointerer).
func (e *FieldError) JSONPointer() string { return e.Pointer }
