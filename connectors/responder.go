package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/live"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/schemas"
)

// ErrNoRecord is what a Responder's Lookup returns when the department
// holds nothing on the subject: the responder answers with a signed
// delete (the exchange answers 404 not_found) instead of letting the
// query time out.
var ErrNoRecord = errors.New("no record for this subject")

// LookupFunc returns the current fields of subject's record, the
// dataset's subject field included (or left out: the responder adds it),
// or ErrNoRecord. Any other error leaves the request unanswered (the
// exchange answers 504 source_timeout).
type LookupFunc func(ctx context.Context, subject string) (map[string]any, error)

// KeySource gives the exchange's key directory (Requester.Keys does, from
// GET /v1/keys); refresh asks for a fresh copy.
type KeySource func(ctx context.Context) (*keys.Directory, error)

// Responder answers a live dataset's queries at the department (see
// exchange/live for the format). Its life cycle: build it with every
// field set but Logger; Run consumes request.<dataset> in the
// group bus.Names.Responders(dataset), so several responders of one
// dataset share the work; for each request it verifies the exchange's
// signature (live.VerifyRequest: exchange key, this dataset, deadline not
// passed; anything else is dropped and counted, see Counts), calls Lookup,
// signs the record now with its own record key, bound to the request (jti
// = request id) and to the subject (sub_field), and writes it to
// reply.<dataset>. It commits a request's offset after its reply is
// written (or it was dropped), so after a restart it answers what it had
// not, and skips those past their deadline. Run returns when ctx ends or
// the reader fails; the caller owns Reader and Writer and closes them
// after Run returns.
type Responder struct {
	Issuer       string // the department's client id; its live grant names Dataset
	Dataset      string
	Schema       string // e.g. "tax_certificate/v1"
	SubjectField string
	Signer       keys.Signer // the department's record key
	Lookup       LookupFunc
	Keys         KeySource
	// Reader reads the request topic in the responders' group
	// (bus.Config.GroupReader(names.Responders(d), []string{names.Request(d)}));
	// Writer writes replies (bus.Config.Writer).
	Reader *kafka.Reader
	Writer *kafka.Writer
	Names  bus.Names
	Logger *slog.Logger

	mu       sync.Mutex
	dir      *keys.Directory
	fetched  time.Time
	answered int
	dropped  int
}

// Counts returns how many requests the responder answered and dropped
// (bad signature, other dataset, deadline passed, lookup failed).
func (r *Responder) Counts() (answered, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answered, r.dropped
}

// Run answers requests until ctx ends (nil) or the reader fails.
func (r *Responder) Run(ctx context.Context) error {
	if r.Lookup == nil || r.Signer == nil || r.Keys == nil || r.Reader == nil || r.Writer == nil || r.SubjectField == "" {
		return errors.New("responder: Lookup, Signer, Keys, Reader, Writer and SubjectField are required")
	}
	lg := r.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	for {
		m, err := r.Reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("responder %s: %w", r.Dataset, err)
		}
		if err := r.answer(ctx, string(m.Value)); err != nil {
			r.count(false)
			// A lookup's error may quote the subject (a database's "invalid
			// input syntax" does): never log an identity number.
			lg.Warn("live request not answered", "dataset", r.Dataset, "partition", m.Partition, "offset", m.Offset, "err", schemas.RedactIdentities(err.Error()))
		} else {
			r.count(true)
		}
		if err := r.Reader.CommitMessages(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("responder %s: commit: %w", r.Dataset, err)
		}
	}
}

func (r *Responder) count(ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.answered++
	} else {
		r.dropped++
	}
}

// keys returns the exchange's key directory, fetched again when refresh
// is set and the last fetch is older than a few seconds (a kid the
// responder does not know yet: the exchange rotated).
func (r *Responder) keys(ctx context.Context, refresh bool) (*keys.Directory, error) {
	r.mu.Lock()
	dir, at := r.dir, r.fetched
	r.mu.Unlock()
	if dir != nil && (!refresh || time.Since(at) < 5*time.Second) {
		return dir, nil
	}
	d, err := r.Keys(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.dir, r.fetched = d, time.Now()
	r.mu.Unlock()
	return d, nil
}

func (r *Responder) answer(ctx context.Context, token string) error {
	dir, err := r.keys(ctx, false)
	if err != nil {
		return err
	}
	req, err := live.VerifyRequest(token, dir, r.Dataset, time.Now())
	if errors.Is(err, keys.ErrUnknownKey) {
		if dir, err = r.keys(ctx, true); err == nil {
			req, err = live.VerifyRequest(token, dir, r.Dataset, time.Now())
		}
	}
	if err != nil {
		return err
	}
	// The exchange waits until the request's deadline, no longer.
	ctx, cancel := context.WithDeadline(ctx, req.Expires)
	defer cancel()
	op := record.Upsert
	fields, err := r.Lookup(ctx, req.Subject)
	switch {
	case errors.Is(err, ErrNoRecord):
		op, fields = record.Delete, map[string]any{r.SubjectField: req.Subject}
	case err != nil:
		return fmt.Errorf("lookup: %w", err)
	}
	if fields == nil {
		fields = map[string]any{}
	}
	if got, ok := fields[r.SubjectField]; !ok {
		fields[r.SubjectField] = req.Subject
	} else if got != req.Subject {
		// Never answer about someone else: the exchange would refuse it.
		return fmt.Errorf("lookup returned a record of another subject: %w", ErrWrongSubject)
	}
	rec, err := record.Sign(ctx, r.Signer, record.Claims{
		Issuer: r.Issuer, Dataset: r.Dataset, Schema: r.Schema, ID: req.ID,
		IssuedAt: time.Now(), Op: op, SubjectField: r.SubjectField,
	}, fields)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	// Key: the request id; the subject is only inside the signed record.
	if err := r.Writer.WriteMessages(ctx, kafka.Message{Topic: r.Names.Reply(r.Dataset), Key: []byte(req.ID), Value: []byte(rec)}); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	return nil
}

// MapLookup answers from records held in memory, keyed by subject (see
// BySubject; the CSV responder of `onevisit connector respond` uses it).
func MapLookup(bySubject map[string]map[string]any) LookupFunc {
	return func(_ context.Context, subject string) (map[string]any, error) {
		f, ok := bySubject[subject]
		if !ok {
			return nil, ErrNoRecord
		}
		return maps.Clone(f), nil
	}
}

// BySubject keys the fields of items by their subjectField's value, for
// MapLookup. An item without a string subject is left out.
func BySubject(items []Item, subjectField string) map[string]map[string]any {
	by := make(map[string]map[string]any, len(items))
	for _, it := range items {
		if s, ok := it.Fields[subjectField].(string); ok {
			by[s] = it.Fields
		}
	}
	return by
}
