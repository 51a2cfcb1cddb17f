package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/retry"
)

// Spool defaults, filled in by SpoolConfig.withDefaults, the one place
// they live.
const (
	DefaultSpoolCapacity       = 10000
	DefaultSpoolMinBackoff     = 100 * time.Millisecond
	DefaultSpoolMaxBackoff     = 30 * time.Second
	DefaultSpoolBatchSize      = 256
	DefaultSpoolFailedCapacity = 1000
	// MaxSpoolBatchSize is the largest BatchSize: Publish sends at most
	// this many records in one Sink.Send, so one attempt is one send and
	// a retry never repeats half of an earlier attempt.
	MaxSpoolBatchSize = 500
)

var (
	// ErrSpoolFull: the buffer cannot take the whole Offer. Nothing of
	// that call was taken: the caller keeps the items and offers them
	// again later (after Health is nil again, or after a pause). Offer
	// never blocks and never drops part of a call.
	ErrSpoolFull = errors.New("spool full")
	// ErrOfferTooLarge: one Offer holds more items than the buffer's whole
	// capacity, so it can never be taken. Split the call.
	ErrOfferTooLarge = errors.New("offer larger than the spool's capacity")
	// ErrSpoolClosed: Close was called. The items offered were not taken.
	ErrSpoolClosed = errors.New("spool closed")
	// ErrSpoolRunning: Run was called while another Run of the same Spool
	// is still going. Run it once.
	ErrSpoolRunning = errors.New("spool already running")
	// ErrFailedListFull: a record was refused permanently and the failed
	// list has no room for it, so the spool stopped sending until the
	// operator takes the list (TakeFailed). Health wraps it.
	ErrFailedListFull = errors.New("spool failed list full")
	// ErrInvalidSpoolConfig: NewSpool or SpoolConfig.Validate refused the
	// configuration; the *SpoolConfigError in the chain names the field.
	ErrInvalidSpoolConfig = errors.New("invalid spool config")
)

// SpoolConfigError names the field NewSpool or Validate refused.
type SpoolConfigError struct {
	Field  string // e.g. "MaxBackoff" or "Publisher.Signer"
	Reason string // what is wrong and what is allowed
}

func (e *SpoolConfigError) Error() string {
	return "invalid spool config: " + e.Field + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidSpoolConfig) hold.
func (e *SpoolConfigError) Unwrap() error { return ErrInvalidSpoolConfig }

// SpoolConfig sizes a Spool. Zero fields take the defaults above.
type SpoolConfig struct {
	// Capacity is how many items the buffer holds. Default 10000.
	Capacity int `yaml:"capacity" json:"capacity"`
	// MinBackoff is the first wait after a retryable failure; each further
	// failure doubles it. Default 100ms.
	MinBackoff time.Duration `yaml:"min_backoff" json:"min_backoff"`
	// MaxBackoff caps the wait. Default 30s.
	MaxBackoff time.Duration `yaml:"max_backoff" json:"max_backoff"`
	// BatchSize is the most items one Publish takes: 1 to 500, and at
	// most Capacity. Default 256 (Vault's transit batch default).
	BatchSize int `yaml:"batch_size" json:"batch_size"`
	// FailedCapacity is how many permanently refused items the failed
	// list keeps. Default 1000.
	FailedCapacity int `yaml:"failed_capacity" json:"failed_capacity"`
}

// withDefaults returns c with every zero field given its default.
func (c SpoolConfig) withDefaults() SpoolConfig {
	if c.Capacity == 0 {
		c.Capacity = DefaultSpoolCapacity
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultSpoolMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultSpoolMaxBackoff
	}
	if c.BatchSize == 0 {
		c.BatchSize = min(DefaultSpoolBatchSize, c.Capacity)
	}
	if c.FailedCapacity == 0 {
		c.FailedCapacity = DefaultSpoolFailedCapacity
	}
	return c
}

