// Package sqlsource connects a department's own PostgreSQL database to
// OneVisit, through github.com/jackc/pgx/v5; it is a package of its own
// so the core connector SDK does not pull pgx.
//
// # Publishing rows (Source)
//
// A Source publishes the rows of a department's query as records of one
// dataset, through a connectors.Publisher (so through the same signing
// and the same Kafka or HTTP sink as the CSV connector). The query is
// any SELECT whose columns are named as the dataset's fields, plus a
// cursor column: a column that grows with every insert and update (a
// sequence bumped by a trigger, a change counter, an updated-at
// timestamp of sufficient precision). Sync reads
//
//	SELECT to_jsonb(src), (src.<cursor>)::text FROM (<query>) AS src
//	WHERE src.<cursor> > <last cursor> ORDER BY src.<cursor> LIMIT <batch>
//
// page by page (without the WHERE the first time: the full snapshot),
// so the database compares cursors in the column's own type. A page
// never ends in the middle of rows that share a cursor value. Each row's
// fields are the row's columns but the cursor column (unless the schema
// defines it) and SQL NULLs; a row that fails the dataset's schema is
// reported (RowError, code schema_violation with the JSON pointer of the
// field) and skipped, and the others are published. After each page is
// published (the sink took it: acks from all in-sync replicas, or the
// exchange's answers over HTTP) the cursor of its last row is written to
// the state file (atomically: write, sync, rename), so a restarted Source
// resumes after it and republishes nothing; the state names a hash of
// the query and the cursor column, and a state of another query is
// ignored (a full snapshot again). Run calls Sync and then again every
// Poll. Records carry no explicit id, so the publisher derives it from
// the content: republishing an unchanged row is a duplicate, an updated
// row is a new record that replaces the old one in the exchange's view.
// A row deleted from the source is not noticed (publish a delete record
// for it).
//
// # Answering live queries (Lookup)
//
// Lookup makes a connectors.LookupFunc from a query with one parameter,
// $1, the subject asked about (for example SELECT ... FROM certificates
// WHERE resident_id = $1). Its first row answers, with NULLs left out; no
// row is connectors.ErrNoRecord (the exchange answers not_found); more
// than one row is an error, and the request goes unanswered rather than
// answered with an arbitrary row.
//
// Identity numbers: nothing here logs a row, a field, a cursor value or
// a subject; RowError names the cursor value only when it is not itself
// an identity number (schemas.ContainsIdentity).
package sqlsource
