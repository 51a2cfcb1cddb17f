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
package exchange