// Validate checks c as NewSpool will use it (zero fields defaulted). The
// error is a *SpoolConfigError naming the field.
func (c SpoolConfig) Validate() error {
	bad := func(field, reason string) error { return &SpoolConfigError{Field: field, Reason: reason} }
	switch {
	case c.Capacity < 0:
		return bad("Capacity", "must be positive (0: default 10000)")
	case c.MinBackoff < 0:
		return bad("MinBackoff", "must be positive (0: default 100ms)")
	case c.MaxBackoff < 0:
		return bad("MaxBackoff", "must be positive (0: default 30s)")
	case c.BatchSize < 0:
		return bad("BatchSize", "must be positive (0: default 256)")
	case c.FailedCapacity < 0:
		return bad("FailedCapacity", "must be positive (0: default 1000)")
	}
	d := c.withDefaults()
	switch {
	case d.MaxBackoff < d.MinBackoff:
		return bad("MaxBackoff", fmt.Sprintf("%s is below MinBackoff %s", d.MaxBackoff, d.MinBackoff))
	case d.BatchSize > MaxSpoolBatchSize:
		return bad("BatchSize", fmt.Sprintf("%d is above %d, the most one send carries", d.BatchSize, MaxSpoolBatchSize))
	case d.BatchSize > d.Capacity:
		return bad("BatchSize", fmt.Sprintf("%d is above Capacity %d", d.BatchSize, d.Capacity))
	}
	return nil
}

// FailedItem is an item the spool gave up on: the signer, the record
// format or the sink refused it for good. It never reached the exchange.
type FailedItem struct {
	Item Item      // as offered, with its ID and Op filled in
	Err  error     // why; wraps the refusing layer's sentinel
	At   time.Time // when it was given up
}

// HealthError is Health's answer while the spool cannot deliver. It
// wraps the cause: keys.ErrUnavailable when the signer (Vault) is sealed
// or unreachable, the sink's error when the exchange or Kafka is down,
// ErrFailedListFull when refused items wait for the operator.
type HealthError struct {
	Cause    error
	Since    time.Time     // the first failure of this outage
	For      time.Duration // how long it has been failing
	Buffered int           // items waiting
}

func (e *HealthError) Error() string {
	return fmt.Sprintf("spool degraded for %s with %d records waiting: %v", e.For, e.Buffered, e.Cause)
}

// Unwrap makes errors.Is(err, keys.ErrUnavailable) and the like hold.
func (e *HealthError) Unwrap() error { return e.Cause }

// Spool is a bounded, in-memory buffer in front of a Publisher that keeps
// records flowing through outages of the signer (the department's Vault)
// and of the sink.
//
// Lifecycle: NewSpool checks the configuration and registers the metrics;
// Run(ctx) sends until ctx ends or Close; Offer may be called at any time
// from any goroutine; Close stops Run and is safe to call twice.
//
// Promises:
//   - Never unsigned: items reach the sink only through Publisher.Publish,
//     which sends nothing of a batch unless every item in it was signed.
//     While the signer fails, nothing is sent.
//   - Bounded: at most Capacity items wait. Offer refuses a call that does
//     not fit as a whole (ErrSpoolFull) and never blocks; nothing offered
//     and accepted is dropped silently: it is delivered, listed in
//     Failed, or still buffered when Run stops.
//   - Retries without storms: a retryable failure is tried again after
//     MinBackoff, doubling per consecutive failure up to MaxBackoff, each
//     wait drawn between half and all of that step.
//   - No endless loops: an item refused for good is isolated (the batch is
//     halved until the item is alone) and moved to the bounded failed
//     list; the rest go on.
//   - At least once, idempotent: an attempt that fails after a partial
//     send is sent again; record ids are fixed at Offer, so the exchange
//     answers "duplicate" and delivers nothing twice.
//   - Observable: Health and HealthHandler say why and since when the spool
//     cannot deliver and how much waits.
//
// Metrics, each with a constant label dataset:
//   - onevisit_connector_buffered_records (gauge): items waiting;
//   - onevisit_connector_signer_up (gauge): 0 while the last attempt found
//     the signer unavailable, else 1;
//   - onevisit_connector_publish_attempts_total{result} (counter): ok,
//     retry, failed;
//   - onevisit_connector_delivered_records_total,
//     onevisit_connector_failed_records_total and
//     onevisit_connector_rejected_records_total (counters): records sent,
//     moved to the failed list, and answered "rejected" by the exchange.
type Spool struct {
	pub    *Publisher
	cfg    SpoolConfig
	log    *slog.Logger
	m      spoolMetrics
	jitter func(d time.Duration) time.Duration // the wait for a backoff step of d

	mu       sync.Mutex
	queue    []Item       // head first; only Run removes, only Offer appends
	failed   []FailedItem // oldest first
	cause    error        // why the spool cannot deliver; nil when it can
	since    time.Time    // when cause was first seen
	closed   bool
	running  bool
	stopRun  context.CancelFunc
	wake     chan struct{} // Offer: there is work
	resumed  chan struct{} // TakeFailed: the failed list has room
	lastKind string        // health reason code of cause
}

