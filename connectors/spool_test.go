package connectors

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/deploy/vault/vaulttest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/keys/vault"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/retry"
	"github.com/onevisit/onevisit/exchange/wire"
)

// ---- the parts the tests run the spool against ----

// memSink is the exchange side: a real in-memory Sink that keeps every
// record it receives. errs, when set, are answered (and consumed) in
// order instead of taking the next sends. While outage is set it counts
// what arrives anyway: a spool must send nothing while it cannot sign.
type memSink struct {
	mu           sync.Mutex
	records      []string
	errs         []error
	outage       bool
	duringOutage int
}

var _ Sink = (*memSink)(nil)

func (m *memSink) Send(ctx context.Context, dataset string, records []string) ([]wire.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outage {
		m.duringOutage += len(records)
	}
	if len(m.errs) > 0 {
		err := m.errs[0]
		m.errs = m.errs[1:]
		if err != nil {
			return nil, err
		}
	}
	m.records = append(m.records, records...)
	return nil, nil
}

func (m *memSink) setOutage(on bool) {
	m.mu.Lock()
	m.outage = on
	m.mu.Unlock()
}

func (m *memSink) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.records)
}

func (m *memSink) sentDuringOutage() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.duringOutage
}

// flakySigner is an in-process Ed25519 signer (keys.NewLocalSigner) that
// fails on demand. It is a fake outage and is used only by the synctest
// tests of timing and error handling: a real Vault's HTTP round trips
// cannot run inside a synctest bubble. TestSpoolVaultOutage runs the same
// spool against the real OpenBao server.
type flakySigner struct {
	keys.Signer
	mu        sync.Mutex
	calls     []time.Time // when each batch call came
	failFirst int         // the first failFirst calls fail with keys.ErrUnavailable
	refuse    error       // when set, every call fails with it (a permanent error)
}

var (
	_ keys.Signer      = (*flakySigner)(nil)
	_ keys.BatchSigner = (*flakySigner)(nil)
)

const testKID = "public-security-record#1"

func newFlakySigner(tb testing.TB) (*flakySigner, keys.Resolver) {
	tb.Helper()
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	dir := keys.NewDirectory()
	if err := dir.Add(keys.PublicKey{KID: testKID, Owner: "public-security", Use: keys.UseRecord,
		Key: priv.Public().(ed25519.PublicKey), Status: keys.Active, Created: time.Unix(0, 0)}); err != nil {
		tb.Fatal(err)
	}
	return &flakySigner{Signer: keys.NewLocalSigner(testKID, priv)}, dir
}

func (f *flakySigner) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	if f.refuse != nil {
		return fmt.Errorf("flaky sign: %w", f.refuse)
	}
	if len(f.calls) <= f.failFirst {
		return fmt.Errorf("flaky sign: %w: sealed", keys.ErrUnavailable)
	}
	return nil
}

func (f *flakySigner) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Signer.Sign(ctx, kid, msg)
}

func (f *flakySigner) SignBatch(ctx context.Context, kid string, msgs [][]byte) ([][]byte, []error, error) {
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	return f.Signer.(keys.BatchSigner).SignBatch(ctx, kid, msgs)
}

func (f *flakySigner) set(failFirst int, refuse error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failFirst, f.refuse = len(f.calls)+failFirst, refuse
}

func (f *flakySigner) callTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func testPublisher(signer keys.Signer, sink Sink) *Publisher {
	return &Publisher{Issuer: "public-security", Dataset: "household", Schema: "household/v1", SubjectField: "name", Signer: signer, Sink: sink}
}

// testItems are n items numbered from first; their ids are derived.
func testItems(first, n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{Fields: map[string]any{"seq": first + i, "name": fmt.Sprintf("resident %d", first+i)}}
	}
	return items
}

// poison is an item the record format refuses for good: "iss" is a
// reserved claim and cannot be a field.
func poison(n int) Item {
	return Item{Fields: map[string]any{"seq": n, "iss": "someone else"}}
}

func idsOf(p *Publisher, items []Item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = DeriveID(p.Issuer, p.Dataset, record.Upsert, it.Fields)
	}
	return ids
}

