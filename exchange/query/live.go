package query

import (
	"context"
	"errors"

	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
)

// LiveSource fetches the record of a live dataset (policy.Set.Live) from
// the department that keeps it: the node forwards the query on
// request.<dataset> and waits for a valid signed reply on
// reply.<dataset> (exchange/live, exchange/livequery.go).
type LiveSource interface {
	// Fetch returns the record the department signed for this request,
	// verified as ingest verifies a record (exchange/live, "Reply"), as
	// an entry accepted now. A delete entry means the department holds
	// nothing on the subject. It fails with ErrSourceTimeout when no valid
	// reply came before the deadline, with codes.ErrUnavailable when the
	// request could not be written.
	Fetch(ctx context.Context, pol *policy.Set, dataset, subject string) (*view.Entry, error)
}

// ErrSourceTimeout: the department's responder gave no valid answer to a
// live query before its deadline (504). The caller may retry later.
var ErrSourceTimeout = wire.WithCode("source_timeout", errors.New("no valid answer from the department in time"))

// ErrReplyMismatch: a reply on a reply topic names another request than
// the one its key names, or another subject than the one asked about, or
// was signed before the request. The LiveSource drops and counts it; the
// query goes on waiting for a valid reply.
var ErrReplyMismatch = wire.WithCode("reply_mismatch", errors.New("live reply does not answer the request"))

// noLive is the LiveSource of a Service built without one: every live
// query times out at once.
type noLive struct{}

func (noLive) Fetch(context.Context, *policy.Set, string, string) (*view.Entry, error) {
	return nil, ErrSourceTimeout
}
