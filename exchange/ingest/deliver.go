package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/retry"
)

// WriteAttempts is how often Deliver tries a batch whose outcome a broker
// refuses for what it holds (see contentError) before it splits it.
const WriteAttempts = 4

// attemptTimeout bounds one Process call, so a batch stuck below min ISR
// releases the pipeline to HTTP publishers (who then get a prompt 503)
// between attempts.
const attemptTimeout = 20 * time.Second

// writeBackoff is the wait between attempts to write a batch or a dead
// letter: 200ms doubling up to 5s, jittered so nodes that failed together
// do not retry together.
var writeBackoff = retry.Backoff{Base: 200 * time.Millisecond, Cap: 5 * time.Second, Jitter: true}

// Deliver runs subs through Process until the outcome of every one of
// them is durably written, and reports false only when ctx ends first
// (then the caller must not commit the batch).
//
// A write the broker refuses for what the batch holds (a message or batch
// too large, a corrupt or invalid record, a topic policy: contentError) is
// tried WriteAttempts times; then the batch is split in halves, each
// delivered on its own, and a single submission whose outcome still
// cannot be written is dead-lettered without its body (code unwritable,
// counted in onevisit_ingest_unwritable_total), so one message can never
// stop ingest. Every other error is an outage (brokers, leaders or
// replicas away, timeouts, authorisation, the key versions too stale to
// trust): it is waited out, never split, and no record is dead-lettered
// for it, since the same batch will be written once the cluster is back.
func (p *Pipeline) Deliver(ctx context.Context, subs []Submission, lg *slog.Logger) bool {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	var last error
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		_, err := p.Process(actx, subs)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		last = err
		content := contentError(err)
		lg.Warn("ingest batch not written; retrying", "records", len(subs), "attempt", attempt, "refused_for_content", content, "err", err)
		if content && attempt+1 >= WriteAttempts {
			break
		}
		if !writeBackoff.Wait(ctx, attempt+1) {
			return false
		}
	}
	if len(subs) > 1 {
		half := len(subs) / 2
		lg.Warn("ingest batch still not written; splitting it", "records", len(subs), "err", last)
		return p.Deliver(ctx, subs[:half], lg) && p.Deliver(ctx, subs[half:], lg)
	}
	for attempt := 0; ; attempt++ {
		err := p.deadLetterUnwritable(ctx, subs[0], last)
		if err == nil {
			return true
		}
		lg.Error("dead letter of an unwritable submission not written; retrying", "attempt", attempt, "err", err)
		if !writeBackoff.Wait(ctx, attempt+1) {
			return false
		}
	}
}

// contentError reports whether a write failed because of what it carried,
// which no wait cures: a Kafka error that names the message or batch
// (too large, corrupt, invalid, refused by a topic policy), or kafka-go's
// refusal of a message larger than the writer's batch bytes. A batch of
// per-partition errors is such an error when any of them is.
func contentError(err error) bool {
	if err == nil || errors.Is(err, codes.ErrKeysStale) {
		return false
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && contentError(e) {
				return true
			}
		}
		return false
	}
	var mt kafka.MessageTooLargeError
	if errors.As(err, &mt) {
		return true
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.InvalidMessage, kafka.InvalidMessageSize, kafka.MessageSizeTooLarge, kafka.RecordListTooLarge,
			kafka.InvalidTimestamp, kafka.PolicyViolation, kafka.InvalidRecord:
			return true
		}
	}
	return false
}

// deadLetterUnwritable writes the dead letter and the audit entry of a submission
// whose outcome could not be written even alone. Nothing of its body is
// kept but its size and digest: the body (or what it led to) is what
// could not be written. The record id is kept only as the pipeline's own
// checks would accept it.
func (p *Pipeline) deadLetterUnwritable(ctx context.Context, s Submission, cause error) error {
	now := p.d.Now()
	res := Result{Status: Rejected}
	c := checked{}
	if r := partial(s.Raw); r != nil && plainRecordID(r.ID) {
		res.RecordID = r.ID
	}
	code := codes.Of(codes.ErrUnwritable)
	res.Code, res.Message = code.Name, code.Message
	var msgs []kafka.Message
	if m, ok := p.deadLetter(s, res, now, 0); ok {
		msgs = append(msgs, m)
	}
	msgs = append(msgs, p.auditMessage(s, c, res, now))
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	if err := p.d.Writer.WriteMessages(actx, msgs...); err != nil {
		return fmt.Errorf("ingest: write dead letter of an unwritable submission (%v): %w", cause, err)
	}
	p.unwritable.WithLabelValues(datasetLabel(p.d.Schemas, s.Dataset)).Inc()
	p.records.WithLabelValues(datasetLabel(p.d.Schemas, s.Dataset), string(Rejected)).Inc()
	return nil
}
