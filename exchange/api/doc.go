// Package api is the exchange's HTTP interface. Every route is declared
// once, in routes(), with the roles that may call it; a route without a
// role list cannot be registered, so nothing is reachable by accident
// (deny by default). /openapi.json describes exactly these routes, and a
// test keeps the two in step.
//
// Errors reach clients as {"error":{"code","message","pointer","request_id"}}
// with the status of exchange/codes; pointer is the JSON pointer of the
// request field at fault ("/subject", "/case_id"), when one is. The detail
// goes to the log under the same request id, with anything shaped like an
// identity number or credit code redacted (details quote client input:
// field names, client ids). Identity numbers, tokens and record contents
// are never logged. A path no route serves is 404 no_route, a method the
// path does not take 405 method_not_allowed with Allow, both in the same
// shape and counted (route label: the path's pattern, or "unmatched").
//
// Request fields are checked before any policy decision, in this order,
// each refusal naming its field: dataset, subject and purpose present
// (missing_field); dataset in the catalogue (unknown_dataset); subject a
// resident identity number (bad_check_character, lowercase_check_character,
// invalid_subject); purpose declared by some policy (unknown_purpose; a
// typo is not a denial); case id, if given, 1-64 letters, digits and
// . _ : / - with no identity number or credit code inside (bad_case_id).
// A query's audit entry records the purpose and case id only once they
// pass. Explain makes the same checks and lists in "conditions" the codes
// of refusals its decision does not show (case_id_required when asked
// without a case id).
//
// A query's audit entry is durably written (acks from all in-sync
// replicas of the audit topic) before its answer is sent; if it cannot be,
// the caller gets 503 and no data.
//
// Metrics (on the registry passed in):
//
//	onevisit_api_requests_total{route,code}
//	onevisit_query_seconds{decision}            permit|deny|not_found|error
//	onevisit_policy_decisions_total{dataset,decision}
package api
