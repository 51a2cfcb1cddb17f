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
// # Metrics
//
//	onevisit_keys_refresh_errors_total        failed refreshes of the exchange's key versions
//	onevisit_keys_refresh_age_seconds         seconds since the last successful refresh
//	onevisit_keys_events_refused_total{reason} key events skipped (reason: malformed,
//	                                          bad_signature, unknown_signer, revoked_signer,
//	                                          exchange_key, conflict, backwards, unknown_client)
package exchange
