package connectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// Item is one record to publish.
type Item struct {
	// ID is the record id; when empty it is derived from the issuer,
	// dataset, op and fields, so republishing the same data is idempotent.
	ID     string
	Op     record.Op // default upsert
	Fields map[string]any
}

// Sink delivers signed records of one dataset to the exchange.
type Sink interface {
	// Send delivers records. Results are per record when the sink learns
	// them (HTTP); a Kafka sink returns nil results: the exchange decides
	// later and writes rejections to the dead-letter topic.
	Send(ctx context.Context, dataset string, records []string) ([]wire.Result, error)
}

// Publisher signs and sends the records of one dataset.
type Publisher struct {
	Issuer  string // the publisher's client id
	Dataset string
	Schema  string // e.g. "household/v1"
	// SubjectField is the dataset's subject field (schemas.Dataset.Subject,
	// e.g. "resident_id"): every record names it in its signed sub_field
	// claim, which binds the record to its subject (see exchange/record).
	// Required.
	SubjectField string
	Signer       keys.Signer
	Sink         Sink
	// Now stamps iat; default time.Now.
	Now func() time.Time
}

// Publish signs items (through BatchSigner when the signer has it) and
// sends them in chunks of at most 500. It returns the record ids, in
// order, and the sink's results.
func (p *Publisher) Publish(ctx context.Context, items []Item) ([]string, []wire.Result, error) {
	if p.SubjectField == "" {
		return nil, nil, fmt.Errorf("publish: no subject field: %w", record.ErrNoSubjectBinding)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	unsigned := make([]record.Unsigned, len(items))
	ids := make([]string, len(items))
	for i, it := range items {
		op := it.Op
		if op == "" {
			op = record.Upsert
		}
		id := it.ID
		if id == "" {
			id = DeriveID(p.Issuer, p.Dataset, op, it.Fields)
		}
		ids[i] = id
		unsigned[i] = record.Unsigned{
			Claims: record.Claims{Issuer: p.Issuer, Dataset: p.Dataset, Schema: p.Schema, ID: id, IssuedAt: now(), Op: op, SubjectField: p.SubjectField},
			Fields: it.Fields,
		}
	}
	recs, errs, err := record.SignMany(ctx, p.Signer, unsigned)
	if err != nil {
		return nil, nil, fmt.Errorf("publish: sign: %w", err)
	}
	if e := errors.Join(errs...); e != nil {
		return nil, nil, fmt.Errorf("publish: sign: %w", e)
	}
	var results []wire.Result
	const chunk = 500
	for lo := 0; lo < len(recs); lo += chunk {
		hi := min(lo+chunk, len(recs))
		res, err := p.Sink.Send(ctx, p.Dataset, recs[lo:hi])
		if err != nil {
			return ids, results, fmt.Errorf("publish: send: %w", err)
		}
		for _, r := range res {
			r.Index += lo
			results = append(results, r)
		}
	}
	return ids, results, nil
}

// DeriveID is the record id of data that has none: "rec-" and 32 hex
// digits of SHA-256 over the issuer, dataset, op and the fields in
// canonical (sorted-key JSON) form.
func DeriveID(issuer, dataset string, op record.Op, fields map[string]any) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", issuer, dataset, op)
	for _, k := range names {
		v, _ := json.Marshal(fields[k])
		fmt.Fprintf(h, "%s\x00%s\x00", k, v)
	}
	return "rec-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// KafkaSink writes records to the dataset's ingest topic. The writer must
// come from exchange/bus (acks from all in-sync replicas, synchronous).
type KafkaSink struct {
	Writer *kafka.Writer
	Names  bus.Names // topic namespace; default onevisit
}

// Send writes each record keyed by its record id.
func (k KafkaSink) Send(ctx context.Context, dataset string, records []string) ([]wire.Result, error) {
	msgs := make([]kafka.Message, len(records))
	for i, r := range records {
		var key []byte
		if rec, err := record.Parse(r); err == nil {
			key = []byte(rec.ID)
		}
		msgs[i] = kafka.Message{Topic: k.Names.Ingest(dataset), Key: key, Value: []byte(r)}
	}
	if err := k.Writer.WriteMessages(ctx, msgs...); err != nil {
		return nil, err
	}
	return nil, nil
}

// HTTPSink posts records to the exchange's publish endpoint and returns
// its per-record results.
type HTTPSink struct{ Client *Client }

// Send posts one batch.
func (h HTTPSink) Send(ctx context.Context, dataset string, records []string) ([]wire.Result, error) {
	var resp wire.PublishResponse
	if err := h.Client.Do(ctx, "POST", "/v1/datasets/"+dataset+"/records", wire.PublishRequest{Records: records}, &resp); err != nil {
		return nil, err
	}
	return resp.Results, nil
}
