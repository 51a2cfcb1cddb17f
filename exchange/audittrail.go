package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/keys"
)

// auditTrail is the node's side of the audit topic: it writes entries
// (api.Auditor), applies what the audit tails read into the node's copy
// of the log, and serves that copy to the API (api.AuditLog): signed
// checkpoints, the entries about one subject, and read-your-writes.
type auditTrail struct {
	names   bus.Names
	out     *sealingWriter // adds the node MAC to every entry written
	group   *auditGroup    // Write's group commit over out's MACs; nil: Write uses out
	log     *audit.Log
	signer  keys.Signer   // signs checkpoints
	dir     keys.Resolver // the node's key directory: the signer's public keys
	applied *applied      // offsets the tails have applied
	// sealer checks the MAC of every entry read back; set by Run before
	// the tails start.
	sealer  *atomic.Pointer[audit.Sealer]
	refused prometheus.Counter // onevisit_audit_entries_refused_total
	failed  prometheus.Counter // onevisit_audit_write_errors_total
	logger  *slog.Logger
	client  atomic.Pointer[kafka.Client] // set by Run before the tails start

	cpMu    sync.Mutex
	cpCache string
	cpSize  uint64
}

// Write durably appends audit entries (api.Auditor), each with this
// node's MAC.
func (t *auditTrail) Write(ctx context.Context, entries ...audit.Entry) error {
	msgs := make([]kafka.Message, len(entries))
	for i, e := range entries {
		msgs[i] = kafka.Message{Topic: t.names.Audit(), Value: e.MarshalCanonical()}
	}
	var err error
	if t.group != nil {
		err = t.group.WriteMessages(ctx, msgs...)
	} else {
		err = t.out.WriteMessages(ctx, msgs...)
	}
	// A caller that hung up is not an audit failure; anything else (brokers
	// below min.insync.replicas, the topic unwritable) is.
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		t.failed.Inc()
	}
	return err
}

// newAuditWriteErrors registers onevisit_audit_write_errors_total, the
// audit appends that failed: each is an answer not released (503) or an
// action not taken, since nothing happens unaudited.
func newAuditWriteErrors(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "onevisit_audit_write_errors_total", Help: "Writes of audit entries to the audit topic that failed (the action they record was not taken or not answered)."})
	reg.MustRegister(c)
	return c
}

// Checkpoint signs the audit log's current tree head (api.AuditLog). A
// head is signed once per size.
func (t *auditTrail) Checkpoint(ctx context.Context) (string, error) {
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	size := t.log.Size()
	if t.cpCache != "" && t.cpSize == size {
		return t.cpCache, nil
	}
	cp := t.log.Checkpoint("onevisit/audit", time.Now())
	tok, err := audit.SignCheckpoint(ctx, t.signer, t.dir, cp)
	if err != nil {
		return "", err
	}
	t.cpCache, t.cpSize = tok, cp.Size
	return tok, nil
}

// Log is the node's copy of the audit log, for proofs and entry pages
// (api.AuditLog).
func (t *auditTrail) Log() *audit.Log { return t.log }

// BySubject lists the audit entries about one pseudonym (api.AuditLog).
func (t *auditTrail) BySubject(p string) []audit.IndexedEntry { return t.log.BySubject(p) }

// catchUpLimit bounds how long a request waits for this node's copy of
// the audit log to reach what was durably written before it.
const catchUpLimit = 5 * time.Second

// CatchUp waits until this node has applied every audit entry that was
// durably written before the call (api.AuditLog): it reads the audit
// topic's end offsets (an acknowledged acks=all write lies below them)
// and waits for the tails to reach them. It fails with
// codes.ErrUnavailable after catchUpLimit, or if the node has not
// started its tails.
func (t *auditTrail) CatchUp(ctx context.Context) error {
	cl := t.client.Load()
	if cl == nil {
		return fmt.Errorf("audit catch-up: node not started: %w", codes.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpLimit)
	defer cancel()
	topic := t.names.Audit()
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		if err == nil && len(meta.Topics) == 1 {
			err = meta.Topics[0].Error
		}
		return fmt.Errorf("audit catch-up: metadata of %s: %v: %w", topic, err, codes.ErrUnavailable)
	}
	req := make([]kafka.OffsetRequest, 0, len(meta.Topics[0].Partitions))
	for _, p := range meta.Topics[0].Partitions {
		req = append(req, kafka.LastOffsetOf(p.ID))
	}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return fmt.Errorf("audit catch-up: end offsets of %s: %v: %w", topic, err, codes.ErrUnavailable)
	}
	ends := map[int]int64{}
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			return fmt.Errorf("audit catch-up: end offset of %s/%d: %v: %w", topic, po.Partition, po.Error, codes.ErrUnavailable)
		}
		ends[po.Partition] = po.LastOffset
	}
	if len(ends) != len(req) {
		return fmt.Errorf("audit catch-up: %d of %d end offsets of %s: %w", len(ends), len(req), topic, codes.ErrUnavailable)
	}
	return t.applied.wait(ctx, topic, ends)
}

// apply appends an audit-topic message to the log if an exchange node
// wrote it: its MAC header must match its bytes. Anything else (a forged
// or altered entry produced with a broker credential) never becomes a
// leaf; it is counted in onevisit_audit_entries_refused_total and logged
// by position only.
func (t *auditTrail) apply(m kafka.Message) {
	if err := t.sealer.Load().Check(m.Value, header(m, audit.MACHeader)); err != nil {
		t.refused.Inc()
		t.logger.Warn("message in the audit topic not written by an exchange node; not in the log", "partition", m.Partition, "offset", m.Offset, "err", err)
		return
	}
	t.log.Append(m.Value)
}
