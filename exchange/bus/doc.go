// Package bus is the exchange's Kafka plumbing and the one place where
// github.com/segmentio/kafka-go clients are configured.
//
// kafka-go's zero values are unsafe for an exchange that promises "nothing
// accepted is lost": a zero Writer acknowledges nothing (RequiredAcks 0),
// an Async writer drops errors, ReadMessage commits before the message is
// processed, a new group starts at the newest offset, and a writer may
// create topics by accident. Every Writer and Reader in OneVisit is built by
// this package, which sets instead:
//
//   - RequiredAcks = RequireAll and Async = false: WriteMessages returns
//     only when every in-sync replica has the batch, or an error;
//   - AllowAutoTopicCreation = false: topics come from EnsureTopics only;
//   - BatchTimeout chosen on purpose (default 2 ms, not kafka-go's 1 s), so
//     concurrent writers share batches without waiting a second (the
//     node's audit group uses a microsecond and batches in its own queue,
//     see package exchange, "Audit entries of requests");
//   - group readers start at FirstOffset and commit only when asked
//     (CommitInterval 0): callers FetchMessage, finish the work, then
//     CommitMessages. ReadMessage is never used.
//   - sizes are one chain (see MaxMessageBytes): a record of
//     record.MaxSize with its key and headers fits one message, writers
//     batch at most WriterBatchBytes per partition, and every topic
//     EnsureTopics creates (or finds with less) takes max.message.bytes
//     TopicMaxMessageBytes, above a whole batch, so no valid outcome is
//     refused for its size.
//
// Topic layout, per dataset D, in namespace N (Config.Names, default
// "onevisit"; several exchanges or test runs can share a cluster):
//
//	N.ingest.D     publishers write signed records (key: record id)
//	N.accepted.D   verified records, compacted, key = subject pseudonym
//	N.rejected.D   dead letters with a reason code
//	N.audit        every decision, one partition (one total order)
//	N.keys         signed key directory events (key: kid), kept forever, never compacted
//	N.control      officers' signed policy events (exchange/control), one partition, kept forever, never compacted
//	N.request.D    live queries the exchange signs (key: request id), kept an hour (LiveRetention)
//	N.reply.D      the department's signed answers (key: request id), kept an hour
//
// The request and reply topics exist for every dataset, so a grant can
// make a dataset live at runtime (exchange/live has the format). Only the
// exchange writes N.request.D and reads N.reply.D; only the publishers of
// D's live grants (Principals.Responders) read N.request.D, in the group
// N-respond-D, and write N.reply.D.
//
// Topics (their configs) and ACLs (who may read and write which topic
// and the exchange's group, from the publisher grants) are the one model
// of a cluster's layout: `onevisit kafka setup` applies them to a cluster
// (EnsureTopics, SetUser, ApplyACLs), and `onevisit kafka manifests`
// renders them as Strimzi resources (StrimziManifests: Kafka,
// KafkaNodePool, KafkaTopic, KafkaUser, API kafka.strimzi.io/v1), so the
// two never drift.
package bus