var _ http.Handler = (*healthHandler)(nil)

// NewSpool checks p and cfg and registers the spool's metrics on reg (nil:
// not registered). It starts nothing: Run does the work.
func NewSpool(p *Publisher, cfg SpoolConfig, reg prometheus.Registerer, logger *slog.Logger) (*Spool, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("new spool: %w", &SpoolConfigError{Field: "Publisher", Reason: "is nil"})
	case p.Signer == nil:
		return nil, fmt.Errorf("new spool: %w", &SpoolConfigError{Field: "Publisher.Signer", Reason: "is nil; a spool never sends unsigned records"})
	case p.Sink == nil:
		return nil, fmt.Errorf("new spool: %w", &SpoolConfigError{Field: "Publisher.Sink", Reason: "is nil"})
	case p.Dataset == "":
		return nil, fmt.Errorf("new spool: %w", &SpoolConfigError{Field: "Publisher.Dataset", Reason: "is empty"})
	case p.SubjectField == "":
		return nil, fmt.Errorf("new spool: %w", &SpoolConfigError{Field: "Publisher.SubjectField", Reason: "is empty; records must name their subject field"})
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new spool: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := newSpoolMetrics(p.Dataset)
	if reg != nil {
		for _, c := range m.collectors() {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("new spool: register metrics: %w", err)
			}
		}
	}
	return &Spool{
		pub:     p,
		cfg:     cfg.withDefaults(),
		log:     logger.With("dataset", p.Dataset),
		m:       m,
		jitter:  retry.EqualJitter,
		wake:    make(chan struct{}, 1),
		resumed: make(chan struct{}, 1),
	}, nil
}

// Offer adds items to the tail of the buffer, all or none. It fails with
// ErrSpoolFull when they do not all fit (the caller keeps them and offers
// them again later), ErrOfferTooLarge when they could never fit, and
// ErrSpoolClosed after Close. It never blocks on the signer or the sink.
//
// Each item's ID is derived now when empty (DeriveID) and its Op set to
// upsert when empty, so a record keeps its id across retries and the
// exchange can drop duplicates. The Fields map is copied one level deep:
// do not change nested values after Offer.
func (s *Spool) Offer(items ...Item) error {
	if len(items) == 0 {
		return nil
	}
	if len(items) > s.cfg.Capacity {
		return fmt.Errorf("offer %d records: %w (%d)", len(items), ErrOfferTooLarge, s.cfg.Capacity)
	}
	taken := make([]Item, len(items))
	for i, it := range items {
		if it.Op == "" {
			it.Op = record.Upsert
		}
		it.Fields = maps.Clone(it.Fields)
		if it.ID == "" {
			it.ID = DeriveID(s.pub.Issuer, s.pub.Dataset, it.Op, it.Fields)
		}
		taken[i] = it
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("offer %d records: %w", len(items), ErrSpoolClosed)
	}
	if n := len(s.queue); n+len(taken) > s.cfg.Capacity {
		s.mu.Unlock()
		return fmt.Errorf("offer %d records: %w: %d of %d buffered", len(items), ErrSpoolFull, n, s.cfg.Capacity)
	}
	s.queue = append(s.queue, taken...)
	s.m.buffered.Set(float64(len(s.queue)))
	s.mu.Unlock()
	signal(s.wake)
	return nil
}

