// Package api is the exchange's HTTP interface. Every route is declared
// once, in routes(), with the roles that may call it; a route without a
// role list cannot be registered, so nothing is reachable by accident
// (deny by default). /openapi.json describes exactly these routes, and a
// test keeps the two in step.
//
// Errors reach clients as {"error":{"code","message","request_id"}} with
// the status of exchange/codes; the detail goes to the log under the same
// request id. Identity numbers, tokens and record contents are never
// logged.
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
