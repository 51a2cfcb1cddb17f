package exchange

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/retry"
)

// startTails starts, in g, one reader per partition of every accepted
// topic, of the audit topic, of the keys topic and of the control topic
// (which it seeds first when it is empty, see seed). caught closes when each
// has reached the end offset it had at start. A tail that fails reopens at
// its next offset after a backoff, so it returns only when ctx ends, and
// never fails the group.
func (n *Node) startTails(ctx context.Context, g *errgroup.Group, datasets []string) (<-chan struct{}, error) {
	cl, err := n.p.Kafka.Client()
	if err != nil {
		return nil, err
	}
	n.trail.client.Store(cl)
	names := n.p.Kafka.Names
	topics := []string{names.Audit(), names.Keys(), names.Control()}
	for _, d := range datasets {
		topics = append(topics, names.Accepted(d))
	}
	offs, err := endOffsets(ctx, n.p.Logger, cl, topics)
	if err != nil {
		return nil, err
	}
	// With the view on disk, each accepted partition resumes at the
	// store's checkpoint (see viewstore.go).
	accepted := map[string]bool{}
	for _, d := range datasets {
		accepted[names.Accepted(d)] = true
	}
	resume, err := n.resumeAccepted(offs, accepted)
	if err != nil {
		return nil, err
	}
	// An empty control plane starts from the files this node was given.
	// The node is caught up once it read offset 0 (its seed, or another
	// node's first event), so a ready node runs version 1 or later.
	seeded := false
	if ctl := offs[names.Control()]; len(ctl) == 1 && ctl[0].LastOffset <= 0 {
		if err := n.seed(ctx); err != nil {
			return nil, err
		}
		ctl[0].LastOffset, seeded = 1, true
	}
	applier := newViewApplier(n)
	g.Go(func() error { applier.run(ctx); return nil })
	var pending sync.WaitGroup
	for topic, parts := range offs {
		for _, po := range parts {
			end := po.LastOffset
			n.applied.expect(topic, po.Partition, end)
			pending.Add(1)
			var once sync.Once
			done := func() { once.Do(pending.Done) }
			partition := po.Partition
			next := kafka.FirstOffset
			if s, ok := resume[topic][partition]; ok && s >= 0 {
				next = s
				n.applied.advance(topic, partition, next)
			}
			if topic == names.Control() {
				// Key events of clients enrolled at runtime wait for it.
				partDone := done
				done = func() { n.controlCaughtUp(); partDone() }
			}
			if end <= 0 || next >= end {
				done()
			}
			// after is what follows a message once it is applied.
			after := func(m kafka.Message) {
				next := m.Offset + 1
				n.applied.advance(topic, partition, next)
				if next >= end {
					done()
				}
			}
			var apply func(kafka.Message)
			switch topic {
			case names.Audit():
				apply = n.trail.apply
			case names.Control():
				// Events before the end offset at start were audited and
				// measured when they were first read.
				liveFrom := end
				if seeded {
					liveFrom = 0 // the seed this node just wrote is news
				}
				apply = func(m kafka.Message) { n.applyControl(m, m.Offset >= liveFrom) }
			case names.Keys():
				// Refusals of events the node read before it started were
				// audited when they were first read.
				apply = func(m kafka.Message) { n.applyKeyEvent(m, m.Offset >= end) }
			}
			read := func(m kafka.Message) { apply(m); after(m) }
			if apply == nil {
				// An accepted topic: verified here, written to the view by
				// the applier, in batches; the checkpoint moves past a
				// message that did not change the view too (refused, or
				// held already). A tail stopped before its message was
				// queued leaves no checkpoint past it.
				read = func(m kafka.Message) {
					if it, ok := n.acceptedItem(ctx, m); ok {
						applier.add(ctx, it, func() { n.viewReads.Inc(); after(m) })
					}
				}
			}
			g.Go(func() error {
				tailPartition(ctx, n.p.Kafka, n.p.Logger, topic, partition, next, read)
				return nil
			})
		}
	}
	caught := make(chan struct{})
	go func() { pending.Wait(); close(caught) }()
	return caught, nil
}

// endOffsets returns the end offset of every partition of topics. Fresh
// topics, elections and broker restarts make Kafka answer with retriable
// errors for a while (no leader yet): those are retried for up to a
// minute; anything else (a missing topic) fails at once.
func endOffsets(ctx context.Context, lg *slog.Logger, cl *kafka.Client, topics []string) (map[string][]kafka.PartitionOffsets, error) {
	// retry.Retriable also waits out UNKNOWN_SERVER_ERROR, which brokers
	// coming back from a restart answer for a moment.
	retriable := retry.Retriable
	var last error
	for attempt := 0; attempt < 30; attempt++ {
		if attempt > 0 {
			lg.Warn("end offsets not available yet; retrying", "err", last)
			backoff(ctx, attempt)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			if last = fmt.Errorf("exchange: metadata: %w", err); retriable(err) {
				continue
			}
			return nil, last
		}
		req := map[string][]kafka.OffsetRequest{}
		retry := false
		for _, t := range meta.Topics {
			if t.Error != nil {
				if last = fmt.Errorf("exchange: topic %s: %w (run `onevisit kafka setup`)", t.Name, t.Error); retriable(t.Error) {
					retry = true
					continue
				}
				return nil, last
			}
			for _, p := range t.Partitions {
				req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
			}
		}
		if retry {
			continue
		}
		offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
		if err != nil {
			if last = fmt.Errorf("exchange: list offsets: %w", err); retriable(err) {
				continue
			}
			return nil, last
		}
		for topic, parts := range offs.Topics {
			for _, po := range parts {
				if po.Error != nil {
					last = fmt.Errorf("exchange: offsets of %s/%d: %w", topic, po.Partition, po.Error)
					if !retriable(po.Error) {
						return nil, last
					}
					retry = true
				}
			}
		}
		if !retry {
			return offs.Topics, nil
		}
	}
	return nil, last
}

// tailPartition hands every message of one partition, from offset next
// on, to apply until ctx ends. A tail outlives broker failures: on an
// error it reopens its reader at the next offset after a backoff.
func tailPartition(ctx context.Context, kc bus.Config, lg *slog.Logger, topic string, partition int, next int64, apply func(kafka.Message)) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		r, err := kc.PartitionReader(topic, partition, next)
		if err == nil {
			for {
				var m kafka.Message
				if m, err = r.FetchMessage(ctx); err != nil {
					break
				}
				attempt = 0
				apply(m)
				next = m.Offset + 1
			}
			r.Close()
		}
		if ctx.Err() != nil {
			return
		}
		lg.Warn("tail interrupted; reopening", "topic", topic, "partition", partition, "next_offset", next, "err", err)
		backoff(ctx, attempt)
	}
}

// nodeBackoff is the wait of the node's loops (tails, the ingest loop,
// end offsets, the pseudonym key): 200ms doubling up to 5s, jittered.
var nodeBackoff = retry.Backoff{Base: 200 * time.Millisecond, Cap: 5 * time.Second, Jitter: true}

// backoff sleeps before retry attempt+1 (attempt counts from 0), or until
// ctx ends.
func backoff(ctx context.Context, attempt int) {
	nodeBackoff.Wait(ctx, attempt+1)
}
