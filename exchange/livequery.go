package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/live"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// DefaultLiveTimeout is how long a live query waits for the department's
// answer when Parts.LiveTimeout is 0.
const DefaultLiveTimeout = 5 * time.Second

// liveQueries is the node's query.LiveSource: it signs a request with the
// exchange's receipt key, writes it to request.<dataset>, and waits for a
// valid reply on reply.<dataset>, which every node tails from the moment
// it first asks that dataset (exchange/live has the format and the
// checks). Replies to other nodes' requests are skipped unread by their
// key.
type liveQueries struct {
	kafka   bus.Config
	out     ingest.Writer
	signer  keys.Signer
	keys    keys.Resolver
	schemas *schemas.Registry
	timeout time.Duration
	skew    time.Duration
	logger  *slog.Logger

	refused  *prometheus.CounterVec   // {dataset, code}
	duration *prometheus.HistogramVec // {dataset, outcome}

	mu      sync.Mutex
	run     context.Context // the node's; set by start
	tails   map[string]*replyTail
	pending map[string]*liveWait // by request id
}

type replyTail struct {
	ready chan struct{} // closed once every partition's reader is positioned
	err   error
}

type liveWait struct {
	id, dataset, subject string
	sent                 time.Time
	pol                  *policy.Set
	got                  chan *view.Entry // buffered, 1
}

var _ query.LiveSource = (*liveQueries)(nil)

func newLiveQueries(p Parts, out ingest.Writer, signer keys.Signer, dir keys.Resolver, reg prometheus.Registerer) (*liveQueries, error) {
	l := &liveQueries{
		kafka: p.Kafka, out: out, signer: signer, keys: dir, schemas: p.Schemas,
		timeout: p.LiveTimeout, skew: p.FutureSkew, logger: p.Logger,
		tails: map[string]*replyTail{}, pending: map[string]*liveWait{},
	}
	if l.timeout <= 0 {
		l.timeout = DefaultLiveTimeout
	}
	if l.skew <= 0 {
		l.skew = ingest.DefaultFutureSkew
	}
	l.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_live_replies_refused_total", Help: "Replies on a live dataset's reply topic that answered a pending request of this node but failed a check, by dataset and code."}, []string{"dataset", "code"})
	l.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onevisit_live_query_seconds", Help: "Time from writing a live request to its valid reply or its deadline, by dataset and outcome (answered, timeout, error).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"dataset", "outcome"})
	for _, c := range []prometheus.Collector{l.refused, l.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("exchange: live metrics: %w", err)
		}
	}
	return l, nil
}

// start lets Fetch open reply tails under ctx (the node's run).
func (l *liveQueries) start(ctx context.Context) {
	l.mu.Lock()
	l.run = ctx
	l.mu.Unlock()
}

// Fetch implements query.LiveSource.
func (l *liveQueries) Fetch(ctx context.Context, pol *policy.Set, dataset, subject string) (*view.Entry, error) {
	// The deadline covers opening the reply tail too: the first query of
	// a dataset waits no longer than the others.
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if err := l.tail(ctx, dataset); err != nil {
		return nil, fmt.Errorf("live %s: reply topic: %v: %w", dataset, err, codes.ErrUnavailable)
	}
	now := time.Now()
	w := &liveWait{id: live.NewRequestID(), dataset: dataset, subject: subject, sent: now, pol: pol, got: make(chan *view.Entry, 1)}
	deadline, _ := ctx.Deadline()
	tok, err := live.SignRequest(ctx, l.signer, live.Request{ID: w.id, Dataset: dataset, Subject: subject, IssuedAt: now, Expires: deadline})
	if err != nil {
		return nil, fmt.Errorf("live %s: %v: %w", dataset, err, codes.ErrUnavailable)
	}
	l.mu.Lock()
	l.pending[w.id] = w
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, w.id)
		l.mu.Unlock()
	}()
	// Key: the request id (random); the subject is only in the signed value.
	if err := l.out.WriteMessages(ctx, kafka.Message{Topic: l.kafka.Names.Request(dataset), Key: []byte(w.id), Value: []byte(tok)}); err != nil {
		l.duration.WithLabelValues(dataset, "error").Observe(time.Since(now).Seconds())
		if ctx.Err() != nil {
			return nil, fmt.Errorf("live %s: request not written before the deadline: %w", dataset, query.ErrSourceTimeout)
		}
		return nil, fmt.Errorf("live %s: write request: %v: %w", dataset, err, codes.ErrUnavailable)
	}
	select {
	case e := <-w.got:
		l.duration.WithLabelValues(dataset, "answered").Observe(time.Since(now).Seconds())
		return e, nil
	case <-ctx.Done():
		l.duration.WithLabelValues(dataset, "timeout").Observe(time.Since(now).Seconds())
		return nil, fmt.Errorf("live %s: no valid reply in %s: %w", dataset, l.timeout, query.ErrSourceTimeout)
	}
}