// verifiedIDs verifies every record with r and returns their ids in
// order; a record that does not verify fails the test.
func verifiedIDs(tb testing.TB, recs []string, r keys.Resolver) []string {
	tb.Helper()
	ids := make([]string, len(recs))
	for i, raw := range recs {
		rec, err := record.Verify(raw, r)
		if err != nil {
			tb.Fatalf("record %d does not verify: %v", i, err)
		}
		if rec.Issuer != "public-security" || rec.Dataset != "household" {
			tb.Fatalf("record %d: issuer %q dataset %q", i, rec.Issuer, rec.Dataset)
		}
		ids[i] = rec.ID
	}
	return ids
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newTestSpool(tb testing.TB, p *Publisher, cfg SpoolConfig) (*Spool, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	sp, err := NewSpool(p, cfg, reg, testLogger(tb))
	if err != nil {
		tb.Fatalf("NewSpool: %v", err)
	}
	return sp, reg
}

// run starts sp.Run and returns a stop function that closes the spool
// and checks that Run returned nil.
func run(tb testing.TB, sp *Spool) (stop func()) {
	done := make(chan error, 1)
	go func() { done <- sp.Run(context.Background()) }()
	return func() {
		tb.Helper()
		if err := sp.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("Run() after Close = %v, want nil", err)
		}
	}
}

// metric reads one sample of a gauge or counter from g; labels beyond
// dataset pick the series.
func metric(tb testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if got["dataset"] != "household" {
				tb.Fatalf("%s has dataset label %q", name, got["dataset"])
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	tb.Fatalf("no metric %s %v", name, labels)
	return 0
}

type attempts struct{ OK, Retry, Failed float64 }

func attemptsOf(tb testing.TB, g prometheus.Gatherer) attempts {
	tb.Helper()
	const n = "onevisit_connector_publish_attempts_total"
	return attempts{metric(tb, g, n, "result", "ok"), metric(tb, g, n, "result", "retry"), metric(tb, g, n, "result", "failed")}
}

// ---- configuration and classification ----

func TestSpoolConfigValidate(t *testing.T) {
	tests := []struct {
		name      string
		cfg       SpoolConfig
		wantErr   error
		wantField string
	}{
		{name: "zero takes the defaults", cfg: SpoolConfig{}},
		{name: "small spool, batch defaults to capacity", cfg: SpoolConfig{Capacity: 10}},
		{name: "everything set", cfg: SpoolConfig{Capacity: 100, MinBackoff: time.Second, MaxBackoff: time.Second, BatchSize: 100, FailedCapacity: 1}},
		{name: "negative capacity", cfg: SpoolConfig{Capacity: -1}, wantErr: ErrInvalidSpoolConfig, wantField: "Capacity"},
		{name: "negative min backoff", cfg: SpoolConfig{MinBackoff: -time.Second}, wantErr: ErrInvalidSpoolConfig, wantField: "MinBackoff"},
		{name: "negative max backoff", cfg: SpoolConfig{MaxBackoff: -time.Second}, wantErr: ErrInvalidSpoolConfig, wantField: "MaxBackoff"},
		{name: "max below min", cfg: SpoolConfig{MinBackoff: time.Minute}, wantErr: ErrInvalidSpoolConfig, wantField: "MaxBackoff"},
		{name: "negative batch", cfg: SpoolConfig{BatchSize: -1}, wantErr: ErrInvalidSpoolConfig, wantField: "BatchSize"},
		{name: "batch above one send", cfg: SpoolConfig{BatchSize: 501}, wantErr: ErrInvalidSpoolConfig, wantField: "BatchSize"},
		{name: "batch above capacity", cfg: SpoolConfig{Capacity: 10, BatchSize: 11}, wantErr: ErrInvalidSpoolConfig, wantField: "BatchSize"},
		{name: "negative failed capacity", cfg: SpoolConfig{FailedCapacity: -1}, wantErr: ErrInvalidSpoolConfig, wantField: "FailedCapacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.wantErr)
			}
			var ce *SpoolConfigError
			if tt.wantErr != nil && (!errors.As(err, &ce) || ce.Field != tt.wantField) {
				t.Fatalf("Validate() = %v, want field %s", err, tt.wantField)
			}
		})
	}
	got := SpoolConfig{Capacity: 10}.withDefaults()
	want := SpoolConfig{Capacity: 10, MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, BatchSize: 10, FailedCapacity: 1000}
	if got != want {
		t.Fatalf("withDefaults() = %+v, want %+v", got, want)
	}
}