// Run sends buffered items until ctx ends or Close is called; it returns
// nil after Close and ctx's error otherwise. Items still buffered then
// stay in memory (Buffered counts them) and are lost with the process:
// the department's own system stays the source of truth.
//
// Each attempt publishes up to BatchSize items from the head:
//   - success removes them;
//   - a retryable failure (the signer is unavailable, the sink or the
//     exchange is temporarily down: see retry.Retriable) keeps them at the head
//     and waits an exponential backoff with jitter before trying again;
//   - a permanent failure of several items halves the batch to find the
//     item at fault; a permanent failure of one item moves it to the
//     failed list, and the rest go on.
//
// Nothing is sent unless the Publisher signed it: Publish sends only
// after every item of the attempt is signed.
func (s *Spool) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return fmt.Errorf("run spool: %w", ErrSpoolClosed)
	case s.running:
		s.mu.Unlock()
		return fmt.Errorf("run spool: %w", ErrSpoolRunning)
	}
	s.running, s.stopRun = true, cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running, s.stopRun = false, nil
		s.mu.Unlock()
	}()
	s.log.Info("spool running", "capacity", s.cfg.Capacity, "batch_size", s.cfg.BatchSize)

	limit := s.cfg.BatchSize // shrinks while looking for an item at fault
	failures := 0            // consecutive retryable failures
	for {
		batch := s.head(limit)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return s.stopped(ctx)
			case <-s.wake:
				continue
			}
		}
		_, results, err := s.pub.Publish(ctx, batch)
		if err != nil && ctx.Err() != nil {
			return s.stopped(ctx) // the items stay at the head
		}
		switch {
		case err == nil:
			s.delivered(batch, results)
			failures = 0
			limit = min(limit*2, s.cfg.BatchSize)
		case retry.Retriable(err):
			failures++
			wait := s.jitter(retry.Backoff{Base: s.cfg.MinBackoff, Cap: s.cfg.MaxBackoff}.Step(failures))
			s.retrying(err, len(batch), failures, wait)
			if !retry.Sleep(ctx, wait) {
				return s.stopped(ctx)
			}
		case len(batch) > 1:
			// One item (or more) is at fault: try each half alone.
			s.m.attempts.WithLabelValues("failed").Inc()
			limit = (len(batch) + 1) / 2
		default:
			if s.giveUp(batch[0], err) {
				limit = s.cfg.BatchSize
				continue
			}
			// The failed list is full: wait for the operator.
			select {
			case <-ctx.Done():
				return s.stopped(ctx)
			case <-s.resumed:
			}
		}
	}
}

// stopped is Run's answer when its context ended: nil after Close.
func (s *Spool) stopped(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return fmt.Errorf("run spool: %w", context.Cause(ctx))
}

// head copies up to n items from the head of the queue.
func (s *Spool) head(n int) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queue[:min(n, len(s.queue))])
}

// delivered removes a published batch from the head and marks the spool
// healthy. Records the exchange answered "rejected" (HTTP sinks) are in
// its dead-letter topic with their reason; they are counted and logged
// by id here, and not retried.
func (s *Spool) delivered(batch []Item, results []ingest.Result) {
	s.mu.Lock()
	s.queue = slices.Delete(s.queue, 0, len(batch))
	wasDown, since := s.cause != nil, s.since
	s.cause, s.since, s.lastKind = nil, time.Time{}, ""
	s.m.buffered.Set(float64(len(s.queue)))
	s.mu.Unlock()
	s.m.attempts.WithLabelValues("ok").Inc()
	s.m.signerUp.Set(1)
	s.m.delivered.Add(float64(len(batch)))
	for _, r := range results {
		if r.Status == ingest.Rejected {
			s.m.rejected.Inc()
			s.log.Warn("exchange rejected record", "record_id", r.RecordID, "code", r.Code)
		}
	}
	if wasDown {
		s.log.Info("spool delivering again", "outage", time.Since(since))
	}
}

// retrying records a retryable failure.
func (s *Spool) retrying(err error, n, failures int, wait time.Duration) {
	kind := "sink_unavailable"
	if errors.Is(err, keys.ErrUnavailable) {
		kind = "signer_unavailable"
		s.m.signerUp.Set(0)
	} else {
		// Publish sends only what it signed: the signer answered.
		s.m.signerUp.Set(1)
	}
	s.m.attempts.WithLabelValues("retry").Inc()
	s.setCause(err, kind)
	s.log.Warn("publish failed; retrying", "reason", kind, "records", n, "failures", failures, "backoff", wait, "err", err)
}

func (s *Spool) setCause(err error, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cause == nil {
		s.since = time.Now()
	}
	s.cause, s.lastKind = err, kind
}

// giveUp moves the head item to the failed list. It reports false, and
// leaves the item at the head, when the list is full.
func (s *Spool) giveUp(it Item, err error) bool {
	s.m.attempts.WithLabelValues("failed").Inc()
	s.mu.Lock()
	if len(s.failed) >= s.cfg.FailedCapacity {
		s.mu.Unlock()
		s.setCause(fmt.Errorf("%w (%d items): %w", ErrFailedListFull, s.cfg.FailedCapacity, err), "failed_list_full")
		s.log.Error("record refused and the failed list is full; sending paused until TakeFailed",
			"record_id", it.ID, "err", err)
		return false
	}
	s.failed = append(s.failed, FailedItem{Item: it, Err: err, At: time.Now()})
	s.queue = slices.Delete(s.queue, 0, 1)
	if s.lastKind == "failed_list_full" {
		s.cause, s.since, s.lastKind = nil, time.Time{}, ""
	}
	s.m.buffered.Set(float64(len(s.queue)))
	s.mu.Unlock()
	s.m.failed.Inc()
	s.log.Error("record refused permanently; moved to the failed list", "record_id", it.ID, "err", err)
	return true
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Buffered is the number of items waiting to be sent.
func (s *Spool) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Failed returns a copy of the failed list, oldest first.
func (s *Spool) Failed() []FailedItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.failed)
}

