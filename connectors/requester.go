package connectors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// Query asks for one subject's record.
type Query struct {
	Dataset string `json:"dataset"`
	Subject string `json:"subject"`
	Purpose string `json:"purpose"`
	CaseID  string `json:"case_id,omitempty"`
}

// Answer is a verified answer.
type Answer struct {
	Record    *record.Record // verified against the publisher's key
	Raw       string         // the compact record as received
	Data      map[string]any // the disclosed fields, each checked against the signed digests
	Receipt   receipt.Claims // the exchange's verified receipt
	RequestID string
}

// ErrUnverified: the exchange's answer does not verify (record signature,
// a disclosure, the receipt, or data that differs from the disclosures).
// Treat it as not received and report it.
var ErrUnverified = errors.New("answer does not verify")

// ErrWrongSubject: the answer is not provably about the subject asked
// for: the record has no subject binding, its subject disclosure holds
// another identifier, or the receipt commits to another disclosure (see
// "Subject binding" in exchange/record). The exchange, or someone writing
// to its topics, served another subject's record: treat it as not
// received and report it. Errors with it wrap ErrUnverified too.
var ErrWrongSubject = errors.New("answer is about another subject")

// Requester asks the exchange for records and verifies what it gets.
type Requester struct {
	Client *Client

	mu   sync.Mutex
	keys *keys.Directory
}

// Keys fetches the exchange's key directory (GET /v1/keys).
func (r *Requester) Keys(ctx context.Context) (*keys.Directory, error) {
	b, err := r.Client.get(ctx, "/v1/keys")
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	ks, err := keys.ParseJWKS(b)
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	d := keys.NewDirectory()
	for _, k := range ks {
		if err := d.Add(k); err != nil {
			return nil, fmt.Errorf("fetch keys: %w", err)
		}
	}
	return d, nil
}

func (r *Requester) directory(ctx context.Context, refresh bool) (*keys.Directory, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil || refresh {
		d, err := r.Keys(ctx)
		if err != nil {
			return nil, err
		}
		r.keys = d
	}
	return r.keys, nil
}

// withKeys runs verify with dir, and once more with a directory fetched
// again when verify fails with keys.ErrUnknownKey (the exchange or a
// publisher has a new key); it returns the directory it used last.
func (r *Requester) withKeys(ctx context.Context, dir *keys.Directory, verify func(*keys.Directory) error) (*keys.Directory, error) {
	err := verify(dir)
	if errors.Is(err, keys.ErrUnknownKey) {
		if dir, err = r.directory(ctx, true); err == nil {
			err = verify(dir)
		}
	}
	return dir, err
}

// Query asks for a record and verifies the answer: the record against the
// publisher's key in the exchange's key directory (fetched once, and again
// when a kid is unknown), each disclosed field against the signed
// digests, the decoded data against the disclosures, the receipt (its
// dataset, purpose and case are q's, and it lists every disclosed field),
// and that record and receipt are about q.Subject (ErrWrongSubject).
func (r *Requester) Query(ctx context.Context, q Query) (*Answer, error) {
	var resp wire.QueryAnswer
	if err := r.Client.Do(ctx, "POST", "/v1/query", q, &resp); err != nil {
		return nil, err
	}
	return r.verify(ctx, q, resp)
}

// verify checks one answer to q as Query describes.
func (r *Requester) verify(ctx context.Context, q Query, resp wire.QueryAnswer) (*Answer, error) {
	dir, err := r.directory(ctx, false)
	if err != nil {
		return nil, err
	}
	// The receipt comes first: it says when the exchange accepted the
	// record, which decides whether a since-revoked key still counts.
	var rc receipt.Claims
	dir, err = r.withKeys(ctx, dir, func(d *keys.Directory) (err error) {
		rc, err = receipt.Verify(resp.Receipt, d, resp.Record, r.Client.ClientID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query: %v: %w", err, ErrUnverified)
	}
	var rec *record.Record
	_, err = r.withKeys(ctx, dir, func(d *keys.Directory) (err error) {
		rec, err = record.Verify(resp.Record, keys.AcceptedBefore(d, time.UnixMilli(rc.RecordAcceptedAt)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query: record: %v: %w", err, ErrUnverified)
	}
	if rec.Dataset != q.Dataset || rc.Dataset != q.Dataset || rc.RecordID != rec.ID {
		return nil, fmt.Errorf("query: got record %s of %s for a %s query, receipt names %s of %s: %w", rec.ID, rec.Dataset, q.Dataset, rc.RecordID, rc.Dataset, ErrUnverified)
	}
	// The receipt is the requester's evidence of why it holds the data:
	// it must state the purpose and case asked for, or the answer was
	// given (and audited) for another request.
	if rc.Purpose != q.Purpose || rc.CaseID != q.CaseID {
		return nil, fmt.Errorf("query: receipt names purpose %q case %q, the query purpose %q case %q: %w", rc.Purpose, rc.CaseID, q.Purpose, q.CaseID, ErrUnverified)
	}
	// The subject binding: the signed record's subject disclosure holds
	// exactly the identifier asked about, and the receipt commits to that
	// disclosure.
	subj, id, err := rec.Subject()
	if err != nil {
		return nil, fmt.Errorf("query: %v: %w: %w", err, ErrWrongSubject, ErrUnverified)
	}
	if id != q.Subject {
		return nil, fmt.Errorf("query: record %s is about another subject than the one asked for: %w: %w", rec.ID, ErrWrongSubject, ErrUnverified)
	}
	if rc.SubjectSD != subj.Digest {
		return nil, fmt.Errorf("query: the receipt names another subject than the record: %w: %w", ErrWrongSubject, ErrUnverified)
	}
	fields := rec.Fields()
	released := make(map[string]bool, len(rc.Fields))
	for _, f := range rc.Fields {
		released[f] = true
	}
	for k := range fields {
		if !released[k] {
			return nil, fmt.Errorf("query: field %s is disclosed but not in the receipt's released fields: %w", k, ErrUnverified)
		}
	}
	if len(fields) != len(resp.Data) {
		return nil, fmt.Errorf("query: data has %d fields, the record discloses %d: %w", len(resp.Data), len(fields), ErrUnverified)
	}
	for k, v := range fields {
		if !sameJSON(v, resp.Data[k]) {
			return nil, fmt.Errorf("query: data field %s differs from its disclosure: %w", k, ErrUnverified)
		}
	}
	return &Answer{Record: rec, Raw: resp.Record, Data: fields, Receipt: rc, RequestID: resp.RequestID}, nil
}

// sameJSON compares a disclosed value (numbers as json.Number) with the
// same value decoded by encoding/json (numbers as float64).
func sameJSON(disclosed, data any) bool {
	if n, ok := disclosed.(interface{ Float64() (float64, error) }); ok {
		f, err := n.Float64()
		d, ok := data.(float64)
		return err == nil && ok && f == d
	}
	return reflect.DeepEqual(disclosed, data)
}
