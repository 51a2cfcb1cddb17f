package connectors

import (
	"context"
	"net/url"

	"github.com/onevisit/onevisit/exchange/wire"
)

// Corrections files and decides corrections (exchange/corrections.go):
// a consumer files one against a field of a record it received, with the
// record and receipt it was given (a Requester's answer, a Subscriber's
// delivery); the department that issued the record lists what is routed
// to it and accepts or rejects each. Once the department has accepted a
// correction and published the corrected record, every consumer that
// received the old one in the last 30 days gets a correction notice on its
// delivery topic (a Delivery of Kind wire.DeliveryCorrectionNotice).
type Corrections struct {
	Client *Client
}

// File asks the department that issued record to correct field; record
// and receipt are exactly what this consumer received.
func (c *Corrections) File(ctx context.Context, record, receipt, field, reason string) (wire.Correction, error) {
	var out wire.Correction
	err := c.Client.Do(ctx, "POST", "/v1/corrections", wire.CorrectionRequest{Record: record, Receipt: receipt, Field: field, Reason: reason}, &out)
	return out, err
}

// Get returns a correction this client filed or decides.
func (c *Corrections) Get(ctx context.Context, id string) (wire.Correction, error) {
	var out wire.Correction
	err := c.Client.Do(ctx, "GET", "/v1/corrections/"+url.PathEscape(id), nil, &out)
	return out, err
}

// List returns the corrections routed to this department, oldest first;
// status "" lists all.
func (c *Corrections) List(ctx context.Context, status string) ([]wire.Correction, error) {
	var out struct {
		Corrections []wire.Correction `json:"corrections"`
	}
	path := "/v1/corrections"
	if status != "" {
		path += "?status=" + url.QueryEscape(status)
	}
	err := c.Client.Do(ctx, "GET", path, nil, &out)
	return out.Corrections, err
}

// Decide accepts (wire.CorrectionAccepted) or rejects
// (wire.CorrectionRejected) a correction routed to this department.
func (c *Corrections) Decide(ctx context.Context, id, status, reason string) (wire.Correction, error) {
	var out wire.Correction
	err := c.Client.Do(ctx, "POST", "/v1/corrections/"+url.PathEscape(id), wire.CorrectionDecision{Status: status, Reason: reason}, &out)
	return out, err
}
