// Package retry is OneVisit's one retry policy: how long to wait before
// trying again (Backoff) and which failures are worth trying again at all
// (Retriable). Every retry loop of the exchange and of the connectors uses
// it, so an outage is waited out the same way everywhere and one error
// never counts as transient in one place and permanent in another.
//
// The package is on the wire side of the layering: the connectors import
// it, so it imports no server-side package of the exchange (only
// exchange/keys, for the key backend's ErrUnavailable).
//
// # Backoff
//
// A Backoff waits Base before the first retry and doubles per consecutive
// failure up to Cap. With Jitter each wait is drawn uniformly from
// [d/2, d] ("equal jitter"), so clients that failed together do not retry
// together, and no wait ever exceeds Cap. Wait sleeps on the runtime's
// timers and returns early when its context ends, so tests run it in a
// testing/synctest bubble instead of sleeping.
//
// # What is retriable
//
// Retriable answers, for one error, whether the same request may succeed
// later without anybody changing it. It says yes to: timeouts
// (context.DeadlineExceeded and network timeouts), network failures
// (refused, reset, DNS), Kafka errors Kafka itself marks retriable (leader
// moves, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT) and UNKNOWN_SERVER_ERROR,
// which brokers answer while restarting, a key backend that is unavailable
// (keys.ErrUnavailable: Vault sealed, down or too slow), and any error that
// says so itself through a Retriable() bool method (an HTTP answer such as
// 503 or 429). It says no to context.Canceled (somebody decided to stop)
// and to everything else. Whether a caller's own context has ended is the
// caller's question: loops check ctx.Err() (or Wait's result) before they
// retry, whatever Retriable says.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/keys"
)

// Backoff is an exponential backoff schedule.
type Backoff struct {
	Base   time.Duration // wait before the first retry
	Cap    time.Duration // longest wait; 0 means Base (no growth)
	Jitter bool          // draw each wait uniformly from [d/2, d]
}

// Step is the wait before retry number attempt (1, 2, ...) without
// jitter: Base doubled attempt-1 times, capped at Cap. An attempt below 1
// counts as 1.
func (b Backoff) Step(attempt int) time.Duration {
	ceil := max(b.Cap, b.Base)
	d := b.Base
	for i := 1; i < attempt && d < ceil; i++ {
		d *= 2
	}
	return min(d, ceil)
}

// Delay is the wait before retry number attempt: Step, with jitter if the
// Backoff has it.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Step(attempt)
	if b.Jitter {
		d = EqualJitter(d)
	}
	return d
}

// Wait sleeps Delay(attempt), or less when ctx ends first. It reports
// whether ctx is still alive, i.e. whether the caller should try again.
func (b Backoff) Wait(ctx context.Context, attempt int) bool {
	return Sleep(ctx, b.Delay(attempt))
}

// Sleep waits d, or less when ctx ends; it reports whether ctx is alive.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return ctx.Err() == nil
	}
}

// EqualJitter returns a wait drawn uniformly from [d/2, d].
func EqualJitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Retriable reports whether the request that failed with err may succeed
// if tried again unchanged. It is the one definition; see the package doc.
func Retriable(err error) bool {
	if err == nil {
		return false
	}
	// An error that knows its own answer (connectors.APIError: 502, 503,
	// 504 and 429 yes, any other status no) decides first, so a wrapped
	// transport error inside it cannot overrule the status.
	var self interface{ Retriable() bool }
	if errors.As(err, &self) {
		return self.Retriable()
	}
	switch {
	case errors.Is(err, context.Canceled):
		// Somebody chose to stop. Not ours to overrule; a loop whose own
		// context is alive never sees this from its own cancellation.
		return false
	case errors.Is(err, context.DeadlineExceeded):
		// A timeout of one attempt: the other side was too slow, which
		// says nothing about the request. (A caller whose own deadline
		// passed stops on its ctx.Err() before it asks.)
		return true
	case errors.Is(err, keys.ErrUnavailable):
		// The key backend (Vault) is sealed, down or too slow. Wait for
		// it; never fall back to unsigned.
		return true
	case errors.Is(err, kafka.Unknown):
		// UNKNOWN_SERVER_ERROR: brokers coming back from a restart answer
		// it for a moment. Waiting loses nothing; giving up would fail
		// records the cluster will take shortly.
		return true
	}
	// A per-message WriteErrors is retriable when every failed message
	// is: one message the brokers refuse for good makes the batch a
	// content problem, not an outage.
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !Retriable(e) {
				return false
			}
		}
		return true
	}
	// Broker-side errors carry Kafka's own retriable flag (leader moves,
	// NOT_ENOUGH_REPLICAS below min ISR, REQUEST_TIMED_OUT).
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	// Network errors (refused, reset, DNS, timeouts; *url.Error is one)
	// go away when the other side returns.
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