func TestNewSpoolRefuses(t *testing.T) {
	signer, _ := newFlakySigner(t)
	tests := []struct {
		name      string
		p         *Publisher
		cfg       SpoolConfig
		wantErr   error
		wantField string
	}{
		{name: "no publisher", wantErr: ErrInvalidSpoolConfig, wantField: "Publisher"},
		{name: "no signer: never unsigned", p: testPublisher(nil, &memSink{}), wantErr: ErrInvalidSpoolConfig, wantField: "Publisher.Signer"},
		{name: "no sink", p: testPublisher(signer, nil), wantErr: ErrInvalidSpoolConfig, wantField: "Publisher.Sink"},
		{name: "no dataset", p: &Publisher{Signer: signer, Sink: &memSink{}}, wantErr: ErrInvalidSpoolConfig, wantField: "Publisher.Dataset"},
		{name: "bad config", p: testPublisher(signer, &memSink{}), cfg: SpoolConfig{BatchSize: 1000}, wantErr: ErrInvalidSpoolConfig, wantField: "BatchSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := NewSpool(tt.p, tt.cfg, nil, nil)
			var ce *SpoolConfigError
			if sp != nil || !errors.Is(err, tt.wantErr) || !errors.As(err, &ce) || ce.Field != tt.wantField {
				t.Fatalf("NewSpool() = %v, %v; want %v on %s", sp, err, tt.wantErr, tt.wantField)
			}
		})
	}
	// Two spools of the same dataset cannot share a registry.
	reg := prometheus.NewRegistry()
	if _, err := NewSpool(testPublisher(signer, &memSink{}), SpoolConfig{}, reg, nil); err != nil {
		t.Fatal(err)
	}
	var are prometheus.AlreadyRegisteredError
	if _, err := NewSpool(testPublisher(signer, &memSink{}), SpoolConfig{}, reg, nil); !errors.As(err, &are) {
		t.Fatalf("second NewSpool on one registry = %v, want AlreadyRegisteredError", err)
	}
}

func TestRetryable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "vault sealed", err: fmt.Errorf("publish: sign: %w", fmt.Errorf("vault sign batch: %w: 503", keys.ErrUnavailable)), want: true},
		{name: "exchange 503", err: fmt.Errorf("publish: send: %w", &APIError{Status: 503, Code: "unavailable"}), want: true},
		{name: "gateway 502", err: &APIError{Status: 502}, want: true},
		{name: "gateway 504", err: &APIError{Status: 504}, want: true},
		{name: "rate limited 429", err: &APIError{Status: 429}, want: true},
		{name: "exchange 400", err: &APIError{Status: 400, Code: "invalid_request"}, want: false},
		{name: "exchange 403", err: &APIError{Status: 403, Code: "forbidden"}, want: false},
		{name: "exchange 500", err: &APIError{Status: 500}, want: false},
		{name: "kafka not enough replicas", err: fmt.Errorf("publish: send: %w", kafka.NotEnoughReplicas), want: true},
		{name: "kafka leader moved", err: kafka.WriteErrors{kafka.NotLeaderForPartition, nil}, want: true},
		{name: "kafka message too large", err: kafka.MessageSizeTooLarge, want: false},
		{name: "kafka one permanent among retriable", err: kafka.WriteErrors{kafka.NotLeaderForPartition, kafka.MessageSizeTooLarge}, want: false},
		{name: "connection refused", err: fmt.Errorf("publish: send: %w", refused), want: true},
		{name: "inner timeout", err: fmt.Errorf("publish: send: %w", context.DeadlineExceeded), want: true},
		{name: "record refused by the format", err: fmt.Errorf("publish: sign: %w", record.ErrBadDisclosure), want: false},
		{name: "unknown key", err: fmt.Errorf("publish: sign: %w", keys.ErrUnknownKey), want: false},
		{name: "vault permission denied", err: fmt.Errorf("publish: sign: %w", vault.ErrPermissionDenied), want: false},
		{name: "vault bad response", err: fmt.Errorf("publish: sign: %w", vault.ErrBadResponse), want: false},
		{name: "nil", err: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retry.Retriable(tt.err); got != tt.want {
				t.Fatalf("retry.Retriable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestOffer(t *testing.T) {
	signer, _ := newFlakySigner(t)
	tests := []struct {
		name         string
		before       int // items offered first
		offer        int
		closed       bool
		wantErr      error
		wantBuffered int
	}{
		{name: "fits", before: 3, offer: 2, wantBuffered: 5},
		{name: "nothing", before: 3, offer: 0, wantBuffered: 3},
		{name: "one too many refuses the whole call", before: 3, offer: 3, wantErr: ErrSpoolFull, wantBuffered: 3},
		{name: "full", before: 5, offer: 1, wantErr: ErrSpoolFull, wantBuffered: 5},
		{name: "larger than the spool", offer: 6, wantErr: ErrOfferTooLarge, wantBuffered: 0},
		{name: "closed", before: 1, offer: 1, closed: true, wantErr: ErrSpoolClosed, wantBuffered: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, reg := newTestSpool(t, testPublisher(signer, &memSink{}), SpoolConfig{Capacity: 5})
			if err := sp.Offer(testItems(0, tt.before)...); err != nil {
				t.Fatal(err)
			}
			if tt.closed {
				sp.Close()
			}
			err := sp.Offer(testItems(100, tt.offer)...)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Offer() = %v, want %v", err, tt.wantErr)
			}
			if got := sp.Buffered(); got != tt.wantBuffered {
				t.Fatalf("Buffered() = %d, want %d", got, tt.wantBuffered)
			}
			if got := metric(t, reg, "onevisit_connector_buffered_records"); got != float64(tt.wantBuffered) {
				t.Fatalf("buffered gauge = %v, want %d", got, tt.wantBuffered)
			}
		})
	}

	t.Run("ids fixed and fields copied at offer", func(t *testing.T) {
		p := testPublisher(signer, &memSink{})
		sp, _ := newTestSpool(t, p, SpoolConfig{Capacity: 5})
		items := []Item{
			{Fields: map[string]any{"seq": 1}},
			{ID: "given-id", Op: record.Delete, Fields: map[string]any{"seq": 2}},
		}
		if err := sp.Offer(items...); err != nil {
			t.Fatal(err)
		}
		items[0].Fields["seq"] = 99 // the caller reuses its map
		want := []Item{
			{ID: DeriveID("public-security", "household", record.Upsert, map[string]any{"seq": 1}), Op: record.Upsert, Fields: map[string]any{"seq": 1}},
			{ID: "given-id", Op: record.Delete, Fields: map[string]any{"seq": 2}},
		}
		got := sp.head(10)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("buffered = %v, want %v", got, want)
		}
	})
}

func TestCloseAndRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer, _ := newFlakySigner(t)
		sp, _ := newTestSpool(t, testPublisher(signer, &memSink{}), SpoolConfig{})
		stop := run(t, sp)
		synctest.Wait()
		if err := sp.Run(context.Background()); !errors.Is(err, ErrSpoolRunning) {
			t.Fatalf("second Run() = %v, want ErrSpoolRunning", err)
		}
		stop()
		if err := sp.Close(); err != nil {
			t.Fatalf("second Close() = %v", err)
		}
		if err := sp.Run(context.Background()); !errors.Is(err, ErrSpoolClosed) {
			t.Fatalf("Run() after Close = %v, want ErrSpoolClosed", err)
		}

		// A Run whose context ends returns the context's error.
		sp2, _ := newTestSpool(t, testPublisher(signer, &memSink{}), SpoolConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sp2.Run(ctx) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run() after cancel = %v, want context.Canceled", err)
		}
	})
}

// ---- time-dependent behaviour, in synctest bubbles ----

// TestBackoffSchedule runs the spool against a signer that fails its
// first eight calls (the in-process fake described at flakySigner) and
// checks the time between attempts: doubling from MinBackoff, capped at
// MaxBackoff, and with jitter each wait between half and all of its step.
// During the outage the sink receives nothing and Health explains why.
func TestBackoffSchedule(t *testing.T) {
	const fails = 8
	ms := time.Millisecond
	steps := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms, 1000 * ms, 1000 * ms}
	tests := []struct {
		name   string
		jitter func(time.Duration) time.Duration // nil: the spool's own
	}{
		{name: "steps without jitter", jitter: func(d time.Duration) time.Duration { return d }},
		{name: "with jitter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				signer, dir := newFlakySigner(t)
				signer.set(fails, nil)
				sink := &memSink{}
				p := testPublisher(signer, sink)
				sp, reg := newTestSpool(t, p, SpoolConfig{MinBackoff: 100 * ms, MaxBackoff: time.Second})
				if tt.jitter != nil {
					sp.jitter = tt.jitter
				}
				stop := run(t, sp)
				defer stop()
				start := time.Now()
				items := testItems(0, 3)
				if err := sp.Offer(items...); err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // the first attempt failed; Run waits
				if n := len(sink.received()); n != 0 {
					t.Fatalf("sink received %d records while the signer was down", n)
				}
				time.Sleep(40 * ms)
				synctest.Wait()
				var he *HealthError
				err := sp.Health()
				if !errors.As(err, &he) || !errors.Is(err, keys.ErrUnavailable) {
					t.Fatalf("Health() = %v, want a HealthError wrapping keys.ErrUnavailable", err)
				}
				if he.Since != start || he.For != 40*ms || he.Buffered != 3 {
					t.Fatalf("Health() = since %v for %s, %d buffered; want since %v for 40ms, 3 buffered", he.Since, he.For, he.Buffered, start)
				}
				if up := metric(t, reg, "onevisit_connector_signer_up"); up != 0 {
					t.Fatalf("signer_up = %v during the outage", up)
				}

				time.Sleep(time.Minute) // far beyond the schedule
				synctest.Wait()
				calls := signer.callTimes()
				if len(calls) != fails+1 {
					t.Fatalf("%d signer calls, want %d failing and one that works", len(calls), fails)
				}
				for i := 1; i < len(calls); i++ {
					gap, step := calls[i].Sub(calls[i-1]), steps[i-1]
					if tt.jitter != nil && gap != step {
						t.Errorf("wait %d = %s, want %s", i, gap, step)
					}
					if gap < step/2 || gap > step {
						t.Errorf("wait %d = %s, want within [%s, %s]", i, gap, step/2, step)
					}
				}
				if got := verifiedIDs(t, sink.received(), dir); !slices.Equal(got, idsOf(p, items)) {
					t.Fatalf("sink received %v, want %v once each", got, idsOf(p, items))
				}
				if err := sp.Health(); err != nil {
					t.Fatalf("Health() after recovery = %v", err)
				}
				if got, want := attemptsOf(t, reg), (attempts{OK: 1, Retry: fails}); got != want {
					t.Fatalf("attempts = %+v, want %+v", got, want)
				}
				if up := metric(t, reg, "onevisit_connector_signer_up"); up != 1 {
					t.Fatalf("signer_up = %v after recovery", up)
				}
			})
		})
	}
}

