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
//	  mode: live                      # optional: replicated (default) or live
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
//	  conditions: {consent: required} # optional; consent: required or none (default)
//
//	kind: Forbid
//	metadata: {name: never-share-ethnicity}
//	spec:
//	  consumer: "*"                   # a client id, or "*" for every consumer
//	  dataset: household
//	  fields: [ethnicity]             # field names, or ["*"] for every field
//
//	kind: Purpose
//	metadata: {name: school-enrolment, description: "..."}
//	spec:
//	  purpose: school_enrolment       # lower snake case, declared once in the set
//	  caseIdPattern: '^SE-\d{4}-\d{4,}$' # optional Go regexp, see Purposes
//
//	kind: Procedure
//	metadata: {name: procedure-newborn-registration, description: "..."}
//	spec:
//	  procedure: newborn_registration # lower snake case, declared once in the set
//	  purpose: newborn_registration   # declared by a Purpose document (its case-id format)
//	  service: newborn-registration   # client id of the consumer that runs it
//	  evidence:                       # one or more, in the order the bundle lists them
//	    - dataset: birth              # in the catalogue
//	      role: child                 # one of Roles
//	      fields: [name, birth_date]  # one or more, each defined by the dataset's schema
//
//	kind: Subscription
//	metadata: {name: pension-service-death}
//	spec:
//	  consumer: pension-service       # client id
//	  dataset: death
//	  purpose: pension_termination    # exactly one, declared by a Purpose document
//	  fields: [resident_id, death_date] # one or more, each defined by the dataset's schema
//
// metadata.name is unique across the whole set (lower case letters,
// digits, '-' and '.'); metadata.description is optional free text. Client
// ids are letters, digits, '.', '_' and '-'. Lists may not repeat an entry.
// Datasets and fields are checked against a Catalog (the schema registry):
// a policy naming an unknown dataset or a field no version of the schema
// defines does not load. An access policy lists its fields one by one;
// there is no wildcard that would grant fields a schema adds later. Only a
// Forbid may say "*", because a wider forbid can only take access away.
// Unknown kinds are refused, not skipped.
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
//     empty. A policy with conditions {consent: required} permits the
//     same way, but its fields are released only while the citizen's
//     consent for the purpose is in force: Decision.ConsentFields lists
//     the fields that no permitting policy without the condition grants
//     (RequiresConsent when there are any). Without a consent the
//     exchange releases the other fields, or refuses the query as
//     consent_required when none is left. The permit reason of such a
//     policy ends "if the citizen consents". Decide itself consults no
//     consent store.
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
// # Live datasets
//
// A PublisherGrant with mode: live makes its datasets live (Set.Live):
// the data stays at the department, and the exchange forwards each
// allowed query to the publisher's responder and answers with the record
// it signs at that moment (exchange/query, "Live datasets"). MayAnswer
// decides who may answer; a live grant does not let its publisher publish
// records for the replicated view, nor a replicated grant answer. The
// mode sits on the grant, not in the dataset's schema, because it is a
// decision about who serves the data and how, which officers govern like
// any grant (a change of mode widens, so it needs approval), while the
// schema only says what a record of the dataset looks like; the same
// schema serves either mode.
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
// purpose. The decision sentinels (and ErrBadCaseID below) name the
// stable error code a client sees (denied, case_id_required,
// purpose_not_allowed, policy_expired, forbidden_by_policy, bad_case_id)
// with a Code method, which the exchange's catalogue (exchange/wire)
// reads; this package imports nothing from the exchange.
//
// # Purposes
//
// KnownPurpose says whether the set declares a purpose at all, by a
// Purpose document or in any AccessPolicy; the API refuses an undeclared
// one (a typo) before deciding, as unknown_purpose rather than a denial.
// A Purpose document may declare the format of its procedure's case ids,
// caseIdPattern: a Go regular expression of at most 256 characters that
// must start with ^ and end with $, and is matched as ^(?:pattern)$, so
// that an alternation cannot match part of a case id. CheckCaseID wraps
// ErrBadCaseID when a non-empty case id does not match; the API refuses
// the query as bad_case_id before deciding. A purpose without a pattern
// (or without a Purpose document) takes any case id; CaseIDPattern
// returns a purpose's pattern for explanations. The examples declare a
// pattern for each purpose: a prefix naming the procedure, the year and a
// sequence number (SE-2026-0001). A format dropped or changed is a
// widening only while an access policy of the new set still lists the
// purpose.
//
// # Subscriptions
//
// A Subscription is a consumer's standing order ("Tell Us Once"): every
// record of its dataset the exchange accepts is pushed to the consumer's
// delivery topic (exchange/deliver.go), minimised to the subscription's
// fields less those a Forbid withholds from that consumer (Subscriptions),
// plus the subject field that binds it. It is a release in its own
// right: it needs no access policy, and none is needed for it; no case
// id, because no person asks. Its purpose must be declared by a Purpose
// document (ErrMissing otherwise), so a standing order always says what
// procedure it serves. For governance it is a release like any other: a
// new subscription, a field added to one, or a forbid removed from under
// one widens (Classify; Diff lists it as "may be sent ... (subscription)");
// removing one narrows. Subscribers lists the consumers that get a
// delivery topic from `onevisit kafka setup`.
//
// Load and Parse never return a partial Set. Their error joins one
// *LoadError per problem, each naming file, line and column, wrapping
// ErrInvalid and one of ErrNotYAML, ErrUnknownKey, ErrUnknownKind,
// ErrMissing, ErrDuplicate (also a purpose declared by two Purpose
// documents), ErrUnknownDataset, ErrUnknownField, ErrBadValue (also a
// caseIdPattern that is not anchored or not a regular expression),
// ErrBadValidity, ErrUnknownRole or ErrUnknownPurpose (see Procedures). Keep the previous Set and show the
// errors to the author of the change. Lines of YAML syntax errors are as
// go.yaml.in/yaml/v3 reports them and may point at the start of the
// enclosing flow collection rather than the offending character.
//
// # Procedures
//
// A Procedure document is one entry of the procedure catalogue (an "at
// most one visit" procedure): the service that runs it, the purpose its
// evidence queries state (and so its case-id format), and its evidence,
// each item a dataset, the role of its subject and the fields the
// procedure uses. The roles are a closed set (Roles): child, father,
// mother, deceased, seller, buyer, company, legal_representative,
// applicant (the person the procedure is for when no other role fits)
// and partner (the other party of a marriage). RoleCompany is an
// organisation, identified by a unified social credit code; the others
// are persons. With a Catalog that also implements SubjectCatalog (the
// schema registry does), the loader refuses a company item from a
// dataset about persons and a person's item from a dataset about
// organisations. A dataset and role pair appears once per procedure; an
// unknown role is ErrUnknownRole, a purpose no Purpose document declares
// ErrUnknownPurpose, a purpose without a caseIdPattern ErrMissing (a
// procedure's cases have a case-id format), a procedure declared twice
// ErrDuplicate. A procedure
// grants nothing: each item is decided by the access policies like any
// query, and releases only the fields both the policy and the procedure
// name, so a change to the catalogue alone never widens access.
// Procedures lists the catalogue, Procedure finds one, Publishers names
// the departments granted a dataset (where a missing item is held).
// WhatIf replays a case item (Recorded.Procedure, CaseRole) narrowed the
// same way under the proposed set, so a review shows a change to a
// procedure's evidence, and none for a change that does not touch it.
//
// # Governance
//
// At runtime the policy is the control plane's, not the files': a Ledger
// holds the applied versions, numbered 1, 2, 3, ... (Version.Number; the
// Set's content hash stays what audit entries name), and the proposals.
// The package does no I/O: the exchange reads signed events from the
// control-plane topic, verifies them, and calls the Ledger's methods in
// topic order. The Ledger reads no clock and draws no random numbers, so
// every node fed the same events reaches the same versions; a node that
// restarts replays the topic from the start.
//
// Lifecycle. A Proposal carries the whole new Set (not a patch: that is
// what every node loads, what the signatures cover and what the what-if
// decides with, and it makes a rollback an ordinary proposal), an id, the
// proposer, a reason and the base version it was made against.
//
//   - Seed makes the files a node starts with version 1 of an empty
//     ledger; it needs no approval (whoever starts the first node already
//     controls its configuration) and fails with ErrAlreadySeeded after.
//   - Propose records a pending proposal, classified against its base
//     (Classify), the proposer counting as its first officer. Its base
//     must be the current version (ErrStaleBase behind it,
//     ErrUnknownVersion ahead); an id is used once (ErrDuplicateProposal).
//   - Review is read-only and needs no event: Status.Classification
//     holds the Diff (who gains or loses which fields) and the widenings,
//     and WhatIf replays the decisions of the audit log of a window
//     (DefaultWhatIfWindow, 30 days) under the proposal.
//   - Approve adds a distinct officer: the proposer cannot
//     (ErrSelfApproval), nor anybody twice (ErrAlreadyApproved). With N
//     officers (Rule.Approvals, DefaultApprovals = 2) the proposal is
//     applied as the next version. If another version was applied since
//     its base, the approval fails with ErrStaleBase and the proposal is
//     Superseded.
//   - NarrowNow is "narrow now": one officer applies a change at once if
//     Classify proves it only narrows access (or changes nothing);
//     otherwise ErrWidens and nothing is recorded. Widening always needs
//     N officers.
//   - Reject ends a pending proposal; any officer may, the proposer too.
//   - Rollback and RollbackNow propose the set of an earlier version as
//     an ordinary proposal against the current one, classified the same
//     way: undoing a widening may go through at once, undoing a narrowing
//     needs N officers.
//   - Other governed changes (the exchange's client enrolments and
//     disablements) ride the same lifecycle: the Proposal carries the
//     base version's Set unchanged and an opaque Change, which the ledger
//     hands back in the Version it becomes; ChangeWidenings, the
//     caller's classification, make it widen (N officers), and a Change
//     without any narrows (NarrowNow by one officer).
//
// States: Pending, then exactly one of Applied, Rejected or Superseded;
// only a pending proposal accepts approvals (ErrNotPending otherwise).
// Every successful call records Steps (seed, propose, approve, reject,
// narrow, apply, supersede) naming the officer and their reason: the
// exchange writes each as an audit entry of kind policy_change.
//
// Classification. Classify proves that a change only narrows access; what
// it cannot prove is a widening (default deny). Narrowing: removing
// fields, purposes, consumers, policies or grants, adding forbids,
// shortening validity windows, lowering limits, adding requireCaseId or
// the consent condition, adding a case-id format. Widening: a consumer
// reading a field for a purpose at an instant or under a condition
// (no case id, no consent) where the old set did not let it, a publisher
// gaining a dataset, a forbid removed or made narrower while the dataset
// is still granted, a limit raised, dropped or split from a shared
// bucket, a case-id format dropped or changed. Names, descriptions and
// file layout never matter.
//
// Signatures. Every control-plane event is signed, and a node applies
// only events whose signatures it verifies against the client registry:
// a proposal (and a narrow-now or rollback, which are proposals) by its
// proposer, over the proposal id, base version, reason, rollback target
// and the canonical documents of the set (Set.YAML: Parse of those bytes
// gives the same Set.Version on every node, so the event carries them); an
// approval or rejection by its officer, over the proposal id, the
// proposal's base version and the reason (a proposal id is used once, so
// it names one set). Every signer must be a
// registered, enabled client with the officer role. An event that is
// unsigned, wrongly signed or signed by a non-officer never reaches the
// Ledger: the exchange counts it, audits it and skips it. Only the seed is
// signed by the exchange itself (its audit key), and only as the first
// event of an empty control plane. The event format is exchange/control.
package policy
