package wire

import (
	"errors"
	"net/http"
)

// Kind is the class of an error: what went wrong, independent of which
// layer noticed. The kind decides the HTTP status and whether a retry may
// help.
type Kind uint8

const (
	KindInternal         Kind = iota // a fault of the exchange (500)
	KindInvalid                      // the request is malformed (400)
	KindUnauthenticated              // no usable credentials (401)
	KindPermission                   // the caller may not do this (403)
	KindNotExist                     // no such thing (404)
	KindMethodNotAllowed             // the path does not take the method (405)
	KindConflict                     // it contradicts what is already held (409)
	KindTooLarge                     // the body or record is over its limit (413)
	KindRejected                     // a well-formed record that fails a check (422)
	KindRateLimited                  // over a rate limit; retry later (429)
	KindUnavailable                  // a dependency is away; retry later (503)
	KindSourceTimeout                // a department's live source did not answer in time; retry later (504)
)

var kindStatus = [...]int{
	KindInternal:         http.StatusInternalServerError,
	KindInvalid:          http.StatusBadRequest,
	KindUnauthenticated:  http.StatusUnauthorized,
	KindPermission:       http.StatusForbidden,
	KindNotExist:         http.StatusNotFound,
	KindMethodNotAllowed: http.StatusMethodNotAllowed,
	KindConflict:         http.StatusConflict,
	KindTooLarge:         http.StatusRequestEntityTooLarge,
	KindRejected:         http.StatusUnprocessableEntity,
	KindRateLimited:      http.StatusTooManyRequests,
	KindUnavailable:      http.StatusServiceUnavailable,
	KindSourceTimeout:    http.StatusGatewayTimeout,
}

// Status is the HTTP status of errors of kind k.
func (k Kind) Status() int {
	if int(k) < len(kindStatus) {
		return kindStatus[k]
	}
	return http.StatusInternalServerError
}

// Retryable reports whether the same request may succeed later: only
// when a dependency is away (a department's live source included) or the
// caller is over a limit.
func (k Kind) Retryable() bool {
	return k == KindUnavailable || k == KindRateLimited || k == KindSourceTimeout
}

// Code is what a client sees of an error.
type Code struct {
	Name      string // stable, snake_case
	Kind      Kind
	Status    int    // HTTP status: Kind.Status()
	Message   string // safe to show: names no value, key or policy
	Retryable bool   // the same request may succeed later: Kind.Retryable()
}

func code(name string, k Kind, message string) Code {
	return Code{Name: name, Kind: k, Status: k.Status(), Message: message, Retryable: k.Retryable()}
}

// Internal is the code of an error that carries no known code.
var Internal = code("internal", KindInternal, "internal error")