// TestPermanentErrorsDoNotLoop offers ten items of which two can never be
// signed (a reserved field name: a real refusal of the record format).
// The spool isolates them by halving the batch, lists them in Failed,
// delivers the other eight once each, and then stays idle.
func TestPermanentErrorsDoNotLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer, dir := newFlakySigner(t)
		sink := &memSink{}
		p := testPublisher(signer, sink)
		sp, reg := newTestSpool(t, p, SpoolConfig{BatchSize: 10})
		stop := run(t, sp)
		defer stop()
		items := testItems(0, 10)
		items[3], items[7] = poison(3), poison(7)
		if err := sp.Offer(items...); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		ids := idsOf(p, items)

		failed := sp.Failed()
		var gotFailed []string
		for _, f := range failed {
			gotFailed = append(gotFailed, f.Item.ID)
			if !errors.Is(f.Err, record.ErrBadDisclosure) || f.At.IsZero() {
				t.Errorf("failed item %s: err %v at %v; want ErrBadDisclosure with a time", f.Item.ID, f.Err, f.At)
			}
		}
		if want := []string{ids[3], ids[7]}; !slices.Equal(gotFailed, want) {
			t.Fatalf("Failed() = %v, want %v", gotFailed, want)
		}
		want := slices.Concat(ids[0:3], ids[4:7], ids[8:10])
		if got := verifiedIDs(t, sink.received(), dir); !slices.Equal(got, want) {
			t.Fatalf("sink received %v, want %v once each", got, want)
		}
		// Halving: [0-9] [0-4] fail, [0-2] ok, [3-8] [3-5] [3-4] [3] fail,
		// [4-9] fail, [4-6] ok, [7-9] [7-8] [7] fail, [8-9] ok.
		wantAttempts := attempts{OK: 3, Failed: 10}
		if got := attemptsOf(t, reg); got != wantAttempts {
			t.Fatalf("attempts = %+v, want %+v", got, wantAttempts)
		}
		calls := len(signer.callTimes())
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := len(signer.callTimes()); got != calls {
			t.Fatalf("%d more signer calls in an idle hour", got-calls)
		}
		if err := sp.Health(); err != nil {
			t.Fatalf("Health() = %v; a refused record is not an outage", err)
		}
		if got := metric(t, reg, "onevisit_connector_failed_records_total"); got != 2 {
			t.Fatalf("failed_records_total = %v, want 2", got)
		}
		if sp.Buffered() != 0 {
			t.Fatalf("Buffered() = %d", sp.Buffered())
		}
	})
}

