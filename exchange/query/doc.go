// Package query is the exchange's query flow: a consumer's request for
// one subject's record in one dataset, for a stated purpose, answered
// from the node's materialised view. It sits beside package ingest (the
// publishing side); exchange/api only decodes the HTTP body, calls
// Service.Do and writes the answer or the error.
//
// Do decides, in this order, and the first refusal ends the query:
//
//  1. the caller's limits (Request.Limit: rate limits and daily quotas of
//     the consumer's policies; rate_limited);
//  2. dataset, subject and purpose present (missing_field); dataset in the
//     catalogue (unknown_dataset); subject a resident identity number
//     (bad_check_character, lowercase_check_character, invalid_subject),
//     or for a dataset whose subject field is a unified social credit
//     code (business_licence) a valid one (invalid_credit_code);
//     purpose declared by some policy (unknown_purpose); case id, if
//     given, 1-64 letters, digits and . _ : / - with no identity number or
//     credit code inside, and matching the caseIdPattern its purpose's
//     Purpose document declares, if any (bad_case_id;
//     policy.Set.CheckCaseID). Each refusal is a *codes.FieldError naming
//     the field by JSON pointer, never its value;
//  3. the policy decision (default deny; denied, purpose_not_allowed,
//     case_id_required, ...);
//  4. the view caught up with the accepted topics (unavailable) and the
//     key versions fresh enough to trust (keys_stale);
//  5. consent, when the decision releases some fields only with the
//     citizen's consent (Decision.ConsentFields, from policies with
//     conditions {consent: required}): those fields go only while a
//     consent of this consumer for this purpose is in force (see
//     Consent); without one the other fields go, and with none left the
//     query is refused consent_required (403, ErrConsentRequired);
//  6. a record for the subject's pseudonym in the view (not_found);
//  7. its signing key not revoked as of its acceptance (key_revoked);
//  8. the projection: the record with only the disclosures of the fields
//     the policy releases plus the dataset's subject field, whose
//     disclosure binds the answer to the identifier asked about
//     (exchange/record, subject binding);
//  9. the receipt (exchange/receipt), signed by the exchange, naming the
//     record, its digest, the released fields, purpose, case id and
//     policy.
//
// # Consent
//
// Consents are records of the consent dataset (ConsentDataset, schema
// consent/v1), published by the consent service (a client of role
// consent) through the ordinary signed-record ingest under its
// PublisherGrant; nobody else may publish them (no_grant), and no
// consumer reads them unless a policy says so. The latest consent record
// of a citizen in the view is the citizen's whole consent state: its
// field consents lists the consents in force, separated by single
// spaces, each consumer:purpose or consumer:purpose:until, until the last
// day (YYYY-MM-DD, China time, inclusive) it is in force. A withdrawal is
// a new record without the entry (or without the field), and takes
// effect as soon as this node's view holds it. A consent record counts
// only if its issuer may publish the consent dataset under the policy
// deciding the query and its key was not revoked before its acceptance;
// an entry that does not parse consents to nothing. The query's audit
// entry carries consent (in_force or absent) and consent_record_id (the
// consent record read, if the citizen has one) whenever the decision
// required consent.
//
// # Live datasets
//
// A dataset named by a PublisherGrant with mode: live (policy.Set.Live)
// is not held in the view: at step 6 Do asks Deps.Live (the node's
// LiveSource, exchange/livequery.go) for the record, which forwards the
// query on request.<dataset> to the department's responder and waits
// for a reply that verifies as ingest verifies a record and is bound to
// this request and subject (exchange/live, "Reply"). The rest is the same
// as for a held record: revocation check, projection, receipt, audit
// entry (its record_id is the live record's, the request id). A reply
// that says the department holds nothing is not_found; no valid reply
// before the deadline (Parts.LiveTimeout, default 5 s) is source_timeout
// (504, ErrSourceTimeout), audited like any refusal.
//
// Promises: every outcome, refusals included, is durably audited (an
// audit.KindQuery entry, exchange/audit) before Do returns; if the entry
// cannot be written the caller gets codes.ErrUnavailable and nothing is
// released. The entry holds the subject's pseudonym, never the identity
// number, and the purpose and case id only once they have passed their
// checks (the audit log is permanent). Nothing but the released fields
// leaves: Answer.Data is read back from the projected record itself.
// Audited tells the caller which errors already have their audit entry.
//
// The field checks (Required, CheckDataset, CheckSubject, CheckPurpose,
// CheckCaseID) are exported so that a policy explanation makes the same
// checks as a query and never permits what the query then refuses.
//
// Metrics (on Deps.Metrics):
//
//	onevisit_policy_decisions_total{dataset,decision}   permit|deny, one per query that reaches the policy
//	onevisit_query_distinct_subjects_total{consumer}
//	    subjects a consumer asked about (after the policy permitted) for the
//	    first time in the current UTC hour; at most 65,536 remembered per
//	    consumer and hour (8 bytes each), past that every subject counts.
//	    Its rate is the scraping signal: deploy/prometheus/rules.yaml
//	    alerts on it. No subject ever becomes a label.
//	onevisit_case_records_delivered_total{procedure}
//	    evidence records released in case bundles: each a paper the citizen
//	    did not fetch from a department
//	onevisit_cases_total{procedure,outcome}   complete (nothing missing) | incomplete
//	onevisit_case_assembly_seconds{procedure}
//	    histogram of the time to assemble a bundle, every item decided and
//	    audited (the case's audit entry carries the same, elapsed_us)
//
// The procedure label is a procedure of the catalogue (checked before
// anything is counted), so it is bounded by the policy.
//
// # Case bundles
//
// Case (POST /v1/cases) answers a procedure of the policy's catalogue
// (policy.Procedure) in one call: every evidence item whose role has a
// subject is answered by Do exactly as a query would be, for the
// procedure's purpose and the case id, with Request.Fields narrowing the
// release to the fields the procedure names and Request.Procedure naming
// it in the item's audit entry. Items run concurrently. An item refused
// for itself (not_found, denied, consent_required, ...) is listed as
// missing with the publishers granted its dataset; the case as a whole
// is refused only for bad input (unknown_procedure, role_not_in_procedure,
// invalid_credit_code for the company role, the subject and case-id checks
// above), the wrong service (procedure_not_yours) or the caller's limits
// (one count per item), and fails on an outage. After the items the
// exchange signs a case receipt over the whole bundle
// (receipt.CaseClaims: each item by the digest of its receipt, each
// missing item by its reason), so nobody on the way can drop an item or
// pass it off as missing; then one audit entry of kind case records the procedure, the case id, whether
// the case was complete and the assembly time. Subjects are resident IDs,
// or unified social credit codes for datasets about organisations
// (CheckSubjectOf: the dataset's subject field's format decides).
package query