// catalogue lists every code once. Its order is precedence: when an
// error carries several codes, Of returns the one listed first, so more
// specific codes come before more general ones. New codes go at the end.
var catalogue = []Code{
	// Authentication and authorisation.
	code("unsupported_grant_type", KindInvalid, "grant_type must be client_credentials"),
	code("invalid_request", KindInvalid, "the token request is malformed"),
	code("invalid_client", KindUnauthenticated, "client authentication failed"),
	code("invalid_token", KindUnauthenticated, "the access token is not valid"),
	code("unauthenticated", KindUnauthenticated, "a bearer access token is required"),
	code("forbidden", KindPermission, "you may not do this"),
	code("case_id_required", KindPermission, "the policy requires a case id"),
	code("purpose_not_allowed", KindPermission, "no policy allows this purpose for this dataset"),
	code("policy_expired", KindPermission, "the policy is not valid at this time"),
	code("forbidden_by_policy", KindPermission, "a policy forbids this access"),
	code("denied", KindPermission, "no policy allows this access"),

	// Request bodies.
	code("body_too_large", KindTooLarge, "the request body is too large"),
	code("duplicate_key", KindInvalid, "the JSON repeats a key (or a case variant of one)"),
	code("unknown_field", KindInvalid, "the JSON has a field this request does not take"),
	code("invalid_utf8", KindInvalid, "the JSON is not valid UTF-8"),
	code("too_deep", KindInvalid, "the JSON is nested too deeply"),
	code("malformed_json", KindInvalid, "the body is not valid JSON"),
	code("invalid_subject", KindInvalid, "subject is not a resident identity number: 17 digits (area code, birth date, sequence) and a check character"),
	code("bad_request", KindInvalid, "the request is malformed"),
	code("unknown_dataset", KindNotExist, "no such dataset"),
	code("not_found", KindNotExist, "no record found"),

	// Records.
	code("record_too_large", KindTooLarge, "the record exceeds 1 MiB"),
	code("key_revoked", KindRejected, "the record's signing key was revoked"),
	code("wrong_issuer_key", KindRejected, "the record is signed with a key its issuer does not own"),
	code("unknown_key", KindRejected, "the record's key id is not in the key directory"),
	code("wrong_key_use", KindRejected, "the key is not a record key"),
	code("algorithm_not_allowed", KindRejected, "only EdDSA signatures are accepted"),
	code("bad_type", KindRejected, "the record's typ must be onevisit+sd-jwt"),
	code("bad_signature", KindRejected, "the record signature does not verify"),
	code("duplicate_disclosure", KindRejected, "a disclosure or field appears twice"),
	code("bad_disclosure", KindRejected, "a disclosure does not match the signed digests"),
	code("missing_claim", KindRejected, "the record lacks a required claim"),
	code("record_not_valid_now", KindRejected, "the record is outside its exp/nbf window"),
	code("malformed_record", KindRejected, "the record is not a well-formed SD-JWT"),
	code("dataset_mismatch", KindRejected, "the record's dataset claim does not match where it was sent"),
	code("issuer_mismatch", KindRejected, "the record's issuer is not the submitting publisher"),
	code("no_grant", KindPermission, "the publisher may not publish this dataset"),
	code("unknown_schema", KindRejected, "the record names an unknown schema version"),
	code("schema_violation", KindRejected, "the record does not match its schema"),
	code("bad_record_id", KindRejected, "the record id must be letters, digits and . _ : - (at most 128), and not an identity number"),
	code("bad_delete", KindRejected, "a delete record discloses exactly the subject field"),
	code("no_subject", KindRejected, "the record has no subject field"),
	code("stale", KindConflict, "a newer record is already held for this subject"),

	// Dependencies.
	code("keys_stale", KindUnavailable, "the exchange cannot confirm its keys now; retry later"),
	code("keys_unavailable", KindUnavailable, "the key service is unavailable; retry later"),
	code("unavailable", KindUnavailable, "the exchange cannot write durably now; retry later"),

	// Key directory changes.
	code("exchange_key", KindPermission, "the exchange's own keys are managed in the key backend only (break-glass procedure)"),
	code("bad_kid", KindInvalid, "jwk.kid must be <client>-<name>#<version>: letters, digits and . _ - only"),
	code("key_in_use", KindConflict, "this public key is already registered to another client"),
	// Added later; kept at the end so the catalogue only grows.
	code("no_subject_binding", KindRejected, "the record's sub_field claim must name the dataset's subject field, disclosed"),
	// Request fields (the error's pointer names the field).
	code("missing_field", KindInvalid, "a required field is missing or empty (see pointer)"),
	code("bad_check_character", KindInvalid, "the last character of the resident identity number is not its check character"),
	code("lowercase_check_character", KindInvalid, "the check character of a resident identity number must be an uppercase X, not x"),
	code("unknown_purpose", KindInvalid, "no policy declares this purpose; check its spelling (lower snake case, e.g. school_enrolment)"),
	code("bad_case_id", KindInvalid, "the case id must be 1 to 64 letters, digits and . _ : / -, not contain an identity number, and match its purpose's format (explain shows it)"),
	code("method_not_allowed", KindMethodNotAllowed, "this path does not take this method (see the Allow header)"),
	code("no_route", KindNotExist, "no such path; GET /openapi.json lists the API"),
	// Abuse limits.
	code("rate_limited", KindRateLimited, "too many requests; retry after the Retry-After header's seconds"),
	code("iat_in_future", KindRejected, "the record's iat is further in the future than the allowed clock skew"),
	code("schema_not_of_dataset", KindRejected, "the record's schema is not a version of its dataset"),
	code("unwritable", KindRejected, "the record's outcome could not be written; it was dead-lettered without its body"),
	// Audit log proofs and pages.
	code("bad_range", KindInvalid, "an index, size or range is missing, not a decimal number, reversed, or wider than the page limit (see pointer)"),
	code("beyond_log", KindNotExist, "the audit log has not reached this index or size; take the size from GET /v1/audit/checkpoint"),
	// Consent (exchange/query).
	code("consent_required", KindPermission, "the policy releases this only with the citizen's consent for this purpose, and none is in force"),
	// Policy governance (exchange/control).
	code("bad_event", KindInvalid, "the control-plane event is malformed, badly signed, or not signed by an officer's active key"),
	code("self_approval", KindPermission, "an officer cannot approve their own proposal; another officer must"),
	code("already_approved", KindConflict, "this officer already approved the proposal; another officer must"),
	code("stale_base", KindConflict, "the proposal's base version is no longer current; review the current version and propose again"),
	code("needs_approval", KindPermission, "the change widens access: propose it for approval instead of narrowing now"),
	code("unknown_proposal", KindNotExist, "no pending proposal has this id (see GET /v1/policy/proposals)"),
	// Procedures and case bundles (exchange/query, POST /v1/cases).
	code("invalid_credit_code", KindInvalid, "subject is not a unified social credit code: 18 characters of 0-9 A-H J-N P-R T U W-Y with a valid check character"),
	code("unknown_procedure", KindInvalid, "no procedure of this name is in the catalogue (see GET /v1/procedures)"),
	code("role_not_in_procedure", KindInvalid, "the procedure's evidence names no subject of this role (see GET /v1/procedures; the pointer names it)"),
	code("procedure_not_yours", KindPermission, "the procedure is run by another service"),
	// Live query (exchange/livequery.go).
	code("source_timeout", KindSourceTimeout, "the department that holds this dataset gave no valid answer in time; retry later"),
	code("reply_mismatch", KindRejected, "the live answer is not for the request or the subject it answers"),
	// Clients at runtime (exchange/control).
	code("client_exists", KindConflict, "this client id, key id or public key is registered already; ids and kids are never reused"),
	code("unknown_client", KindNotExist, "no enabled client has this id (see GET /v1/clients)"),
	// Schemas at runtime (schemas, policy).
	code("bad_schema", KindInvalid, "the schema file is not strict JSON, leaves the OneVisit schema profile, or is not the next version of a served dataset"),
	code("incompatible_schema", KindConflict, "the schema version breaks its dataset's compatibility mode against the latest version"),
	code("unknown_policy_field", KindInvalid, "the policy names a field that no schema version of its dataset defines"),
	// Corrections (exchange/corrections.go).
	code("not_received", KindPermission, "a correction names a field of a record its filer received (a query answer or a delivery) in the last 30 days"),
	code("unknown_correction", KindNotExist, "no correction with this id was filed by you or routed to you"),
	code("correction_decided", KindConflict, "the correction was already accepted or rejected"),
	// Requests checked against the API document (exchange/api/spec.go).
	code("request_schema", KindInvalid, "the request does not match its operation in GET /openapi.json (see pointer)"),
}