// TestFailedListFull: a signer that refuses every record for good (its
// key is gone) fills the failed list; the spool then stops and says so
// instead of draining the whole buffer, and goes on after TakeFailed.
func TestFailedListFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer, dir := newFlakySigner(t)
		signer.set(0, fmt.Errorf("key gone: %w", keys.ErrUnknownKey))
		sink := &memSink{}
		p := testPublisher(signer, sink)
		sp, reg := newTestSpool(t, p, SpoolConfig{BatchSize: 4, FailedCapacity: 2})
		stop := run(t, sp)
		defer stop()
		items := testItems(0, 5)
		if err := sp.Offer(items...); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		ids := idsOf(p, items)
		err := sp.Health()
		if !errors.Is(err, ErrFailedListFull) || !errors.Is(err, keys.ErrUnknownKey) {
			t.Fatalf("Health() = %v, want ErrFailedListFull and the cause", err)
		}
		if got := sp.Buffered(); got != 3 {
			t.Fatalf("Buffered() = %d, want 3 (two in the failed list)", got)
		}
		calls := len(signer.callTimes())
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := len(signer.callTimes()); got != calls {
			t.Fatalf("%d signer calls in an hour while paused", got-calls)
		}
		rec := httptest.NewRecorder()
		sp.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		checkGolden(t, "health_failed_list_full", rec)

		// The operator fixes the key and takes the list; the spool goes on.
		signer.set(0, nil)
		taken := sp.TakeFailed()
		if got := []string{taken[0].Item.ID, taken[1].Item.ID}; len(taken) != 2 || !slices.Equal(got, ids[:2]) {
			t.Fatalf("TakeFailed() = %v, want %v", got, ids[:2])
		}
		synctest.Wait()
		if err := sp.Health(); err != nil {
			t.Fatalf("Health() after TakeFailed = %v", err)
		}
		if err := sp.Offer(taken[0].Item, taken[1].Item); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		want := slices.Concat(ids[2:], ids[:2])
		if got := verifiedIDs(t, sink.received(), dir); !slices.Equal(got, want) {
			t.Fatalf("sink received %v, want %v", got, want)
		}
		if got := metric(t, reg, "onevisit_connector_failed_records_total"); got != 2 {
			t.Fatalf("failed_records_total = %v, want 2", got)
		}
	})
}

// TestSinkErrors: what the exchange side answers decides between a retry
// and the failed list; a sink failure never marks the signer down.
func TestSinkErrors(t *testing.T) {
	tests := []struct {
		name         string
		errs         []error
		wantAttempts attempts
		wantFailed   int
		wantHealth   error // while the first error is the last answer
	}{
		{name: "exchange 503 twice", errs: []error{&APIError{Status: 503, Code: "unavailable"}, &APIError{Status: 503}},
			wantAttempts: attempts{OK: 1, Retry: 2}, wantHealth: &APIError{}},
		{name: "kafka below min ISR", errs: []error{kafka.NotEnoughReplicas},
			wantAttempts: attempts{OK: 1, Retry: 1}, wantHealth: kafka.NotEnoughReplicas},
		{name: "exchange 400 for good", errs: []error{&APIError{Status: 400, Code: "invalid_request"}},
			wantAttempts: attempts{Failed: 1}, wantFailed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				signer, dir := newFlakySigner(t)
				sink := &memSink{errs: slices.Clone(tt.errs)}
				p := testPublisher(signer, sink)
				sp, reg := newTestSpool(t, p, SpoolConfig{MinBackoff: time.Second, MaxBackoff: time.Second})
				stop := run(t, sp)
				defer stop()
				items := testItems(0, 1)
				if err := sp.Offer(items...); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				err := sp.Health()
				var api *APIError
				switch want := tt.wantHealth.(type) {
				case nil:
					if err != nil {
						t.Fatalf("Health() = %v, want nil", err)
					}
				case *APIError:
					if !errors.As(err, &api) || api.Status != 503 {
						t.Fatalf("Health() = %v, want the 503", err)
					}
				default:
					if !errors.Is(err, want) {
						t.Fatalf("Health() = %v, want %v", err, want)
					}
				}
				if up := metric(t, reg, "onevisit_connector_signer_up"); up != 1 {
					t.Fatalf("signer_up = %v; the sink failed, not the signer", up)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if got := attemptsOf(t, reg); got != tt.wantAttempts {
					t.Fatalf("attempts = %+v, want %+v", got, tt.wantAttempts)
				}
				if got := len(sp.Failed()); got != tt.wantFailed {
					t.Fatalf("%d failed, want %d", got, tt.wantFailed)
				}
				wantIDs := idsOf(p, items)
				if tt.wantFailed > 0 {
					wantIDs = []string{}
				}
				if got := verifiedIDs(t, sink.received(), dir); !slices.Equal(got, wantIDs) {
					t.Fatalf("sink kept %v, want %v", got, wantIDs)
				}
				if err := sp.Health(); err != nil {
					t.Fatalf("Health() at the end = %v", err)
				}
			})
		})
	}
}

