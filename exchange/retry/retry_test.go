package retry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/keys"
)

const ms = time.Millisecond

func TestStep(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration // attempts 0, 1, 2, ...
	}{
		{name: "doubling to the cap", b: Backoff{Base: 100 * ms, Cap: time.Second},
			want: []time.Duration{100 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{name: "cap not a power of two of base", b: Backoff{Base: 200 * ms, Cap: 5 * time.Second},
			want: []time.Duration{200 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second}},
		{name: "no cap: constant", b: Backoff{Base: time.Second},
			want: []time.Duration{time.Second, time.Second, time.Second}},
		{name: "cap below base: base", b: Backoff{Base: time.Second, Cap: ms},
			want: []time.Duration{time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			for a := range tt.want {
				got = append(got, tt.b.Step(a))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Step(0..%d) = %v, want %v", len(tt.want)-1, got, tt.want)
			}
		})
	}
	// Far beyond the cap the doubling must not overflow into a negative wait.
	if d := (Backoff{Base: time.Second, Cap: time.Minute}).Step(1 << 20); d != time.Minute {
		t.Fatalf("Step(1<<20) = %s, want 1m", d)
	}
}

func TestEqualJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, 3, 100 * ms, 30 * time.Second} {
		lo, hi := d, time.Duration(0)
		for range 2000 {
			w := EqualJitter(d)
			if w < d/2 || w > d {
				t.Fatalf("EqualJitter(%s) = %s, want within [%s, %s]", d, w, d/2, d)
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		if d >= 100*ms && hi-lo < d/4 {
			t.Fatalf("EqualJitter(%s) spread only [%s, %s] over 2000 draws", d, lo, hi)
		}
	}
}

// TestWaitSchedule measures, on the bubble's fake clock, the time each
// Wait takes: the exact steps without jitter, within [step/2, step] with.
func TestWaitSchedule(t *testing.T) {
	steps := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	for _, jitter := range []bool{false, true} {
		t.Run(fmt.Sprintf("jitter=%v", jitter), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := Backoff{Base: 100 * ms, Cap: time.Second, Jitter: jitter}
				for i, step := range steps {
					start := time.Now()
					if !b.Wait(t.Context(), i+1) {
						t.Fatalf("Wait(%d) = false with a live context", i+1)
					}
					got := time.Since(start)
					if !jitter && got != step {
						t.Errorf("Wait(%d) took %s, want %s", i+1, got, step)
					}
					if got < step/2 || got > step {
						t.Errorf("Wait(%d) took %s, want within [%s, %s]", i+1, got, step/2, step)
					}
				}
			})
		})
	}
}

// TestWaitEndsWithContext: a Wait returns false as soon as its context
// ends, not when the step is over.
func TestWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*ms)
		defer cancel()
		start := time.Now()
		if (Backoff{Base: time.Hour}).Wait(ctx, 1) {
			t.Fatal("Wait = true after the context ended")
		}
		if got := time.Since(start); got != 300*ms {
			t.Fatalf("Wait returned after %s, want 300ms (the context's deadline)", got)
		}
		if (Backoff{Base: ms}).Wait(ctx, 1) {
			t.Fatal("Wait on an ended context = true")
		}
	})
}

type selfSaying bool

func (s selfSaying) Error() string   { return fmt.Sprintf("status (retriable=%v)", bool(s)) }
func (s selfSaying) Retriable() bool { return bool(s) }

func TestRetriable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	urlTimeout := &url.Error{Op: "Post", URL: "http://vault:8200", Err: context.DeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "canceled", err: fmt.Errorf("send: %w", context.Canceled), want: false},
		{name: "deadline exceeded", err: fmt.Errorf("send: %w", context.DeadlineExceeded), want: true},
		{name: "key backend unavailable", err: fmt.Errorf("sign: %w", fmt.Errorf("vault: %w: 503", keys.ErrUnavailable)), want: true},
		{name: "unknown key", err: fmt.Errorf("sign: %w", keys.ErrUnknownKey), want: false},
		{name: "error says retriable", err: fmt.Errorf("send: %w", selfSaying(true)), want: true},
		{name: "error says permanent", err: fmt.Errorf("send: %w", selfSaying(false)), want: false},
		{name: "error says permanent over a timeout", err: fmt.Errorf("%w: %w", selfSaying(false), context.DeadlineExceeded), want: false},
		{name: "kafka not enough replicas", err: fmt.Errorf("send: %w", kafka.NotEnoughReplicas), want: true},
		{name: "kafka request timed out", err: kafka.RequestTimedOut, want: true},
		{name: "kafka leader not available", err: kafka.LeaderNotAvailable, want: true},
		{name: "kafka unknown server error", err: fmt.Errorf("metadata: %w", kafka.Unknown), want: true},
		{name: "kafka message too large", err: kafka.MessageSizeTooLarge, want: false},
		{name: "kafka topic authorization", err: kafka.TopicAuthorizationFailed, want: false},
		{name: "kafka write errors all retriable", err: kafka.WriteErrors{kafka.NotLeaderForPartition, nil}, want: true},
		{name: "kafka write errors one permanent", err: kafka.WriteErrors{kafka.NotLeaderForPartition, kafka.MessageSizeTooLarge}, want: false},
		{name: "connection refused", err: fmt.Errorf("send: %w", refused), want: true},
		{name: "url error", err: urlTimeout, want: true},
		{name: "plain error", err: errors.New("record refused"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retriable(tt.err); got != tt.want {
				t.Fatalf("Retriable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
