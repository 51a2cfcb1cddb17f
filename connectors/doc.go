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
//     signed digests, the exchange's receipt against the record (and that
//     it names the dataset, purpose and case asked for), and that
//     both are about the subject it asked for: the record's signed
//     sub_field disclosure holds exactly that identifier and the receipt's
//     subject_sd commits to it (ErrWrongSubject otherwise).
//     Requester.Case asks for a procedure's whole case bundle in one call
//     (POST /v1/cases) and verifies it whole: every item as a single
//     answer, bound to the subject sent for its role, every receipt
//     naming the bundle's purpose and case id, and the exchange's case
//     receipt over the whole bundle (no item dropped or turned into a
//     missing one on the way); Procedures lists the catalogue.
//   - A Responder answers a live dataset's queries at the department
//     (exchange/live): it reads the exchange's signed requests from
//     request.<dataset> in its group, checks them against the exchange's
//     keys from GET /v1/keys, calls its LookupFunc
//     (func(ctx, subject) (map[string]any, error); ErrNoRecord for "we
//     hold nothing", which it answers as a signed delete, 404 at the
//     requester) and writes the record it signs then, bound to the
//     request and the subject, to reply.<dataset>. MapLookup answers from
//     memory (BySubject keys a CSV's items for it); `onevisit connector respond --dataset D --credentials C
//     --file F.csv` runs one from a CSV file.
//   - connectors/sqlsource (a package of its own, so this one does not
//     pull pgx) publishes a PostgreSQL query's rows through a Publisher,
//     a snapshot and then the changes by a monotonic cursor column that
//     it persists (`onevisit connector sql`), and makes a LookupFunc
//     from a query, so a Responder answers from the department's
//     database (`onevisit connector respond --dsn --lookup-query`).
//   - A Subscriber reads its consumer's delivery topic (the records its
//     Subscriptions release, pushed by the exchange as they are accepted,
//     exchange/deliver.go) as that consumer's Kafka principal, in its own
//     group, and verifies each delivery exactly as a Requester verifies an
//     answer (receipt issued to it, record signature as of acceptance,
//     subject binding), with the receipt's jti as the delivery id. It hands
//     each id to the handler once within a window, commits after the
//     handler returns, and skips (reporting to OnRefused) whatever does
//     not verify. `onevisit connector subscribe --credentials C` prints
//     each verified delivery as a JSON line.
//   - Corrections files a correction of a field of a record a consumer
//     received (with that record and receipt), and lets the issuing
//     department list, accept or reject what is routed to it; a
//     Subscriber hands the resulting correction notices over as
//     deliveries of Kind wire.DeliveryCorrectionNotice.
//   - A Spool sits in front of a Publisher whose signer lives in the
//     department's Vault: it buffers up to a bound, retries with capped
//     exponential backoff and jitter while Vault (or the exchange) is
//     unavailable, reports it through Health, an HTTP health handler and
//     metrics (onevisit_connector_buffered_records,
//     onevisit_connector_signer_up, onevisit_connector_publish_attempts_total,
//     onevisit_connector_delivered_records_total,
//     onevisit_connector_failed_records_total,
//     onevisit_connector_rejected_records_total; see Spool),
//     and never sends a record it could not sign.
//   - ParseCSV turns a CSV file whose header names the dataset's fields into
//     items, typed by the dataset's schema, and reports every row that does
//     not fit (row, line, code, JSON pointer, reason: schema_violation,
//     bad_row, or mojibake for a cell with U+FFFD, a control character,
//     锟斤拷 or Latin-1 characters in a row, as GBK read as Latin-1 gives).
//     The file must be valid UTF-8 (a BOM is skipped) unless read
//     as GB18030 (GBK, as Excel and older department systems write it),
//     which is converted; a file in the wrong encoding, or UTF-8 read as
//     GB18030, is refused whole (ErrEncoding), so garbled text is never
//     signed. ReadCSV is the all-or-nothing form for UTF-8 files. The
//     `onevisit connector csv` command signs and sends nothing from a file
//     with an invalid row, prints a per-row report (--report FILE writes
//     it as JSON) and exits non-zero when any row is invalid or rejected.
//
// Record ids are derived from the issuer, dataset and field values when a
// connector gives none, so loading the same file twice is idempotent: the
// exchange answers "duplicate" and delivers nothing twice. A department
// whose rows can return to an earlier state must give explicit ids (for
// example from a change sequence).
package connectors
