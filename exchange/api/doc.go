// Package api is the exchange's HTTP interface: it authenticates,
// decodes, calls the flow behind the route (exchange/query for a query,
// exchange/ingest for a publish) and writes the answer or the error.
// Every route is declared
// once, in routes(), with the roles that may call it; a route without a
// role list cannot be registered, so nothing is reachable by accident
// (deny by default). /openapi.json describes exactly these routes, and a
// test keeps the two in step.
//
// Errors reach clients as {"error":{"code","message","pointer","request_id"}}
// (exchange/wire.ErrorBody) with the status of the code's kind in
// exchange/wire's catalogue; pointer is the JSON pointer of the
// request field at fault ("/subject", "/case_id"), when one is. The detail
// goes to the log under the same request id, with anything shaped like an
// identity number or credit code redacted (details quote client input:
// field names, client ids). Identity numbers, tokens and record contents
// are never logged. A path no route serves is 404 no_route, a method the
// path does not take 405 method_not_allowed with Allow, both in the same
// shape and counted (route label: the path's pattern, or "unmatched").
//
// The API document, GET /openapi.json (openapi.json here), is the one
// source of the contract: every request is checked against its operation
// there (parameters once the caller is authorized, the body once read
// within its limit and strictly decoded) by libopenapi-validator, and a
// mismatch is 400 with a pointer to the field, under the narrower code
// below where one applies, else request_schema (spec.go lists the
// mapping). Every status a route can answer is documented; tests keep
// the routes and the document in step (TestOpenAPIMatchesRoutes) and
// check the statuses (TestOpenAPIDocumentsStatuses) and the dataset enum
// against the schema registry (TestOpenAPIDatasetEnum); schemathesis
// checks a live node against it (deploy/schemathesis/run.sh).
//
// Request fields are checked before any policy decision, in this order,
// each refusal naming its field: dataset, subject and purpose present
// (missing_field); dataset in the catalogue (unknown_dataset); subject a
// resident identity number (bad_check_character, lowercase_check_character,
// invalid_subject), or a unified social credit code for a dataset about
// organisations (invalid_credit_code); purpose declared by some policy (unknown_purpose; a
// typo is not a denial); case id, if given, 1-64 letters, digits and
// . _ : / - with no identity number or credit code inside, in its
// purpose's format if the purpose declares one (bad_case_id).
// A query's audit entry records the purpose and case id only once they
// pass (the order and the checks are exchange/query's). Explain makes the same checks and lists in "conditions" the codes
// of refusals its decision does not show (case_id_required when asked
// without a case id; bad_case_id with the purpose's caseIdPattern in a
// reason; consent_required naming the fields released only with the
// citizen's consent).
//
// A query's audit entry is durably written (acks from all in-sync
// replicas of the audit topic) before its answer is sent; if it cannot be,
// the caller gets 503 and no data. The same holds for an access token, an
// explain answer and an officer's subject lookup or key change (with the
// officer's reason, which must be at most MaxReason characters, without
// control characters and without an identity number). A 4xx refusal of a
// caller whose token verified (403 for its role, 401 for a token no longer
// good, a malformed body) is audited as a deny entry naming the route and
// code, nothing of the body. Token refusals are audited under the client
// whose assertion verified, or with no actor. Those deny entries, token
// refusals and 429 answers, which a caller can repeat at no cost, are
// audited at most once a second per client, route and code (a query
// refused by policy is audited every time); the rest are counted in
// onevisit_api_audit_suppressed_total. See exchange/audit for the entries.
//
// Case bundles: POST /v1/cases (consumers) takes {procedure, case_id,
// subjects: {role: id}} and answers every evidence item of the procedure
// the exchange holds, each exactly as POST /v1/query would, plus the
// missing items with the departments that hold them
// (exchange/query.Service.Case has the checks and audit entries); GET
// /v1/procedures (public) lists the procedure catalogue of the policy
// this node decides by.
//
// Policy governance (officers; the node behind Deps.Governance, see
// exchange/doc.go "Policy governance"): POST /v1/policy/events takes one
// control event signed by the calling officer (exchange/control; its iss
// must be the caller), answers once this node applied it, and refuses
// bad_event, self_approval, already_approved, stale_base, needs_approval
// and unknown_proposal; GET /v1/policy/proposals lists the pending ones,
// GET /v1/policy/proposals/{id} reviews one (its diff, widenings and a
// what-if replay of this node's audit log, ?window=, default 30 days);
// GET /v1/policy/versions (public) lists the applied versions and the one
// the node decides by, which /healthz shows too (policy_version).
// POST /v1/policy/events takes policy.* actions only; POST
// /v1/clients/events takes clients.add and clients.disable the same way
// (refusing also client_exists and unknown_client), and GET /v1/clients
// lists the client registry, disabled clients included (officers).
// POST /v1/schemas/events takes schemas.propose (refusing also bad_schema
// and incompatible_schema), and GET /v1/schemas (public) lists each
// dataset's schema versions as the node holds them.
//
// Corrections (corrections.go; the node behind Deps.Corrections, see
// exchange/corrections.go): POST /v1/corrections (consumers) files a
// correction of one field of a record the caller received, resting on the
// record and receipt it was given: the receipt must verify, be issued to
// the caller in the last 30 days and match the record, the record must
// verify and carry the receipt's subject, and the field must be one the
// receipt released (not_received otherwise); the reason is checked like an
// officer's. It is routed to the record's issuer, open. GET
// /v1/corrections (publishers) lists those routed to the caller;
// GET /v1/corrections/{id} shows one to its filer or its department
// (unknown_correction to anyone else); POST /v1/corrections/{id} (the
// department) accepts or rejects an open one (correction_decided once
// decided).
//
// For the officer console and the citizen page (exchange/webui):
// GET /v1/policy/current (officers) serves the policy set in force as
// the canonical YAML a proposal carries; GET /v1/clients (officers) the
// registered clients; GET /v1/audit/entries with filter parameters
// (consumer, case_id, dataset, kind, code, from, to; officers) searches
// the latest 100000 entries, or [start, end), newest first, and GET
// /v1/audit/rejections (officers) counts the records refused at ingest
// by dataset and code (auditsearch.go). The citizen routes (role citizen) take a
// resident's OpenID Connect ID token instead of an access token
// (Deps.Citizens, exchange/citizen; 404 when not configured, 401
// unauthenticated without a token, 401 invalid_token for one that does
// not verify, 403 for a client's access token; these refusals name no
// client and are not audited): GET
// /v1/me/accesses lists every audit entry about the token's resident,
// newest first, each with its exact bytes for the inclusion proof, and
// refuses any query parameter (400 naming it: the subject comes from the
// token only, so a resident cannot ask for another's entries); POST
// /v1/me/corrections files a request to correct one field of a dataset
// (a field of its schema, not the subject; a comment checked as an
// officer's reason is) in the correction workflow of /v1/corrections:
// about the record the node holds of the resident in that dataset (404
// not_found naming /dataset when none), routed to its publisher's inbox
// with filer "(resident)", answered 201 with the open correction once it
// is audited and in the inbox; at most 5 an hour per resident and node
// (429 rate_limited: each is an audit entry). GET /v1/me/corrections
// lists the resident's corrections with their status as the department
// decides them. GET /v1/me/config (public) names the sign-in page.
//
// Abuse bounds, per node:
//   - rate limits and daily quotas of the consumer's access policies
//     (policy.Set.Limits) on every query, refused ones included, and on
//     every explain call of a consumer: 429
//     rate_limited with Retry-After (seconds until a token is free, or
//     until the next UTC day for a quota);
//   - body limits per route (16 KiB for token, query, explain, keys and
//     audit; 64 MiB for publish; control.MaxEventSize + 1 KiB for a policy
//     event, which carries a whole policy set; record.MaxSize + 64 KiB for
//     a correction, which carries a received record; 8 KiB for a
//     correction's decision); a body that declares more
//     is refused 413 before any of it is read;
//   - PublishBytesInFlight (default 64 MiB) of publish bodies admitted at
//     once, by declared size (the route limit for a body of unknown
//     length); a publish waits up to 5 s for room, then gets 503 with
//     Retry-After;
//   - a client whose live client assertions fill its replay share gets
//     429 slow_down at the token endpoint (exchange/auth).
//
// Metrics (on the registry passed in):
//
//	onevisit_api_requests_total{route,code}
//	onevisit_api_request_seconds{method,route}  histogram, every route (route: the pattern)
//	onevisit_query_seconds{decision}            permit|deny|not_found|error
//	onevisit_api_rate_limited_total{client}     429 answers (queries and token requests)
//	onevisit_api_audit_suppressed_total{kind}   refusals not audited (see above)
//	onevisit_api_publish_bytes_in_flight        bytes of publish bodies admitted now
//
// and, from the query flow it calls (exchange/query), on the same registry:
//
//	onevisit_policy_decisions_total{dataset,decision}
//	onevisit_query_distinct_subjects_total{consumer}
package api