// tail starts the reply tail of dataset once, positioned at the end
// offsets of its partitions before any request of this node is written,
// so no reply to one can be missed.
func (l *liveQueries) tail(ctx context.Context, dataset string) error {
	l.mu.Lock()
	t, ok := l.tails[dataset]
	run := l.run
	if !ok {
		if run == nil {
			l.mu.Unlock()
			return errors.New("node not running")
		}
		t = &replyTail{ready: make(chan struct{})}
		l.tails[dataset] = t
		go l.openTail(run, dataset, t)
	}
	l.mu.Unlock()
	select {
	case <-t.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if t.err != nil {
		// Let the next query try again.
		l.mu.Lock()
		if l.tails[dataset] == t {
			delete(l.tails, dataset)
		}
		l.mu.Unlock()
	}
	return t.err
}

// openTail finds the end offsets of dataset's reply topic and tails each
// partition from there (tailPartition, as the node's tails). The readers
// are positioned by offset, not by when they connect: once the offsets are
// known, no reply written after ready closes can be missed.
func (l *liveQueries) openTail(ctx context.Context, dataset string, t *replyTail) {
	defer close(t.ready)
	topic := l.kafka.Names.Reply(dataset)
	cl, err := l.kafka.Client()
	if err != nil {
		t.err = err
		return
	}
	offs, err := endOffsets(ctx, l.logger, cl, []string{topic})
	if err != nil {
		t.err = err
		return
	}
	for _, po := range offs[topic] {
		go tailPartition(ctx, l.kafka, l.logger, topic, po.Partition, po.LastOffset, func(m kafka.Message) { l.deliver(dataset, m) })
	}
}

// deliver checks a reply against the request its key names and, if it
// answers it, hands it to the waiting query. Replies whose key names no
// request of this node (other nodes', late ones) are skipped unparsed.
func (l *liveQueries) deliver(dataset string, m kafka.Message) {
	l.mu.Lock()
	w := l.pending[string(m.Key)]
	l.mu.Unlock()
	if w == nil || w.dataset != dataset {
		return
	}
	e, err := l.check(w, string(m.Value))
	if err != nil {
		code := wire.Of(err).Name
		l.refused.WithLabelValues(dataset, code).Inc()
		l.logger.Warn("live reply refused", "dataset", dataset, "partition", m.Partition, "offset", m.Offset, "code", code)
		return
	}
	select {
	case w.got <- e:
	default: // answered already
	}
}

// check verifies a reply as ingest verifies a record, and that it answers
// w (see "Reply" in exchange/live).
func (l *liveQueries) check(w *liveWait, raw string) (*view.Entry, error) {
	if len(raw) > record.MaxSize {
		return nil, record.ErrTooLarge
	}
	now := time.Now()
	rec, err := record.Verify(raw, keys.AcceptedBefore(l.keys, now))
	if err != nil {
		return nil, err
	}
	if rec.Dataset != w.dataset {
		return nil, fmt.Errorf("live reply names dataset %q: %w", rec.Dataset, ingest.ErrDatasetMismatch)
	}
	if !w.pol.MayAnswer(rec.Issuer, rec.Dataset).Allowed {
		return nil, fmt.Errorf("live reply by %s: %w", rec.Issuer, ingest.ErrNoGrant)
	}
	if rec.ID != w.id {
		return nil, fmt.Errorf("live reply names another request: %w", query.ErrReplyMismatch)
	}
	if rec.IssuedAt.Before(w.sent.Add(-l.skew).Truncate(time.Second)) {
		return nil, fmt.Errorf("live reply signed before the request: %w", query.ErrReplyMismatch)
	}
	ds, ok := l.schemas.Dataset(rec.Dataset)
	if !ok {
		return nil, fmt.Errorf("live reply: dataset %q: %w", rec.Dataset, schemas.ErrUnknownDataset)
	}
	// The checks of ingest's step 5, as for a published record.
	subj, err := ingest.CheckContent(l.schemas, ds, rec, now, l.skew)
	if err != nil {
		return nil, fmt.Errorf("live reply: %w", err)
	}
	if subj != w.subject {
		return nil, fmt.Errorf("live reply about another subject: %w", query.ErrReplyMismatch)
	}
	return view.FromRecord(rec, now.UnixMilli()), nil
}
