// Package audit is OneVisit's tamper-evident audit log: every query,
// acceptance, rejection, denial, policy change, key change, token
// decision and policy explanation becomes an Entry, entries are leaves of an append-only Merkle
// tree (RFC 6962 / RFC 9162, as in Certificate Transparency), and the
// exchange signs tree heads (checkpoints) so that anyone holding one can
// check that an entry is in the log and that the log only ever grew.
//
// The package has no Kafka code. The exchange writes each entry's
// canonical bytes to a single-partition topic, with the writing node's MAC
// in a message header (see "Who wrote an entry"), appends them to a Log
// once the write is durable, in topic order, and rebuilds the Log from the
// topic at start. The Log is therefore exactly the authenticated messages
// of the topic: a message without a valid MAC is never a leaf, while
// authenticated bytes that do not parse are still leaves.
//
// A Log is in memory (NewLog) or, after UseDisk, on disk (logdisk.go: one
// Pebble database holding the entries, every complete subtree's hash and
// the by-subject index; only the size and the compact range, O(log n)
// hashes, stay in memory). Both serve the same roots, proofs, entries and
// lookups (TestDiskLogEqualsMemoryLog). The folder is emptied when it is
// opened: the node rebuilds its copy from the topic at every start, so no
// entry is read from an earlier run's disk.
//
// # Entry schema
//
// An entry is one JSON object. entry.schema.json (JSON Schema 2020-12,
// also returned by EntrySchema) checks its structure; this section is the
// specification. Members, in this order:
//
//	member          type      meaning
//	time            string    required; when the exchange decided, RFC 3339 in UTC:
//	                          "Z", fractional seconds only if non-zero and without
//	                          trailing zeros (Go's time.RFC3339Nano)
//	kind            string    required; query | accept | reject | deny |
//	                          policy_change | key_change | token | explain | case |
//	                          delivery | correction
//	actor           string    client id of the caller (a department, a service, an officer)
//	                          whose signature or token verified; absent when nobody
//	                          authenticated (see below)
//	role            string    the caller's role
//	route           string    the API route called, "METHOD /pattern" (deny, token)
//	consumer        string    the consumer a request is about, when not the actor
//	                          (an officer's explain call)
//	dataset         string    dataset name
//	purpose         string    declared purpose of a query
//	case_id         string    the procedure's case id
//	reason          string    the reason an officer gave (subject lookups, key
//	                          registrations, rotations, revocations)
//	subject         string    pseudonym of the data subject: 64 lowercase hex digits of a
//	                          keyed HMAC-SHA256 (keys.HMACer). The raw identity number
//	                          never appears in an entry, and the format cannot hold one.
//	record_id       string    record id (the idempotency key of ingest)
//	fields          [string]  field names released, or asked for when denied
//	decision        string    permit | deny | accepted | rejected | duplicate
//	code            string    stable reason code
//	policy          string    policy name
//	policy_version  string    policy version
//	request_id      string    request id, to join with the service's own logs
//	node            string    exchange node that decided
//	consent         string    in_force | absent: whether the citizen's consent a query's
//	                          policy requires (conditions {consent: required}) was in
//	                          force; absent from the entry when none was required
//	consent_record_id string  id of the consent record the query read, when the
//	                          citizen has one (the consent dataset, exchange/query)
//	procedure       string    the procedure of a case bundle (POST /v1/cases): on the
//	                          case entry and on the query entry of each of its items
//	case_role       string    the role of the subject of a case item (child, father,
//	                          company, ...), on the item's query entry
//	elapsed_us      integer   a case's assembly time in microseconds (decimal digits,
//	                          no sign, no leading zero; absent when 0)
//
// Which members a kind carries is the writer's business; the format only
// requires time and kind. The exchange writes:
//
//	query          every query answered or refused after its body parsed
//	               (decision permit or deny, code), and an officer's subject
//	               lookup (purpose audit_investigation, code audit_read, reason)
//	accept, reject every ingested record; an input whose signature did not
//	               verify has no actor and no record_id: a claimed issuer or
//	               id is the sender's word, not a fact
//	deny           a request refused before any data was read: 401 and 403
//	               of a caller whose token verified, and malformed requests
//	               of authenticated callers (route, code; nothing of the body)
//	token          an access token issued (decision permit) or refused
//	               (decision deny, code); actor only when the assertion's
//	               signature verified
//	explain        a policy explanation (consumer when not the actor,
//	               dataset, purpose, the decision explained, its fields)
//	key_change     a key version listed, retired or revoked, with the reason
//	policy_change  a step of policy governance (seed, propose, approve,
//	               reject, narrow, apply, supersede): permit, naming the
//	               officer, the reason, the proposal and the version; or a
//	               control event refused (deny, with the reason code). See
//	               exchange/doc.go and exchange/control.
//	case           a case bundle assembled (POST /v1/cases), after the query
//	               entries of its items: procedure, purpose, case_id,
//	               decision permit, code case_complete (every item released)
//	               or case_incomplete, and elapsed_us; a case refused before its items (bad input,
//	               limits) is a query entry with route POST /v1/cases
//	delivery       a record pushed to a subscriber's delivery topic
//	               (exchange/deliver.go): permit, the consumer, dataset,
//	               purpose, subject, record_id, the fields released, the
//	               subscription (policy) and its version, and the delivery
//	               id (request_id); written before the delivery, so a
//	               redelivery after a crash has a second entry with the
//	               same request_id; a correction notice is a delivery
//	               entry with code correction_notice and the correction id
//	               as policy
//	correction     a resident's request to correct a field about them, from
//	               the citizen page (actor and role "citizen", subject,
//	               dataset, fields: the one field, reason: the resident's
//	               words, code correction_open); or a consumer's correction
//	               of a record it received (exchange/corrections.go): filed
//	               (actor the consumer, code correction_open, dataset,
//	               subject, record_id, the field, reason), decided (actor
//	               the department, code correction_accepted or
//	               correction_rejected, reason) or fulfilled (code
//	               correction_corrected, record_id the corrected record);
//	               request_id is the correction id
//
// Refusals that cost the caller nothing to repeat (deny entries, token
// refusals, and queries refused 429 rate_limited) are audited at most once
// a second per client (or per unauthenticated sender as a whole), route
// and code; the metric onevisit_api_audit_suppressed_total counts the
// rest. A query refused by policy is audited every time. Strings that come
// from a request (purpose, case_id, reason) are written only when they
// fit their documented shape and length; otherwise they are left out and
// the code says why. Members with an empty value (empty string, no
// fields) are left out, never written as "" or [] or null.
//
// Canonical encoding, which is what is hashed: the members above in that
// order, no white space, strings escaped as RFC 8785 does ('"' and '\'
// escaped; U+0008, U+0009, U+000A, U+000C, U+000D as \b \t \n \f \r;
// other characters below U+0020 as \u00xx in lowercase hex; everything
// else, including '/', '<', U+2028, as literal UTF-8). Entry.MarshalCanonical
// writes it. ParseEntry accepts an entry only if it is valid and already
// canonical (re-encoding gives the same bytes), after a strict JSON decode
// (jsonstrict: no duplicate or case-variant members, no unknown members,
// valid UTF-8). So one entry has one byte form, and what a verifier reads
// is what was hashed. Entries are at most MaxEntrySize bytes.
//
// # Who wrote an entry
//
// Anyone with a broker credential can produce to the audit topic, so the
// topic alone does not say that an exchange node wrote a message. Every
// node therefore writes each entry with a MAC in the Kafka header
// onevisit-audit-mac (MACHeader):
//
//	base64url(HMAC-SHA256(K, "onevisit/audit-entry/v1" 0x00 || entry bytes))
//	K = HMAC(exchange HMAC key, "onevisit/audit-mac-key/v1" 0x00)
//
// K is derived once, at node start, from the exchange's HMAC key in the
// key backend (keys.HMACer: a file in dev mode, Vault transit in
// production, pinned to one key version like the subject pseudonyms), so
// every node derives the same K and checks the entries the others wrote.
// The domain prefixes keep K apart from every subject pseudonym (whose
// input starts "onevisit/subject/v1"). A node reading the topic (Sealer
// Check) skips a message whose MAC is missing or wrong: it never becomes a
// leaf, so it never shows in a subject lookup and is never signed into a
// checkpoint; the node counts it (onevisit_audit_entries_refused_total)
// and logs its offset.
//
// Why a MAC and not a signature per entry: an audit write happens before
// every query answer and every ingest decision. A signature per entry
// through the key backend would cost a Vault transit round trip each
// (about 1,750 single signatures a second in onevisit bench, against
// 4,700 answers a second wanted), and caching a private signing key on the
// node would defeat keeping keys in Vault. The derived MAC key costs one
// backend call per node start and about 1.4 µs per typical entry on the
// 2-core dev machine (BenchmarkSeal). What a
// MAC cannot give, verification by outsiders, the signed checkpoints
// already give: a MAC decides what becomes a leaf; the checkpoint
// signature then binds the leaves for everyone. A genuine message
// produced again by someone who copied it carries a valid MAC and is a
// second, identical leaf; it adds no new content to the log.
//
// # Hashing
//
// Leaf hash = SHA-256(0x00 || entry bytes); node hash =
// SHA-256(0x01 || left || right); the tree over n entries splits at the
// largest power of two below n (RFC 9162 §2.1); the root of the empty
// log is SHA-256 of nothing (EmptyRoot). Inclusion and consistency
// proofs are RFC 9162's: a list of 32-byte hashes, leaf-side first. The
// Log builds and verifies them with github.com/transparency-dev/merkle
// (rfc6962 hasher, compact ranges, proof package).
//
// # The Log and what it costs
//
// A Log keeps the entry bytes and the hash of every node of every
// complete (perfect) subtree: the leaf hashes plus, at most, one inner
// node per leaf. The root at any earlier size and every proof then cost
// O(log n) stored hashes and no recomputation. Append hashes once and
// does not parse (about 2.5 µs measured on the 2-core dev machine, so a rebuild of a
// million entries takes seconds); BySubject parses what it returns.
//
// Memory per entry: the entry bytes (about 420 B for a typical query
// entry, rounded up by the allocator), a 24 B slice header, the 32 B
// leaf hash, 32 B of inner nodes on average, and 8 B in the subject
// index: about 100 B plus the entry, measured at 550 B per typical
// entry in all, so about 550 MB per million entries. Append is for one
// writer; readers (Root, proofs, Entries, BySubject, Checkpoint) may run
// concurrently with it and with each other.
//
// # Checkpoints
//
// A checkpoint (signed tree head) is a C2SP tlog-checkpoint
// (https://c2sp.org/tlog-checkpoint): a signed note
// (golang.org/x/mod/sumdb/note) whose text is
//
//	onevisit/audit                          origin: names the log
//	<size>                                  decimal, no leading zeros
//	<base64 of the 32-byte root>            standard base64, padded
//	time <RFC 3339 UTC>                     extension line: when the head was taken
//
// followed by a blank line and one signature line per signer,
// "— <name> <base64(4-byte key hash || 64-byte Ed25519 signature)>".
// The exchange signs with its audit key (keys.UseAudit, separate from
// record, token and receipt keys) through the key backend: the note key
// name is the key version's kid ("exchange-audit#2"), the signature
// algorithm byte 0x01 (Ed25519), and the verifier key of a version is
//
//	<kid>+<8 hex digits>+<base64(0x01 || 32-byte public key)>
//
// the hex digits being the first 4 bytes of SHA-256(kid "\n" 0x01 ||
// public key), as note.NewEd25519VerifierKey computes. NoteVerifierKey
// derives it from a key version in the key directory (GET /v1/keys lists
// every audit key with its public key); GET /v1/audit/verifiers serves
// the verifier keys of the audit versions not revoked, one a line.
// note.NewVerifier and note.Open, or any C2SP signed-note
// implementation, then check a checkpoint with no OneVisit code.
// Standard tlog tools read the first three lines and ignore the
// extension line; the roots are RFC 6962's, the same as
// golang.org/x/mod/sumdb/tlog's TreeHash.
//
// VerifyCheckpoint accepts a note with at least one signature by a kid
// the key directory lists with use audit and not revoked, whose key hash
// matches the listed public key (other signatures, such as a witness's
// cosignature, are ignored), and a text of exactly the four lines above.
// A checkpoint signed with a key later revoked no longer verifies:
// whoever verified it before keeps it, and the consistency of later
// checkpoints with it still binds the log. Checkpoints never expire.
//
// # Serving the log
//
// The HTTP API (exchange/api) serves, with codes bad_range (a missing,
// non-decimal, reversed or over-wide parameter) and beyond_log (a size
// the log has not reached, after the node caught up with every durable
// write):
//
//	GET /v1/audit/checkpoint                  the latest checkpoint note, text/plain (public)
//	GET /v1/audit/verifiers                   note verifier keys, one a line, text/plain (public)
//	GET /v1/audit/proof/inclusion?index=N&size=M
//	                                          {"index","size","proof":[base64 hashes]} (public)
//	GET /v1/audit/proof/consistency?from=A&to=B
//	                                          {"from","to","proof":[base64 hashes]} (public)
//	GET /v1/audit/entries?start=A&end=B       {"start","end","entries":[base64 of the exact bytes],
//	                                          "leaf_hashes":[base64]}; at most 1000 (officers)
//
// The leaf hashes are the node's, computed when it appended each entry:
// unsigned, but VerifyExport uses them only when they reproduce the signed
// roots, and then they name the first entry that does not match. The CLI
// `onevisit audit verify` and `onevisit audit prove` check all of this
// offline against the key directory.
//
// Rules between checkpoints of one origin: a later one (by time) is
// never smaller (ErrRollback); two of the same size have the same root
// (ErrFork); a larger one is consistent with a smaller one (consistency
// proof, ErrBadProof).
//
// # Who can verify what
//
// A citizen gets, for their pseudonym, the entries BySubject lists (who
// looked at their data, when, for which case and purpose, and what was
// released), each with an inclusion proof against a checkpoint. They can
// check that each entry is in the log the exchange signed, so it cannot
// later be denied or edited. They cannot see that the list is complete:
// an entry filed under another pseudonym is not theirs to read.
//
// A security officer, with the whole log, can read every entry, check any
// entry's inclusion, and check that each new checkpoint is consistent with
// the last one they kept (VerifyCheckpointConsistency): the log was only
// appended to, not rewritten, rolled back or forked.
//
// An outside auditor, given an Export bundle (entries, the checkpoints
// the log issued, optionally leaf hashes kept from an earlier time) and
// only the key directory, runs VerifyExport: every checkpoint's
// signature, no rollback or fork among them, and the entries reproduce
// every checkpoint root (which proves successive checkpoints consistent
// too). If not, the *TamperError names the first bad entry: exactly when
// there is a checkpoint after every entry or trusted leaf hashes; otherwise
// the range between the last checkpoint that still matches and the first
// that does not. Entries after the latest checkpoint are not covered by
// any signature. VerifyLog does the same check against a single trusted
// checkpoint, without narrowing.
//
// Nobody can learn from the log who a subject is: the pseudonym key stays
// with the exchange's HMACer.
package audit