// TestHealthHandler compares the handler's whole answers with golden
// files: healthy before anything is tried, degraded while the signer is
// down (time in a synctest bubble is fixed, so the answer is too).
func TestHealthHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer, _ := newFlakySigner(t)
		signer.set(1000, nil)
		sp, _ := newTestSpool(t, testPublisher(signer, &memSink{}), SpoolConfig{MinBackoff: time.Second, MaxBackoff: time.Second})
		serve := func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			sp.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			return rec
		}
		checkGolden(t, "health_ok", serve())
		stop := run(t, sp)
		defer stop()
		if err := sp.Offer(testItems(0, 7)...); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(90 * time.Second)
		synctest.Wait()
		checkGolden(t, "health_signer_unavailable", serve())
	})
}

// checkGolden compares a recorded answer (status line, content type and
// body) with testdata/spool/<name>.golden.
func checkGolden(t *testing.T, name string, rec *httptest.ResponseRecorder) {
	t.Helper()
	var body bytes.Buffer
	if err := json.Indent(&body, rec.Body.Bytes(), "", "  "); err != nil {
		t.Fatalf("health body %q is not JSON: %v", rec.Body, err)
	}
	got := fmt.Sprintf("%d %s\n%s", rec.Code, rec.Header().Get("Content-Type"), body.String())
	path := filepath.Join("testdata", "spool", name+".golden")
	testkit.Golden(t, path, []byte(got))
}

// ---- the real thing: OpenBao in dev mode ----

