// Package policy is OneVisit's access policy model and decision engine:
// who may publish which dataset, and which consumer may read which fields
// of which dataset for which purpose. It denies by default, and every
// decision says why.
//
// # Documents
//
// Policies are YAML files (*.yaml, *.yml) holding one or more documents
// separated by "---", each with exactly the keys kind, metadata and spec.
// Decoding is strict: an unknown key anywhere is an error, never ignored.
//
//	kind: PublisherGrant
//	metadata: {name: public-security-household, description: "..."}
//	spec:
//	  publisher: public-security      # client id
//	  datasets: [household]           # one or more datasets
//
//	kind: AccessPolicy
//	metadata: {name: school-enrolment-household}
//	spec:
//	  consumer: school-enrolment      # client id
//	  dataset: household
//	  purposes: [school_enrolment]    # one or more, lower snake case
//	  fields: [name, birth_date]      # one or more, each defined by the dataset's schema
//	  requireCaseId: true             # optional, default false
//	  validFrom: 2026-01-01T00:00:00Z # optional, RFC 3339 with zone, inclusive
//	  validUntil: 2027-12-31T23:59:59Z # optional, inclusive, not before validFrom
//	  limits: {rate: 50/s, burst: 100, daily: 100000} # optional, see Limits
//
//	kind: Forbid
//	metadata: {name: never-share-ethnicity}
//	spec:
//	  consumer: "*"                   # a client id, or "*" for every consumer
//	  dataset: household
//	  fields: [ethnicity]             # field names, or ["*"] for every field
//
// metadata.name is unique across the whole set (lower case letters,
// digits, '-' and '.'); metadata.description is optional free text. Client
// ids are letters, digits, '.', '_' and '-'. Lists may not repeat an entry.
// Datasets and fields are checked against a Catalog (the schema registry):
// a policy naming an unknown dataset or a field no version of the schema
// defines does not load. An access policy lists its fields one by one;
// there is no wildcard that would grant fields a schema adds later. Only a
// Forbid may say "*", because a wider forbid can only take access away.
// Empty documents (a trailing "---") are skipped. YAML aliases are refused.
//
// # Decisions
//
// Decide answers a Request (consumer, dataset, purpose, case id, time):
//
//  1. Default deny: with no access policy for the consumer and dataset,
//     the answer is deny.
//  2. An access policy permits when it lists the request's purpose, the
//     time lies in its validity window (both ends inclusive; a zero
//     Request.Time means now), and, if requireCaseId, the case id is not
//     empty.
//  3. The fields of all permitting policies are united.
//  4. Forbid beats permit: every Forbid for the consumer or "*" and the
//     dataset removes its fields from the union. If nothing is left, the
//     answer is deny.
//
// Reasons are sentences that start with "permit:", "forbid:" or "deny:",
// for example
//
//	permit: policy school-enrolment-household allows 5 fields of household for purpose school_enrolment
//	deny: no policy lets school-enrolment read tax for any purpose
//	deny: policy school-enrolment-household requires a case id
//
// They name policies, so show them to officers and write them to the
// audit log, but do not return them to the requesting client. A permit
// lists the permitting and forbidding reasons; a deny lists why each
// considered policy did not permit. MayPublish answers the same way from
// the PublisherGrant documents.
//
// A Set is immutable and safe for concurrent use; Decide does no I/O and
// allocates little (see BenchmarkDecide). Version is a sha256 over the
// canonical form of the documents, so audit entries can name the exact
// policy that decided. Diff lists who gains or loses which fields (and
// publish grants) between two sets, for the second officer who approves
// a change.
//
// # Limits
//
// An access policy may bound how often its consumer queries (explain calls
// count as queries): rate is
// "<n>/s", "<n>/m" or "<n>/h" (a token bucket refilled at that rate),
// burst the bucket's size (default: the rate per second rounded up, at
// least 1), daily the most queries per UTC day; at least one of rate and
// daily. Limits count per consumer and purpose, across datasets; where
// several policies limit the same consumer and purpose, the stricter of
// each number applies. A query whose purpose no limited policy of the
// consumer lists (an unknown or mistyped purpose included) counts against
// one shared bucket per consumer with the strictest limits that consumer
// has, so refused queries are bounded too. A consumer none of whose
// policies declares limits is not limited. Set.Limits answers which
// bucket a query counts against; the exchange enforces it (429
// rate_limited with Retry-After) on each node separately.
//
// # Errors
//
// Decision.Err returns nil for a permit, otherwise a *DenyError wrapping
// ErrDenied and, where it applies, one of ErrCaseIDRequired (resend with
// the case id), ErrPurposeNotAllowed, ErrOutsideValidity (an officer must
// renew the policy) or ErrForbidden. When several policies failed
// differently, the most specific cause wins: case id, then validity, then
// purpose. KnownPurpose says whether any AccessPolicy declares a purpose at
// all; the API refuses an undeclared one (a typo) before deciding, as
// unknown_purpose rather than a denial.
//
// Load and Parse never return a partial Set. Their error joins one
// *LoadError per problem, each naming file, line and column, wrapping
// ErrInvalid and one of ErrNotYAML, ErrUnknownKey, ErrUnknownKind,
// ErrMissing, ErrDuplicate, ErrUnknownDataset, ErrUnknownField,
// ErrBadValue or ErrBadValidity. Keep the previous Set and show the
// errors to the author of the change. Lines of YAML syntax errors are as
// go.yaml.in/yaml/v3 reports them and may point at the start of the
// enclosing flow collection rather than the offending character.
package policy
