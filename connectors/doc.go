// Package connectors is the SDK departments and procedure services use to
// talk to a OneVisit exchange, and the built-in CSV connector.
//
//   - A Publisher signs records with a keys.Signer it is given (a file key
//     or the department's own Vault; the SDK never asks for a raw private
//     key), each naming the dataset's subject field in its signed
//     sub_field claim (Publisher.SubjectField, required: the binding
//     requesters check), and sends them to a Sink: straight to the
//     dataset's ingest topic on Kafka (KafkaSink) or through the
//     exchange's HTTP API (HTTPSink), which answers per record.
//   - A Requester gets access tokens with a signed client assertion, asks
//     for one subject's record for a purpose and case, and verifies the
//     answer itself: the record's signature against the publisher's key
//     from the exchange's key directory, every returned field against the
//     signed digests, the exchange's receipt against the record, and that
//     both are about the subject it asked for: the record's signed
//     sub_field disclosure holds exactly that identifier and the receipt's
//     subject_sd commits to it (ErrWrongSubject otherwise).
//   - A Spool sits in front of a Publisher whose signer lives in the
//     department's Vault: it buffers up to a bound, retries with capped
//     exponential backoff and jitter while Vault (or the exchange) is
//     unavailable, reports it through Health, an HTTP health handler and
//     metrics (onevisit_connector_buffered_records,
//     onevisit_connector_signer_up, onevisit_connector_publish_attempts_total),
//     and never sends a record it could not sign.
//   - ReadCSV turns a CSV file whose header names the dataset's fields into
//     items, typed by the dataset's schema.
//
// Record ids are derived from the issuer, dataset and field values when a
// connector gives none, so loading the same file twice is idempotent: the
// exchange answers "duplicate" and delivers nothing twice. A department
// whose rows can return to an earlier state must give explicit ids (for
// example from a change sequence).
package connectors