// TakeFailed returns the failed list and empties it, which lets a spool
// paused on ErrFailedListFull go on. Fix the items (or the signer's
// configuration) and Offer them again.
func (s *Spool) TakeFailed() []FailedItem {
	s.mu.Lock()
	out := s.failed
	s.failed = nil
	s.mu.Unlock()
	signal(s.resumed)
	return out
}

// Health is nil while the spool can deliver: nothing tried yet, or the
// last attempt succeeded. Otherwise it is a *HealthError wrapping the
// cause (errors.Is(err, keys.ErrUnavailable) while Vault is sealed or
// unreachable). A record refused for good is not an outage: it goes to
// the failed list and the failed counter (alert on its rate), and
// sending goes on; only a full failed list makes the spool unhealthy.
func (s *Spool) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cause == nil {
		return nil
	}
	return &HealthError{Cause: s.cause, Since: s.since, For: time.Since(s.since), Buffered: len(s.queue)}
}

// HealthHandler answers GET with 200 {"status":"ok",...} while Health is
// nil and 503 {"status":"degraded","reason":...,"error":...} otherwise.
// reason is a stable code: signer_unavailable, sink_unavailable or
// failed_list_full.
func (s *Spool) HealthHandler() http.Handler { return &healthHandler{s} }

type healthHandler struct{ s *Spool }

// healthBody is the health answer. Its fields are this API's contract.
type healthBody struct {
	Status       string `json:"status"`
	Dataset      string `json:"dataset"`
	Reason       string `json:"reason,omitempty"`
	Error        string `json:"error,omitempty"`
	Buffered     int    `json:"buffered"`
	Failed       int    `json:"failed"`
	FailingSince string `json:"failing_since,omitempty"`
	FailingFor   string `json:"failing_for,omitempty"`
}

func (h *healthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	s.mu.Lock()
	b := healthBody{Status: "ok", Dataset: s.pub.Dataset, Buffered: len(s.queue), Failed: len(s.failed)}
	code := http.StatusOK
	if s.cause != nil {
		code = http.StatusServiceUnavailable
		b.Status, b.Reason, b.Error = "degraded", s.lastKind, s.cause.Error()
		b.FailingSince = s.since.UTC().Format(time.RFC3339Nano)
		b.FailingFor = time.Since(s.since).String()
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(b)
}

// Close stops Run (which returns nil) and refuses further Offers. The
// buffered items are not sent. Safe to call twice.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stopRun != nil {
		s.stopRun()
	}
	return nil
}

// spoolMetrics are a spool's Prometheus metrics, labelled with its
// dataset.
type spoolMetrics struct {
	buffered  prometheus.Gauge
	signerUp  prometheus.Gauge
	attempts  *prometheus.CounterVec
	delivered prometheus.Counter
	failed    prometheus.Counter
	rejected  prometheus.Counter
}

func newSpoolMetrics(dataset string) spoolMetrics {
	l := prometheus.Labels{"dataset": dataset}
	m := spoolMetrics{
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "onevisit_connector_buffered_records", ConstLabels: l,
			Help: "Records offered to the spool and not yet sent.",
		}),
		signerUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "onevisit_connector_signer_up", ConstLabels: l,
			Help: "0 while the last attempt found the signer (Vault) unavailable, 1 otherwise.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onevisit_connector_publish_attempts_total", ConstLabels: l,
			Help: "Publish attempts by result: ok, retry (kept for a retry) or failed (refused for good).",
		}, []string{"result"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "onevisit_connector_delivered_records_total", ConstLabels: l,
			Help: "Records signed and accepted by the sink.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "onevisit_connector_failed_records_total", ConstLabels: l,
			Help: "Records refused for good before reaching the exchange, moved to the failed list.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "onevisit_connector_rejected_records_total", ConstLabels: l,
			Help: "Records the exchange answered rejected (in its dead-letter topic).",
		}),
	}
	// Nothing tried yet: the signer is not known to be down.
	m.signerUp.Set(1)
	for _, r := range []string{"ok", "retry", "failed"} {
		m.attempts.WithLabelValues(r)
	}
	return m
}

func (m spoolMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.buffered, m.signerUp, m.attempts, m.delivered, m.failed, m.rejected}
}
