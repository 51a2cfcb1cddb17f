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
//     (bad_check_character, lowercase_check_character, invalid_subject);
//     purpose declared by some policy (unknown_purpose); case id, if
//     given, 1-64 letters, digits and . _ : / - with no identity number or
//     credit code inside (bad_case_id). Each refusal is a
//     *codes.FieldError naming the field by JSON pointer, never its value;
//  3. the policy decision (default deny; denied, purpose_not_allowed,
//     case_id_required, ...);
//  4. the view caught up with the accepted topics (unavailable) and the
//     key versions fresh enough to trust (keys_stale);
//  5. a record for the subject's pseudonym in the view (not_found);
//  6. its signing key not revoked as of its acceptance (key_revoked);
//  7. the projection: the record with only the disclosures of the fields
//     the policy releases plus the dataset's subject field, whose
//     disclosure binds the answer to the identifier asked about
//     (exchange/record, subject binding);
//  8. the receipt (exchange/receipt), signed by the exchange, naming the
//     record, its digest, the released fields, purpose, case id and
//     policy.
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
package query
