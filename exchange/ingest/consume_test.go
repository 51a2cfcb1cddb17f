package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/ingest"
)

// fakeGroup is a consumer-group reader over fixed messages. Each commit
// is checked by onCommit at the moment it happens.
type fakeGroup struct {
	mu        sync.Mutex
	msgs      []kafka.Message
	next      int
	committed []int64
	onCommit  func(kafka.Message)
}

func (g *fakeGroup) FetchMessage(ctx context.Context) (kafka.Message, error) {
	g.mu.Lock()
	if g.next < len(g.msgs) {
		m := g.msgs[g.next]
		g.next++
		g.mu.Unlock()
		return m, nil
	}
	g.mu.Unlock()
	<-ctx.Done()
	return kafka.Message{}, ctx.Err()
}

func (g *fakeGroup) CommitMessages(_ context.Context, msgs ...kafka.Message) error {
	for _, m := range msgs {
		if g.onCommit != nil {
			g.onCommit(m)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range msgs {
		g.committed = append(g.committed, m.Offset)
	}
	return nil
}

func (g *fakeGroup) Stats() kafka.ReaderStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return kafka.ReaderStats{Lag: int64(len(g.msgs) - len(g.committed))}
}

func (g *fakeGroup) commits() []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.committed)
}

type lagGauge struct {
	mu   sync.Mutex
	last float64
	sets int
}

func (l *lagGauge) Set(v float64) { l.mu.Lock(); l.last, l.sets = v, l.sets+1; l.mu.Unlock() }

// TestConsumerCommitsAfterDurableWrite: the ingest loop commits an offset
// only once the outcome of its record is durably written (here: after an
// outage of the writer is waited out), commits every offset once and in
// fetch order, and sets the lag after each commit.
func TestConsumerCommitsAfterDurableWrite(t *testing.T) {
	c := newCluster(t)
	kw, err := c.cfg.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	const outages = 3
	fw := &failingWriter{next: kw, outages: outages}
	p, v := c.pipeline(t, fw, nil)
	subjects := residentIDs(t)
	ids := []string{"hh-c1", "hh-c2", "hh-c3", "hh-c4"}
	topic := bus.Names("").Ingest("household")
	g := &fakeGroup{}
	idAt := map[int64]string{}
	for i, id := range ids {
		raw := c.hh(t, "public-security", id, now.Add(-time.Hour), householdSubject(t, subjects, i))
		g.msgs = append(g.msgs, kafka.Message{Topic: topic, Offset: int64(i), Value: []byte(raw)})
		idAt[int64(i)] = id
	}
	var early []string
	g.onCommit = func(m kafka.Message) {
		fw.mu.Lock()
		calls := fw.calls
		fw.mu.Unlock()
		if calls <= outages || !v.Seen("public-security", "household", idAt[m.Offset]) {
			early = append(early, idAt[m.Offset])
		}
	}
	lag := &lagGauge{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- (&ingest.Consumer{Pipeline: p, Reader: g, Lag: lag}).Run(ctx) }()
	testkit.WaitFor(t, time.Minute, fmt.Sprintf("%d offsets committed", len(ids)), func() bool { return len(g.commits()) >= len(ids) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after its context ended, want nil", err)
	}
	if got, want := g.commits(), []int64{0, 1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("commits %v, want %v (each once, in fetch order)", got, want)
	}
	if len(early) > 0 {
		t.Errorf("committed before the outcome was durably written: %v", early)
	}
	lag.mu.Lock()
	defer lag.mu.Unlock()
	if lag.sets == 0 || lag.last != 0 {
		t.Errorf("lag set %d times, last %v; want set after commits, 0 at the end", lag.sets, lag.last)
	}
}

// TestConsumerCommitsNothingUnwritten: when the context ends while the
// outcome of a batch cannot be written, nothing is committed (the batch
// is redelivered), and Run returns nil.
func TestConsumerCommitsNothingUnwritten(t *testing.T) {
	c := newCluster(t)
	fw := &failingWriter{outages: 1 << 30}
	p, _ := c.pipeline(t, fw, nil)
	raw := c.hh(t, "public-security", "hh-never", now.Add(-time.Hour), householdSubject(t, residentIDs(t), 0))
	g := &fakeGroup{msgs: []kafka.Message{{Topic: bus.Names("").Ingest("household"), Value: []byte(raw)}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&ingest.Consumer{Pipeline: p, Reader: g}).Run(ctx) }()
	testkit.WaitFor(t, time.Minute, "the pipeline to try writing the batch twice", func() bool {
		fw.mu.Lock()
		defer fw.mu.Unlock()
		return fw.calls >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after its context ended, want nil", err)
	}
	if got := g.commits(); len(got) != 0 {
		t.Errorf("committed %v of a batch never written", got)
	}
}

// TestConsumerReturnsReaderError: a reader that fails (the group lost)
// ends Run with that error, for the caller to rejoin.
func TestConsumerReturnsReaderError(t *testing.T) {
	c := newCluster(t)
	p, _ := c.pipeline(t, nil, nil)
	want := errors.New("group coordinator gone")
	err := (&ingest.Consumer{Pipeline: p, Reader: failingGroup{want}}).Run(context.Background())
	if !errors.Is(err, want) {
		t.Fatalf("Run = %v, want %v", err, want)
	}
}

type failingGroup struct{ err error }

func (f failingGroup) FetchMessage(context.Context) (kafka.Message, error) {
	return kafka.Message{}, f.err
}
func (f failingGroup) CommitMessages(context.Context, ...kafka.Message) error { return nil }
func (f failingGroup) Stats() kafka.ReaderStats                               { return kafka.ReaderStats{} }
