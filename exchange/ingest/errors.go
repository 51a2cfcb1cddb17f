package ingest

import (
	"errors"

	"github.com/onevisit/onevisit/exchange/wire"
)

// The pipeline's own refusals (steps 3 to 6 of the package doc), each
// with its stable code. A rejected Result carries the code; the record
// goes to the dead-letter topic and retrying it unchanged cannot help.
var (
	// ErrStale: the record is older than the one held for its subject.
	ErrStale = wire.WithCode("stale", errors.New("record older than the one held"))
	// ErrDatasetMismatch: the record's dataset claim names another dataset
	// than the topic or URL it came through.
	ErrDatasetMismatch = wire.WithCode("dataset_mismatch", errors.New("dataset claim does not match"))
	// ErrIssuerMismatch: an authenticated publisher submitted a record
	// issued by another client.
	ErrIssuerMismatch = wire.WithCode("issuer_mismatch", errors.New("issuer is not the submitting publisher"))
	// ErrNoGrant: no PublisherGrant lets the issuer publish the dataset.
	ErrNoGrant = wire.WithCode("no_grant", errors.New("publisher has no grant for the dataset"))
	// ErrNoSubject: the record lacks its dataset's subject field.
	ErrNoSubject = wire.WithCode("no_subject", errors.New("record has no subject"))
	// ErrBadRecordID: the record id is not a plain token, or is an
	// identity number.
	ErrBadRecordID = wire.WithCode("bad_record_id", errors.New("bad record id"))
	// ErrBadDelete: a delete record discloses more than its subject.
	ErrBadDelete = wire.WithCode("bad_delete", errors.New("a delete discloses exactly the subject"))
	// ErrIATInFuture: the record's iat is further ahead of the exchange's
	// clock than the allowed skew.
	ErrIATInFuture = wire.WithCode("iat_in_future", errors.New("record issued in the future"))
	// ErrSchemaNotOfDataset: the record names a schema version of another
	// dataset than its own.
	ErrSchemaNotOfDataset = wire.WithCode("schema_not_of_dataset", errors.New("schema is not a version of the record's dataset"))
	// ErrUnwritable: the outcome of the submission could not be written
	// even alone; it was dead-lettered without its body.
	ErrUnwritable = wire.WithCode("unwritable", errors.New("outcome could not be written"))
)
