// Package exchange is one OneVisit exchange node: it wires the ingest
// pipeline, the materialised view, the audit log and the HTTP API over a
// Kafka cluster. Nodes are stateless: each rebuilds its view and its copy
// of the audit log from the accepted and audit topics at start, and nodes
// share the ingest partitions through one consumer group.
//
// A node answers queries only after it has read the accepted topics up to
// the offsets they had when it started (/healthz says "starting" until
// then), and consumes ingest topics only after that, so its duplicate and
// staleness checks see everything accepted before it.
//
// A node trusts nothing it reads from a topic that it cannot verify
// (anyone with a broker credential can write to any topic): a record read
// back from an accepted topic enters the view only if it verifies
// (signature with a record key its issuer owns, dataset, publisher grant,
// subject binding) and is keyed by the pseudonym of its verified subject,
// never by the message key; an audit-topic message becomes a leaf of the
// audit log only if it carries a valid node MAC (exchange/audit, "Who
// wrote an entry").
//
// Metrics of the node itself (the ingest and API packages list theirs):
//
//	onevisit_view_records_refused_total{dataset,code}  records read back from an accepted
//	                                                   topic that did not verify; code is
//	                                                   the error code (exchange/codes)
//	onevisit_audit_entries_refused_total               audit-topic messages without a valid
//	                                                   node MAC, kept out of the audit log
package exchange