// TestSpoolVaultOutage runs a connector's spool against a real OpenBao
// server signing with the public-security-record transit key through the
// onevisit-exchange AppRole. It seals Vault mid-run (a real outage: every
// transit call answers 503), checks that nothing reaches the sink, that
// health, the handler and the metrics say so, and that the bounded buffer
// refuses overflow; then unseals it with the key the dev server printed
// and checks that every buffered record is delivered exactly once and
// verifies with the key's public versions. Last it stops the server
// (connection refused) and checks the spool reports that too.
func TestSpoolVaultOutage(t *testing.T) {
	srv := vaulttest.Start(t)
	ctx := context.Background()
	signer, err := vault.New(vault.Config{
		Address: srv.Vars["VAULT_ADDR"], Key: "public-security-record", Owner: "public-security", Use: keys.UseRecord,
		Timeout: 2 * time.Second, VerifySignatures: true,
		Auth: vault.Auth{AppRole: &vault.AppRole{RoleID: srv.Vars["ONEVISIT_VAULT_ROLE_ID"], SecretID: srv.Vars["ONEVISIT_VAULT_SECRET_ID"]}},
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.Start(ctx); err != nil {
		t.Fatalf("vault signer Start: %v", err)
	}
	defer signer.Close()
	versions, err := signer.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := keys.NewDirectory()
	for _, v := range versions {
		if err := dir.Add(v); err != nil {
			t.Fatal(err)
		}
	}

	sink := &memSink{}
	p := testPublisher(signer, sink)
	const capacity = 400
	sp, reg := newTestSpool(t, p, SpoolConfig{Capacity: capacity, BatchSize: 64, MinBackoff: 20 * time.Millisecond, MaxBackoff: 250 * time.Millisecond})
	runDone := make(chan error, 1)
	go func() { runDone <- sp.Run(ctx) }()
	defer sp.Close()

	var offered []Item
	offer := func(items []Item) {
		t.Helper()
		if err := sp.Offer(items...); err != nil {
			t.Fatalf("Offer(%d) = %v", len(items), err)
		}
		offered = append(offered, items...)
	}
	health := func() (int, healthBody) {
		rec := httptest.NewRecorder()
		sp.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		var b healthBody
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatalf("health body %q: %v", rec.Body, err)
		}
		return rec.Code, b
	}

	// 1. Vault up: records flow.
	offer(testItems(0, 50))
	testkit.WaitFor(t, 30*time.Second, "50 records delivered", func() bool { return sp.Buffered() == 0 && len(sink.received()) == 50 })
	if err := sp.Health(); err != nil {
		t.Fatalf("Health() with Vault up = %v", err)
	}

	// 2. Seal Vault: every transit call now answers 503.
	sink.setOutage(true)
	if err := srv.Admin(t).Sys().Seal(); err != nil {
		t.Fatalf("seal: %v", err)
	}
	sealedAt := time.Now()
	offer(testItems(1000, 300))
	testkit.WaitFor(t, 30*time.Second, "three retries against the sealed Vault", func() bool {
		return errors.Is(sp.Health(), keys.ErrUnavailable) && attemptsOf(t, reg).Retry >= 3
	})
	var he *HealthError
	if err := sp.Health(); !errors.As(err, &he) || he.Buffered != 300 || he.Since.Before(sealedAt) || he.For <= 0 {
		t.Fatalf("Health() = %#v, want 300 buffered, failing since the seal", err)
	}
	if code, b := health(); code != http.StatusServiceUnavailable || b.Status != "degraded" || b.Reason != "signer_unavailable" ||
		b.Buffered != 300 || b.FailingSince == "" || !strings.Contains(b.Error, "key backend unavailable") {
		t.Fatalf("health handler = %d %+v; want 503 degraded signer_unavailable with 300 buffered", code, b)
	}
	if up := metric(t, reg, "onevisit_connector_signer_up"); up != 0 {
		t.Fatalf("signer_up = %v while sealed", up)
	}
	if got := metric(t, reg, "onevisit_connector_buffered_records"); got != 300 {
		t.Fatalf("buffered gauge = %v, want 300", got)
	}
	// The buffer grows to its bound and refuses the rest, whole calls only.
	if err := sp.Offer(testItems(2000, capacity-300+1)...); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("Offer past capacity = %v, want ErrSpoolFull", err)
	}
	offer(testItems(2000, capacity-300))
	if err := sp.Offer(testItems(3000, 1)...); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("Offer into a full spool = %v, want ErrSpoolFull", err)
	}
	retries := attemptsOf(t, reg).Retry
	testkit.WaitFor(t, 30*time.Second, "two more retries", func() bool { return attemptsOf(t, reg).Retry >= retries+2 })
	if got := metric(t, reg, "onevisit_connector_buffered_records"); got != capacity || sp.Buffered() != capacity {
		t.Fatalf("buffered = %v (gauge) %d, want %d", got, sp.Buffered(), capacity)
	}
	if n := sink.sentDuringOutage(); n != 0 {
		t.Fatalf("the sink received %d records while Vault was sealed", n)
	}
	if n := len(sink.received()); n != 50 {
		t.Fatalf("the sink holds %d records, want the 50 from before the seal", n)
	}

	// 3. Unseal: everything buffered is delivered exactly once, signed.
	sink.setOutage(false)
	if _, err := srv.Admin(t).Sys().Unseal(srv.UnsealKey(t)); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	testkit.WaitFor(t, 60*time.Second, "the buffer drained and health ok", func() bool { return sp.Buffered() == 0 && sp.Health() == nil })
	got := verifiedIDs(t, sink.received(), dir)
	want := idsOf(p, offered)
	if len(got) != len(want) {
		t.Fatalf("the sink received %d records, want %d", len(got), len(want))
	}
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("record %s delivered %d times, want once", id, seen[id])
		}
	}
	if code, b := health(); code != http.StatusOK || b.Status != "ok" || b.Buffered != 0 || b.Reason != "" {
		t.Fatalf("health handler = %d %+v after unseal, want 200 ok", code, b)
	}
	if up := metric(t, reg, "onevisit_connector_signer_up"); up != 1 {
		t.Fatalf("signer_up = %v after unseal", up)
	}
	if a := attemptsOf(t, reg); a.Failed != 0 || a.OK < float64(capacity+50)/64 {
		t.Fatalf("attempts = %+v; want no failures and every batch ok", a)
	}

	// 4. Stop the server: connection refused is an outage too.
	srv.Stop(t)
	sink.setOutage(true)
	offer(testItems(4000, 10))
	testkit.WaitFor(t, 30*time.Second, "unavailable after stop", func() bool { return errors.Is(sp.Health(), keys.ErrUnavailable) })
	if n := sink.sentDuringOutage(); n != 0 {
		t.Fatalf("the sink received %d records with Vault stopped", n)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-runDone; err != nil {
		t.Fatalf("Run() after Close = %v", err)
	}
	if got := sp.Buffered(); got != 10 {
		t.Fatalf("Buffered() after Close = %d, want the 10 offered while stopped", got)
	}
}
