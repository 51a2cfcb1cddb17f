// Package codes is OneVisit's error catalogue: the one place that maps an
// error from any layer to the stable code, HTTP status and safe message a
// client sees. Codes are part of the API: they never change meaning.
// The detail of an error (which key, which claim) goes to the log and,
// for officers, to policy explanations; clients get the code.
//
// Of walks the catalogue in order and returns the first entry whose
// sentinel the error wraps (errors.Is), so more specific sentinels come
// first. An error that wraps none is "internal" (500).
package codes

import (
	"errors"
	"net/http"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// Sentinels of the exchange's own checks, for the layers that have no
// package of their own to hold them.
var (
	// ErrStale: the record is older than the one held for its subject.
	ErrStale = errors.New("record older than the one held")
	// ErrDatasetMismatch: the record's dataset claim names another dataset
	// than the topic or URL it came through.
	ErrDatasetMismatch = errors.New("dataset claim does not match")
	// ErrIssuerMismatch: an authenticated publisher submitted a record
	// issued by another client.
	ErrIssuerMismatch = errors.New("issuer is not the submitting publisher")
	// ErrNoGrant: no PublisherGrant lets the issuer publish the dataset.
	ErrNoGrant = errors.New("publisher has no grant for the dataset")
	// ErrNoSubject: the record lacks its dataset's subject field.
	ErrNoSubject = errors.New("record has no subject")
	// ErrNotFound: no record of that subject in that dataset (or a route
	// that does not exist).
	ErrNotFound = errors.New("not found")
	// ErrUnknownDataset: the dataset is not in the catalogue.
	ErrUnknownDataset = errors.New("unknown dataset")
	// ErrBadSubject: the subject is not a well-formed identity number
	// (length, characters, area code or birth date; a wrong check
	// character is ErrBadCheckCharacter).
	ErrBadSubject = errors.New("subject is not a valid resident identity number")
	// ErrForbidden: the caller's role may not use this endpoint.
	ErrForbidden = errors.New("role not allowed")
	// ErrUnauthenticated: no or unusable bearer token.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrTooLarge: the request body is over its limit.
	ErrTooLarge = errors.New("request body too large")
	// ErrBadRequest: the request is malformed in a way no other code names.
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable: a dependency (Kafka, Vault) cannot take the write or
	// the signature now. Retry with backoff; nothing was acknowledged.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrBadRecordID: the record id is not a plain token, or is an
	// identity number.
	ErrBadRecordID = errors.New("bad record id")
	// ErrBadDelete: a delete record discloses more than its subject.
	ErrBadDelete = errors.New("a delete discloses exactly the subject")
	// ErrKeysStale: the node could not refresh its key versions for longer
	// than its grace period and fails closed. Retry later.
	ErrKeysStale = errors.New("key versions too stale to trust")
	// ErrMissingField: a required request field is absent or empty. Wrap
	// it in a *FieldError naming the field.
	ErrMissingField = errors.New("missing field")
	// ErrBadCheckCharacter: a resident identity number whose last
	// character is not the check character of its first 17 digits.
	ErrBadCheckCharacter = errors.New("wrong check character")
	// ErrLowercaseX: a resident identity number ending in a lowercase x
	// that would be valid with an uppercase X. Send it with X.
	ErrLowercaseX = errors.New("check character x must be uppercase")
	// ErrUnknownPurpose: no policy declares the stated purpose (a typo, or
	// text that is not a purpose at all): not a denial.
	ErrUnknownPurpose = errors.New("unknown purpose")
	// ErrBadCaseID: the case id is not a plain token of at most
	// MaxCaseID characters, or carries an identity number.
	ErrBadCaseID = errors.New("bad case id")
	// ErrMethodNotAllowed: the path exists, but not for this method; the
	// Allow header lists the methods it takes.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrNoRoute: no route has this path.
	ErrNoRoute = errors.New("no such path")
	// ErrRateLimited: the caller is over a rate limit or daily quota its
	// policy declares. Retry after the Retry-After header's seconds, not
	// sooner.
	ErrRateLimited = errors.New("rate limited")
	// ErrIATInFuture: the record's iat is further ahead of the exchange's
	// clock than the allowed skew.
	ErrIATInFuture = errors.New("record issued in the future")
	// ErrSchemaNotOfDataset: the record names a schema version of another
	// dataset than its own.
	ErrSchemaNotOfDataset = errors.New("schema is not a version of the record's dataset")
	// ErrUnwritable: the outcome of the submission could not be written
	// even alone; it was dead-lettered without its body.
	ErrUnwritable = errors.New("outcome could not be written")
)

// MaxCaseID and MaxPurpose bound the free-text fields of a request; they
// reach the permanent audit log.
const (
	MaxCaseID  = 64
	MaxPurpose = 64
)

// FieldError names the request field an error is about, as a JSON
// pointer ("/reason"). Pointer returns it; the HTTP layer puts it in the
// error body.
type FieldError struct {
	Pointer string
	Err     error
}

func (e *FieldError) Error() string { return e.Pointer + ": " + e.Err.Error() }

// Unwrap returns the cause, so Of finds its code.
func (e *FieldError) Unwrap() error { return e.Err }

// Code is what a client sees of an error.
type Code struct {
	Name      string // stable, snake_case
	Status    int    // HTTP status
	Message   string // safe to show: names no value, key or policy
	Retryable bool   // the same request may succeed later
}

type entry struct {
	err  error
	code Code
}

var catalogue = []entry{
	// Authentication and authorisation.
	{auth.ErrUnsupportedGrant, Code{"unsupported_grant_type", 400, "grant_type must be client_credentials", false}},
	{auth.ErrInvalidRequest, Code{"invalid_request", 400, "the token request is malformed", false}},
	{auth.ErrInvalidClient, Code{"invalid_client", 401, "client authentication failed", false}},
	{auth.ErrInvalidToken, Code{"invalid_token", 401, "the access token is not valid", false}},
	{ErrUnauthenticated, Code{"unauthenticated", 401, "a bearer access token is required", false}},
	{ErrForbidden, Code{"forbidden", 403, "you may not do this", false}},
	{policy.ErrCaseIDRequired, Code{"case_id_required", 403, "the policy requires a case id", false}},
	{policy.ErrPurposeNotAllowed, Code{"purpose_not_allowed", 403, "no policy allows this purpose for this dataset", false}},
	{policy.ErrOutsideValidity, Code{"policy_expired", 403, "the policy is not valid at this time", false}},
	{policy.ErrForbidden, Code{"forbidden_by_policy", 403, "a policy forbids this access", false}},
	{policy.ErrDenied, Code{"denied", 403, "no policy allows this access", false}},

	// Request bodies.
	{ErrTooLarge, Code{"body_too_large", 413, "the request body is too large", false}},
	{jsonstrict.ErrDuplicateKey, Code{"duplicate_key", 400, "the JSON repeats a key (or a case variant of one)", false}},
	{jsonstrict.ErrUnknownField, Code{"unknown_field", 400, "the JSON has a field this request does not take", false}},
	{jsonstrict.ErrInvalidUTF8, Code{"invalid_utf8", 400, "the JSON is not valid UTF-8", false}},
	{jsonstrict.ErrTooDeep, Code{"too_deep", 400, "the JSON is nested too deeply", false}},
	{jsonstrict.ErrSyntax, Code{"malformed_json", 400, "the body is not valid JSON", false}},
	{ErrBadSubject, Code{"invalid_subject", 400, "subject is not a resident identity number: 17 digits (area code, birth date, sequence) and a check character", false}},
	{ErrBadRequest, Code{"bad_request", 400, "the request is malformed", false}},
	{ErrUnknownDataset, Code{"unknown_dataset", 404, "no such dataset", false}},
	{ErrNotFound, Code{"not_found", 404, "no record found", false}},

	// Records.
	{record.ErrTooLarge, Code{"record_too_large", 413, "the record exceeds 1 MiB", false}},
	{keys.ErrRevoked, Code{"key_revoked", 422, "the record's signing key was revoked", false}},
	{record.ErrWrongIssuerKey, Code{"wrong_issuer_key", 422, "the record is signed with a key its issuer does not own", false}},
	{record.ErrUnknownKey, Code{"unknown_key", 422, "the record's key id is not in the key directory", false}},
	{keys.ErrWrongUse, Code{"wrong_key_use", 422, "the key is not a record key", false}},
	{record.ErrAlgorithm, Code{"algorithm_not_allowed", 422, "only EdDSA signatures are accepted", false}},
	{record.ErrType, Code{"bad_type", 422, "the record's typ must be onevisit+sd-jwt", false}},
	{record.ErrBadSignature, Code{"bad_signature", 422, "the record signature does not verify", false}},
	{record.ErrDuplicateDisclosure, Code{"duplicate_disclosure", 422, "a disclosure or field appears twice", false}},
	{record.ErrBadDisclosure, Code{"bad_disclosure", 422, "a disclosure does not match the signed digests", false}},
	{record.ErrMissingClaim, Code{"missing_claim", 422, "the record lacks a required claim", false}},
	{record.ErrNotValidNow, Code{"record_not_valid_now", 422, "the record is outside its exp/nbf window", false}},
	{record.ErrMalformed, Code{"malformed_record", 422, "the record is not a well-formed SD-JWT", false}},
	{ErrDatasetMismatch, Code{"dataset_mismatch", 422, "the record's dataset claim does not match where it was sent", false}},
	{ErrIssuerMismatch, Code{"issuer_mismatch", 422, "the record's issuer is not the submitting publisher", false}},
	{ErrNoGrant, Code{"no_grant", 403, "the publisher may not publish this dataset", false}},
	{schemas.ErrUnknownSchema, Code{"unknown_schema", 422, "the record names an unknown schema version", false}},
	{schemas.ErrInvalid, Code{"schema_violation", 422, "the record does not match its schema", false}},
	{ErrBadRecordID, Code{"bad_record_id", 422, "the record id must be letters, digits and . _ : - (at most 128), and not an identity number", false}},
	{ErrBadDelete, Code{"bad_delete", 422, "a delete record discloses exactly the subject field", false}},
	{ErrNoSubject, Code{"no_subject", 422, "the record has no subject field", false}},
	{ErrStale, Code{"stale", 409, "a newer record is already held for this subject", false}},

	// Dependencies.
	{ErrKeysStale, Code{"keys_stale", 503, "the exchange cannot confirm its keys now; retry later", true}},
	{keys.ErrUnavailable, Code{"keys_unavailable", 503, "the key service is unavailable; retry later", true}},
	{ErrUnavailable, Code{"unavailable", 503, "the exchange cannot write durably now; retry later", true}},

	// Key directory changes.
	{keys.ErrExchangeKey, Code{"exchange_key", 403, "the exchange's own keys are managed in the key backend only (break-glass procedure)", false}},
	{keys.ErrBadKID, Code{"bad_kid", 400, "jwk.kid must be <client>-<name>#<version>: letters, digits and . _ - only", false}},
	{keys.ErrKeyInUse, Code{"key_in_use", 409, "this public key is already registered to another client", false}},
	// Added later; kept at the end so the catalogue only grows.
	{record.ErrNoSubjectBinding, Code{"no_subject_binding", 422, "the record's sub_field claim must name the dataset's subject field, disclosed", false}},
	// Request fields (the error's pointer names the field).
	{ErrMissingField, Code{"missing_field", 400, "a required field is missing or empty (see pointer)", false}},
	{ErrBadCheckCharacter, Code{"bad_check_character", 400, "the last character of the resident identity number is not its check character", false}},
	{ErrLowercaseX, Code{"lowercase_check_character", 400, "the check character of a resident identity number must be an uppercase X, not x", false}},
	{ErrUnknownPurpose, Code{"unknown_purpose", 400, "no policy declares this purpose; check its spelling (lower snake case, e.g. school_enrolment)", false}},
	{ErrBadCaseID, Code{"bad_case_id", 400, "the case id must be 1 to 64 letters, digits and . _ : / -, and not contain an identity number", false}},
	{ErrMethodNotAllowed, Code{"method_not_allowed", 405, "this path does not take this method (see the Allow header)", false}},
	{ErrNoRoute, Code{"no_route", 404, "no such path; GET /openapi.json lists the API", false}},
	// Abuse limits.
	{ErrRateLimited, Code{"rate_limited", 429, "too many requests; retry after the Retry-After header's seconds", true}},
	{auth.ErrTooManyAssertions, Code{"rate_limited", 429, "too many requests; retry after the Retry-After header's seconds", true}},
	{ErrIATInFuture, Code{"iat_in_future", 422, "the record's iat is further in the future than the allowed clock skew", false}},
	{ErrSchemaNotOfDataset, Code{"schema_not_of_dataset", 422, "the record's schema is not a version of its dataset", false}},
	{ErrUnwritable, Code{"unwritable", 422, "the record's outcome could not be written; it was dead-lettered without its body", false}},
}

// Internal is the code of an error the catalogue does not know.
var Internal = Code{"internal", http.StatusInternalServerError, "internal error", false}

// Of returns the code for err.
func Of(err error) Code {
	for _, e := range catalogue {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return Internal
}

// Pointer returns the JSON pointer a field error, an unknown JSON member or
// a schema violation names, or "".
func Pointer(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Pointer
	}
	var ue *jsonstrict.UnknownFieldError
	if errors.As(err, &ue) {
		return ue.Pointer
	}
	var ve *schemas.ValidationError
	if errors.As(err, &ve) {
		return ve.Pointer
	}
	return ""
}

// All lists every code, for the OpenAPI document and the README.
func All() []Code {
	seen := map[string]bool{}
	var out []Code
	for _, e := range catalogue {
		if !seen[e.code.Name] {
			seen[e.code.Name] = true
			out = append(out, e.code)
		}
	}
	return append(out, Internal)
}
