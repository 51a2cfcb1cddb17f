package exchange

import (
	"context"

	"github.com/onevisit/onevisit/exchange/view"
)

// maxApplyBatch bounds one write of the view applier.
const maxApplyBatch = 512

// viewApplier installs what the accepted-topic tails verified in the
// view, in batches. Each tail verifies its partition's messages on its
// own goroutine (acceptedItem), so verification runs on every core, and
// hands the result here in log order; the applier takes whatever has
// queued up since its last write, up to maxApplyBatch items of any
// partitions, and applies it in one view.ApplyBatch: one lock, one read
// pass in key order, one store write with every partition's checkpoint.
// Nothing waits for a batch to fill: an idle node applies each message as
// it comes, a rebuilding one in large batches.
//
// A batch the store cannot read or write is applied again after a
// backoff, and the tails wait behind it (the queue is bounded), so no
// checkpoint and no applied offset moves past a message that is not in
// the view. What a message's tail does once it is in the view (the
// applied offset, the catch-up signal) runs after its batch is written,
// in log order.
type viewApplier struct {
	n     *Node
	queue chan applyStep
}

// applyStep is one message's item and what runs once it is written.
type applyStep struct {
	item  view.Item
	after func()
}

func newViewApplier(n *Node) *viewApplier {
	return &viewApplier{n: n, queue: make(chan applyStep, 4*maxApplyBatch)}
}

// add queues item; after runs once it is in the view. When ctx ends
// first, nothing is queued.
func (a *viewApplier) add(ctx context.Context, item view.Item, after func()) {
	select {
	case a.queue <- applyStep{item, after}:
	case <-ctx.Done():
	}
}

// run applies queued items until ctx ends; what is queued then is not
// applied, and no checkpoint moves past it.
func (a *viewApplier) run(ctx context.Context) {
	steps := make([]applyStep, 0, maxApplyBatch)
	items := make([]view.Item, 0, maxApplyBatch)
	for {
		select {
		case s := <-a.queue:
			steps = append(steps[:0], s)
		case <-ctx.Done():
			return
		}
	fill:
		for len(steps) < maxApplyBatch {
			select {
			case s := <-a.queue:
				steps = append(steps, s)
			default:
				break fill
			}
		}
		items = items[:0]
		for _, s := range steps {
			items = append(items, s.item)
		}
		for attempt := 0; ; attempt++ {
			err := a.n.view.ApplyBatch(items)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			first := items[0]
			a.n.p.Logger.Warn("view store unavailable; accepted-topic tails waiting", "topic", first.Topic, "partition", first.Partition, "next_offset", first.Next, "items", len(items), "err", err)
			backoff(ctx, attempt)
		}
		for _, s := range steps {
			s.after()
		}
	}
}
