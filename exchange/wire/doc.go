// Package wire is the contract between the exchange and its clients: the
// types that cross the wire and the catalogue of error codes. Both the
// exchange (ingest, api) and the connector SDK import it; it imports
// nothing from this module, so a department's connector never compiles
// the acceptance pipeline, the audit log or the policy engine. The record
// format (exchange/record), receipts (exchange/receipt) and keys
// (exchange/keys) are wire-side too and stay in their own packages.
//
// # Answers
//
// Result is the answer for one published record (Status accepted,
// duplicate or rejected, with a code for a rejection), the same over
// HTTP (PublishResponse) and in the dead-letter topic. QueryAnswer is the
// body of a successful POST /v1/query. ErrorBody is the body of every
// error answer except the token endpoint's (RFC 6749 §5.2 shapes those):
//
//	{"error":{"code":"...","message":"...","pointer":"/field","request_id":"..."}}
//
// # Error codes
//
// A Code is what a client sees of an error: a stable snake_case name, an
// HTTP status, a safe message (it names no value, key or policy) and
// whether the same request may succeed later. Codes never change meaning;
// All lists them (testdata/codes.golden pins the list). Each code has a
// Kind, a small closed set as in upspin's errors.Kind; the kind alone
// decides the HTTP status and retryability (Kind.Status, Kind.Retryable),
// in one place.
//
// Each package maps its own errors: a sentinel carries its code name by
// implementing Coder (WithCode makes one; schemas and policy, which import
// nothing from exchange, have their own small type). Of finds every code
// in an error's tree (Unwrap, including joined errors) and returns the one
// listed first in the catalogue, so more specific codes win: a policy
// denial that wraps both denied and case_id_required is case_id_required.
// An error that carries no known code is Internal (500). Pointer finds the
// JSON pointer (RFC 6901) of the request field an error is about, from the
// first error in the tree that implements Pointerer.
package wire