// rank is each code's position in the catalogue.
var rank = func() map[string]int {
	m := make(map[string]int, len(catalogue))
	for i, c := range catalogue {
		m[c.Name] = i
	}
	return m
}()

// Lookup returns the code named name; ok is false for a name the
// catalogue does not list.
func Lookup(name string) (c Code, ok bool) {
	if name == Internal.Name {
		return Internal, true
	}
	i, ok := rank[name]
	if !ok {
		return Internal, false
	}
	return catalogue[i], true
}

// All lists every code, in precedence order, ending with Internal: for
// the OpenAPI document and the README.
func All() []Code {
	return append(append([]Code(nil), catalogue...), Internal)
}

// Coder is implemented by errors that carry their code: a package's
// sentinels, each naming one code of the catalogue.
type Coder interface {
	error
	Code() string
}

// Pointerer is implemented by errors about one field of a request or
// record: Pointer is its JSON pointer (RFC 6901), e.g. "/subject".
type Pointerer interface {
	error
	JSONPointer() string
}

// Of returns the code of err: of all codes carried by errors in err's
// tree, the one listed first in the catalogue; Internal when there is
// none (or err is nil).
func Of(err error) Code {
	best := -1
	walk(err, func(e error) {
		c, ok := e.(Coder)
		if !ok {
			return
		}
		if i, ok := rank[c.Code()]; ok && (best < 0 || i < best) {
			best = i
		}
	})
	if best < 0 {
		return Internal
	}
	return catalogue[best]
}

// walk calls f for err and every error it wraps, depth first.
func walk(err error, f func(error)) {
	for err != nil {
		f(err)
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e, f)
			}
			return
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return
		}
	}
}

// Pointer returns the JSON pointer of the first error in err's tree
// that names one (a Pointerer), or "".
func Pointer(err error) string {
	var p Pointerer
	if errors.As(err, &p) {
		return p.JSONPointer()
	}
	return ""
}

// WithCode returns an error with err's message that wraps err and carries
// the code named name: a package's sentinel, as in
//
//	var ErrStale = wire.WithCode("stale", errors.New("record older than the one held"))
//
// errors.Is matches the returned error itself (compare with it, not with
// err). Name must be listed in the catalogue (see All); the package's
// tests check that its sentinels map to the code they name.
func WithCode(name string, err error) error {
	return &codedError{name: name, err: err}
}

type codedError struct {
	name string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Code() string  { return e.name }
func (e *codedError) Unwrap() error { return e.err }
