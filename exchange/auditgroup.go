package exchange

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/ingest"
)

// newAuditGroup makes the group over a kafka-go writer of its own, which
// sends without waiting for others (they wait in the group's queue), and
// through out's MACs. The caller closes the returned writer.
func newAuditGroup(kc bus.Config, out *sealingWriter) (*auditGroup, *kafka.Writer, error) {
	kc.BatchTimeout = time.Microsecond
	w, err := kc.Writer()
	if err != nil {
		return nil, nil, err
	}
	s := *out
	s.w = w
	return &auditGroup{w: &s}, w, nil
}

// auditGroup is a group commit for the audit entries of concurrent
// requests: while one produce is in flight, the entries that arrive
// queue up, and the next produce carries all of them (up to
// auditGroupMax). Each caller still returns only once its own entries
// are acknowledged (acks from all in-sync replicas), with the error of
// its own messages: an entry that was not written fails its request,
// never another one.
//
// It exists for latency: the node's shared writer holds every write for
// its batch timeout (2 ms) to let others join, which with a durable
// audit entry per answer was most of a query's time. The group's writer
// (bus.Config.Writer with a batch timeout of a microsecond) sends at
// once, and the batching comes from the queue instead.
type auditGroup struct {
	w ingest.Writer // the sealing writer over the group's own kafka-go writer

	mu       sync.Mutex
	pending  []*auditReq
	flushing bool
}

// auditGroupMax bounds the messages of one produce (the writer's batch
// size).
const auditGroupMax = 1000

// auditFlushTimeout bounds one produce of the group; a caller gives up
// earlier when its own context ends.
const auditFlushTimeout = 30 * time.Second

type auditReq struct {
	msgs []kafka.Message
	err  error
	done chan struct{}
}

// WriteMessages queues msgs for the next produce and waits until they are
// written or ctx ends. It never returns nil before every one of msgs is
// acknowledged.
func (g *auditGroup) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	r := &auditReq{msgs: msgs, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if !g.flushing {
		g.flushing = true
		go g.drain()
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain produces what is pending, group by group, until nothing is.
func (g *auditGroup) drain() {
	for {
		g.mu.Lock()
		var batch []*auditReq
		n := 0
		for len(g.pending) > 0 && (n == 0 || n+len(g.pending[0].msgs) <= auditGroupMax) {
			batch = append(batch, g.pending[0])
			n += len(g.pending[0].msgs)
			g.pending[0] = nil
			g.pending = g.pending[1:]
		}
		if len(batch) == 0 {
			g.flushing = false
			g.pending = nil
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.flush(batch, n)
	}
}

// flush writes one group and tells each request its own outcome: with
// kafka.WriteErrors (one error per message) a request fails only if one
// of its own messages did; any other error fails the whole group.
func (g *auditGroup) flush(batch []*auditReq, n int) {
	msgs := make([]kafka.Message, 0, n)
	for _, r := range batch {
		msgs = append(msgs, r.msgs...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditFlushTimeout)
	err := g.w.WriteMessages(ctx, msgs...)
	cancel()
	var per kafka.WriteErrors
	perMessage := errors.As(err, &per) && len(per) == len(msgs)
	at := 0
	for _, r := range batch {
		switch {
		case err == nil:
		case perMessage:
			for _, e := range per[at : at+len(r.msgs)] {
				if e != nil {
					r.err = e
					break
				}
			}
		default:
			r.err = err
		}
		at += len(r.msgs)
		close(r.done)
	}
}
