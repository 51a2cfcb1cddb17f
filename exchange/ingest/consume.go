package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupReader is the part of a consumer-group reader (kafka.Reader, as
// bus.Config.GroupReader makes it) that Consume uses.
type GroupReader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
	Stats() kafka.ReaderStats
}

// Consumer is the ingest loop of a node over the ingest topics of its
// consumer group.
type Consumer struct {
	Pipeline *Pipeline
	Reader   GroupReader
	// Lag, when set, is set to the reader's lag after every commit
	// (onevisit_ingest_consumer_lag, see package exchange).
	Lag    interface{ Set(float64) }
	Logger *slog.Logger
}

// consumeBatch and consumeDepth: at most this many messages a batch, and
// this many batches in flight.
const consumeBatch, consumeDepth = 512, 2

// Run is the ingest loop: fetch a batch, run it through the pipeline, and
// commit its offsets only after the outcome is durably written. Two
// batches are in flight at once, so one is verified while the other is
// written; offsets are committed strictly in fetch order. A failed write
// is retried with backoff and never skipped; only a batch the brokers
// refuse for its content is split, down to the one record whose outcome
// is dead-lettered without its body (Pipeline.Deliver). Run returns the
// reader's error, or nil when ctx ends; the caller owns the reader.
func (c *Consumer) Run(ctx context.Context) error {
	lg := c.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	r := c.Reader
	type inflight struct {
		msgs []kafka.Message
		done chan bool // true when durably processed
	}
	queue := make(chan *inflight, consumeDepth-1)
	commitErr := make(chan error, 1)
	go func() {
		defer close(commitErr)
		for f := range queue {
			if !<-f.done {
				return // ctx ended before the batch was written: commit nothing more
			}
			// A failed commit (a rebalance moved the partition) only means
			// the batch is redelivered to the partition's next owner, whose
			// duplicate check makes that harmless.
			if err := r.CommitMessages(ctx, f.msgs...); err != nil && ctx.Err() == nil {
				lg.Warn("offset commit failed; the batch will be redelivered and deduplicated", "records", len(f.msgs), "err", err)
			}
			if c.Lag != nil {
				c.Lag.Set(float64(r.Stats().Lag))
			}
		}
	}()
	defer func() {
		close(queue)
		for range commitErr {
		}
	}()
	for {
		first, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		batch := []kafka.Message{first}
		for len(batch) < consumeBatch {
			fctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			m, err := r.FetchMessage(fctx)
			cancel()
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		f := &inflight{msgs: batch, done: make(chan bool, 1)}
		go func() { f.done <- c.deliver(ctx, batch, lg) }()
		select {
		case queue <- f:
		case err := <-commitErr:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// deliver runs one fetched batch through the pipeline until the outcome
// of every record is durably written (Pipeline.Deliver: outages are
// waited out, a batch that cannot be written otherwise is split and its
// unwritable record dead-lettered without its body), or ctx ends. The
// dataset of each message is the one its ingest topic names.
func (c *Consumer) deliver(ctx context.Context, batch []kafka.Message, lg *slog.Logger) bool {
	subs := make([]Submission, len(batch))
	for i, m := range batch {
		d, _ := c.Pipeline.d.Names.DatasetOf(m.Topic)
		subs[i] = Submission{Raw: string(m.Value), Dataset: d}
	}
	return c.Pipeline.Deliver(ctx, subs, lg)
}
