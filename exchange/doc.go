// Package exchange is one OneVisit exchange node: it wires the ingest
// pipeline, the materialised view, the audit log and the HTTP API over a
// Kafka cluster. Nodes hold no state the topics do not: each rebuilds its
// copy of the audit log from the audit topic at start, and its view from
// the accepted topics, and nodes share the ingest partitions through one
// consumer group. With view.dir (dev mode: the data dir's view/) the view
// is a full replica on disk (package view, Pebble; viewstore.go): every
// node holds every dataset's records, their MACs checked on every read, and
// a restart resumes each accepted partition at the checkpoint the store
// wrote with its entries instead of rebuilding; a checkpoint past a
// partition's end (the topic was made anew) empties the store and rebuilds.
// Why a full replica and not partitions owned per node: README "Scale".
//
// A node answers queries only after it has read the accepted topics up to
// the offsets they had when it started (/healthz and /readyz say
// "starting" until then; /readyz also says "keys_stale" while the key
// backend is unreachable past the grace period; /livez answers 200 from
// the first moment it serves HTTP), and consumes ingest topics only after
// that, so its duplicate and staleness checks see everything accepted
// before it.
//
// With http.tls_cert and http.tls_key the listener speaks only HTTPS
// (httptls.go: TLS 1.2 and up, the pair re-read when the files change).
//
// Beside the API and /metrics, the node serves the officer console
// (/console/) and the citizen page (/me/) from exchange/webui, and, with
// Parts.Citizen (config key citizen), verifies residents' ID tokens for
// the /v1/me routes (exchange/citizen); dev mode adds its development
// sign-in provider under /dev/ (Parts.DevSignIn).
//
// A node's loops (the HTTP server, one tail per partition of the accepted,
// audit, keys and control topics, the view applier, the key refresh, the
// ingest loop) run in one errgroup: the first that fails stops the others
// and Run returns its error. Losing the brokers is not such a failure: a
// tail reopens its reader at its next offset after a backoff, and the
// ingest loop rejoins its group at the committed offsets. Where each part
// lives: node.go wiring and Run; tails.go the tails and end offsets;
// accepted.go the read-back check of accepted records; viewapply.go their
// batched writes to the view; audittrail.go the audit topic (writes,
// read-back, checkpoints, lookups, read-your-writes with applied.go);
// keyevents.go and keyrefresh.go key sync; governance.go the policy
// control plane; seal.go the node MACs; deliver.go the delivery of
// subscriptions to their consumers' delivery topics ("Tell Us Once");
// corrections.go the corrections routed to departments and the notices of
// corrected records (corrections_citizen.go those residents file from the
// citizen page); the ingest loop itself (fetch, pipeline, commit after the
// durable write) is ingest.Consumer.
//
// # Live queries
//
// livequery.go is the node's query.LiveSource for live datasets
// (policy/doc.go, "Live datasets"): it signs a request (exchange/live)
// with the exchange's receipt key and writes it to request.<dataset>,
// keyed by a random request id, with the subject only inside the signed
// value. The first live query of a dataset starts a tail of every
// partition of reply.<dataset> at its end offsets, before the request is
// written, so no reply is missed; every node tails the reply topic and
// skips, unparsed, replies whose key names no request it is waiting for.
// A reply to a pending request is taken only if it verifies as ingest
// verifies a record (signature with a record key its issuer owns and that
// was not revoked, dataset, schema, subject binding, iat not in the
// future), its issuer has a live grant for the dataset (MayAnswer), its
// record id is the request id and it discloses the subject asked about;
// anything else is counted by code and the query goes on waiting, so a
// forger can delay an answer to the deadline but never be served. Live
// answers are never written to the accepted topics or the view.
//
// # Keys
//
// The node's key directory holds the client registry's keys, the
// exchange's own key versions from the key backend (re-read every
// keys.refresh: new versions join, statuses move forward, and a version
// the backend no longer lists is revoked) and the client key changes of
// the keys topic, applied only when the exchange signed them
// (exchange/keys/doc.go, "Key directory events"). The node signs tokens,
// receipts, checkpoints and key events only with versions its directory
// lists as active.
//
// # Policy governance
//
// The policy a node decides by is the control plane's, not its files'
// (policy/doc.go, "Governance"). Officers sign control events with their
// own client keys (exchange/control; the CLI signs, the private key never
// reaches the exchange) and submit them at POST /v1/policy/events; the
// node checks each as it will apply it (refusing self_approval,
// already_approved, stale_base, needs_approval, unknown_proposal,
// bad_event), produces it to the control topic (bus.Names.Control: one
// partition, never compacted) and answers once it applied it (at most
// 10 s). Every node tails the control topic from the start, verifies each
// event (control.Parse: signature, an auth key owned by iss, iss an
// officer in the client registry; a seed only when signed by the
// exchange's audit key and only as the first event), feeds a
// policy.Ledger in topic order (N distinct officers for a widening,
// Parts.PolicyApprovals, default 2; one officer for a proven narrowing)
// and, when a version is applied, swaps the policy that ingest and
// queries read. So every node reaches the same versions in the same order,
// and a restarted node replays them all. A node that finds the control
// topic empty at start publishes the files it was given as version 1
// (a seed signed with the exchange's audit key); until the seed is
// applied it decides by those same files.
//
// An event that does not verify, replays a jti, or that the ledger
// refuses is skipped and counted; when the node reads it live (not while
// replaying at start) it is also audited as a policy_change deny entry,
// code "policy_event_refused:<reason>", at most 60 a minute. Every step an
// event causes (seed, propose, approve, reject, narrow, apply, supersede)
// is a policy_change permit entry, code "policy_<step>:<effect>", naming
// the officer (actor), their reason, the proposal (policy) and the version
// (policy_version); each node writes the entries of what it applied live.
// GET /v1/policy/versions and /healthz show the version the node runs.
//
// Clients at runtime (governance_clients.go). A node's client registry is
// the registry file plus the clients.add and clients.disable events of
// the control topic (clients.Live; exchange/control "# Clients"), which
// officers submit at POST /v1/clients/events. An enrolment is a proposal
// of the same ledger, approved at POST /v1/policy/events by N officers;
// when applied, every node adds the client and its auth key (to the key
// directory). A disablement is applied at once by one officer; from then
// on the node's token endpoint refuses the client's assertions and every
// token it holds (auth re-checks the registry on each request), and the
// control plane its events; its key versions are revoked from the event's
// iat on, so a record it signs is refused even when produced straight to
// an ingest topic. Both refuse ids, kids and public keys
// registered before (client_exists) and a client not enabled
// (unknown_client); their audit entries are coded "clients_<step>" and
// name the client as consumer. GET /v1/clients lists the registry. At
// start, key events of a client the node does not know yet (enrolled in
// the control topic, which is replayed side by side) wait until the
// control topic is replayed, so a restart keeps their rotations and
// revocations; a disabled client's keys stay revoked whatever the order
// (keyevents_clients.go). Nodes must start from the same files; a node
// whose files have caught up with what was enrolled or approved at
// runtime (the same client, role and keys; the same schema version)
// replays those events to the same versions as the others, and applying
// them changes nothing.
//
// Schema versions at runtime (governance_schemas.go). A node works on its
// own Clone of the schema registry it is given. schemas.propose events,
// submitted at POST /v1/schemas/events, carry the next version of a
// served dataset; the node checks each as schemas.Registry.Prepare does
// (the profile, and compatibility with the latest version under the
// dataset's mode: bad_schema, incompatible_schema), at submission and
// again when it reads it from the topic and before an approval applies
// it. It is a proposal approved by N officers; when applied, every node
// adds the version (Registry.Add), so ingest accepts records of it,
// queries serve records of every version, and policies may name its
// fields (before, a policy naming a field no version has is refused
// unknown_policy_field). Audit entries are coded "schemas_<step>" and
// name the dataset. GET /v1/schemas lists each dataset's versions.
//
// # Delivery
//
// Every node also reads the accepted topics in the delivery group
// (bus.Names.DeliverGroup) and pushes each verified record to the
// delivery topic of every consumer whose Subscription covers its dataset,
// minimised like a query answer, with a receipt and an audit entry, and
// commits only after that: deliver.go says how, and what survives a
// restart.
//
// # Audit entries of requests: a group commit
//
// An answer (a query, a case item, any API decision written through the
// node's audit trail) is given only after its audit entry is durable
// (acks from all in-sync replicas). Those entries go through a group
// commit (auditgroup.go) on a writer of their own: a produce is sent at
// once, and the entries that arrive while it is in flight go together in
// the next one. Each request still waits for its own entries and gets
// the error of its own messages, so a refused produce fails exactly the
// requests whose entries it carried (503 unavailable, nothing released;
// TestQueryFailsWhenItsAuditEntryIsRefused). Through the node's shared
// writer each such write also waited for the 2 ms batch timer, which set
// the query latency floor (README "Speed"). Ingest's outcomes (accepted
// record, dead letter and audit entry of a batch) stay one write on the
// shared writer.
//
// # What a node believes of its own topics
//
// Nothing it cannot verify: anyone with a broker credential can write to
// any topic. Every message a node writes to an accepted topic or to the
// audit topic carries the node's MAC in a header, made with a key derived
// once, at start, from the exchange's HMAC key in the key backend (the
// one behind subject pseudonyms, under its own domain), so every node of
// the exchange can check what the others wrote:
//
//	onevisit-accepted-mac  base64url(HMAC-SHA256(K, "onevisit/accepted-record/v1" 0x00 ||
//	                       len(topic) topic || len(key) key || len(at) at || len(value) value))
//	                       K = HMAC(exchange HMAC key, "onevisit/accepted-mac-key/v1" 0x00),
//	                       at = the onevisit-accepted-at header, len = 8 bytes big-endian
//	onevisit-audit-mac     see exchange/audit, "Who wrote an entry"
//
// A record read back from an accepted topic enters the view only if its
// MAC checks (so neither a record produced with a broker credential, nor a
// genuine one replayed under another key or with a back-dated acceptance
// time, gets in) and it checks again: a record key its issuer owns, not
// revoked as of its acceptance time, dataset against the topic, publisher
// grant, subject binding (record.Vouched). The signature itself is not
// verified again: the MAC covers the exact bytes, and the node that wrote
// them verified it when it accepted the record. It is keyed by the
// pseudonym of the subject the verified record names, never by the
// message key. An audit-topic message becomes a leaf only if its MAC
// checks. What fails is skipped, counted and logged by topic, partition,
// offset and code, never with its contents.
//
// Upgrading from a version without these MACs and without subject
// binding: the records and audit entries it wrote carry neither, so a node
// now skips them (counted as no_node_mac, or in the audit counter).
// Publishers republish their data (dev mode republishes its samples at
// start); the audit log starts again from the first authenticated entry.
//
// # Metrics
//
// Metrics of the node itself (the ingest and API packages list theirs):
//
//	onevisit_keys_refresh_errors_total        failed refreshes of the exchange's key versions
//	onevisit_keys_refresh_age_seconds         seconds since the key backend last answered a
//	                                          refresh: below keys.refresh on a healthy node
//	                                          (file keystore or Vault), growing only while
//	                                          refreshes fail; past keys.grace the node fails
//	                                          closed (keys_stale); 0 without a refresh loop
//	onevisit_build_info{version,revision,goversion}  always 1: which build a node runs
//	onevisit_keys_events_refused_total{reason} key events skipped (reason: malformed,
//	                                          bad_signature, unknown_signer, revoked_signer,
//	                                          exchange_key, conflict, backwards, unknown_client)
//	onevisit_view_records_refused_total{dataset,code}  records read back from an accepted
//	                                                   topic and kept out of the view; code
//	                                                   is no_node_mac or the error code
//	                                                   (exchange/wire) of the failed check
//	onevisit_audit_entries_refused_total               audit-topic messages without a valid
//	                                                   node MAC, kept out of the audit log
//	onevisit_ingest_consumer_lag                       messages in the ingest topics not yet
//	                                                   fetched by this node (set after every
//	                                                   commit of the ingest loop)
//	onevisit_view_records                              live records held for queries
//	onevisit_view_log_messages_read_total              accepted-topic messages the tails read into the
//	                                                   view since start (with view.dir, a restart reads
//	                                                   only those past the store's checkpoints)
//	onevisit_view_store_corrupt_total                  reads of view-store entries, and checkpoints at
//	                                                   start, whose MAC failed (not used; see package view)
//	onevisit_view_store_bytes                          the view store's size on disk (0 in memory)
//	onevisit_audit_entries                             entries in this node's copy of the audit log: the
//	                                                   size of the checkpoint it signs now
//	onevisit_audit_write_errors_total                  audit appends (api.Auditor writes) that failed,
//	                                                   but for callers that hung up; each is an answer
//	                                                   not released (503) or an action not taken
//	onevisit_policy_version                            the control-plane policy version the node
//	                                                   decides by (0 until the first is applied)
//	onevisit_policy_apply_lag_seconds                  histogram: from the write of the event that
//	                                                   applied a version (approval, narrowing, seed)
//	                                                   to this node applying it; events read live only
//	onevisit_policy_events_refused_total{reason}       control events not applied (reason: bad_event,
//	                                                   replay, or the ledger's refusal code)
//	onevisit_live_query_seconds{dataset,outcome}       histogram: from writing a live request to its
//	                                                   valid reply (answered), its deadline (timeout),
//	                                                   or a failed write (error)
//	onevisit_live_replies_refused_total{dataset,code}  replies to a pending live request of this node
//	                                                   that failed a check (bad_signature, no_grant,
//	                                                   reply_mismatch, malformed_record, ...), dropped
//	onevisit_deliveries_total{consumer}                records written to a subscriber's delivery topic
//	                                                   (redeliveries after a restart included)
//	onevisit_delivery_lag{consumer}                    records accepted for a subscriber's datasets and not
//	                                                   yet delivered (beyond the delivery group's committed
//	                                                   offsets; set every 5 s)
//	onevisit_delivery_refused_total{dataset,code}      records read for delivery that did not verify,
//	                                                   delivered to no one (code as in
//	                                                   onevisit_view_records_refused_total)
package exchange
