package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/policy"
)

// Abuse bounds: what one client can make a node spend.
const (
	// DefaultPublishBytesInFlight bounds the publish bodies a node reads
	// at once (their declared or maximum sizes); see Deps.PublishBytesInFlight.
	DefaultPublishBytesInFlight = publishBodyLimit
	// publishWait is how long a publish waits for room before 503.
	publishWait = 5 * time.Second
	// auditEvery is how often a refusal that costs the caller nothing to
	// repeat is audited per client, route and code (see auditSampled).
	auditEvery = time.Second
)

// limiter enforces the rate limits and daily quotas the policy declares
// (policy.Set.Limits), per consumer and bucket, on this node.
type limiter struct {
	mu      sync.Mutex
	buckets map[[2]string]*bucket
}

type bucket struct {
	limits policy.Limits
	rl     *rate.Limiter // nil: no rate limit
	day    string        // UTC day of used
	used   int64
}

// allow counts one query of consumer for purpose against pol's limits. It
// returns how long to wait when the query is over a limit.
func (l *limiter) allow(pol *policy.Set, consumer, purpose string, now time.Time) (wait time.Duration, ok bool) {
	lim, bucketName, limited := pol.Limits(consumer, purpose)
	if !limited {
		return 0, true
	}
	key := [2]string{consumer, bucketName}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[[2]string]*bucket{}
	}
	b := l.buckets[key]
	if b == nil || b.limits != lim { // new, or the policy changed: keep the day's count
		nb := &bucket{limits: lim}
		if lim.PerSecond > 0 {
			nb.rl = rate.NewLimiter(rate.Limit(lim.PerSecond), lim.Burst)
		}
		if b != nil {
			nb.day, nb.used = b.day, b.used
		}
		b = nb
		l.buckets[key] = b
	}
	day := now.UTC().Format(time.DateOnly)
	if b.day != day {
		b.day, b.used = day, 0
	}
	if lim.Daily > 0 && b.used >= lim.Daily {
		y, m, d := now.UTC().Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Sub(now), false
	}
	if b.rl != nil {
		r := b.rl.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			return d, false
		}
	}
	b.used++
	return 0, true
}

// retryAfter sets Retry-After to d in whole seconds, at least 1.
func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10))
}

// checkLimits counts an explain call (route) against its consumer's
// limits; see limit. A refusal is passed through refuse (which audits it)
// or marked audited without an entry, so a flood of refused requests
// cannot grow the audit log.
func (s *Server) checkLimits(w http.ResponseWriter, pol *policy.Set, consumer, purpose, route string, refuse func(error) error) error {
	auditIt, err := s.limit(w, pol, consumer, purpose, route)
	switch {
	case err == nil:
		return nil
	case auditIt:
		return refuse(err)
	}
	return auditDone{err}
}

// limit counts a query or explain call (route) against its consumer's
// limits. Over a limit it sets Retry-After, counts the refusal by client,
// and returns an ErrRateLimited error, to be audited (auditIt) at most
// once a second per consumer and route; the other refusals are counted in
// onevisit_api_audit_suppressed_total instead.
func (s *Server) limit(w http.ResponseWriter, pol *policy.Set, consumer, purpose, route string) (auditIt bool, err error) {
	wait, ok := s.limits.allow(pol, consumer, purpose, s.d.Now())
	if ok {
		return false, nil
	}
	retryAfter(w, wait)
	s.rateLimited.WithLabelValues(consumer).Inc()
	cause := fmt.Errorf("%s: %s over its policy limits, retry in %v: %w", route, consumer, wait.Round(time.Millisecond), codes.ErrRateLimited)
	if s.sampler.take(consumer, route, "rate_limited", s.d.Now()) {
		return true, cause
	}
	s.auditSuppressed.WithLabelValues("rate_limited").Inc()
	return false, cause
}

// auditDone marks an error whose audit entry was written (or
// deliberately sampled away) by the handler, so the route wrapper does
// not write a second one.
type auditDone struct{ error }

func (e auditDone) Unwrap() error { return e.error }

// sampler lets through one audit entry per key and auditEvery, for
// refusals that cost the caller nothing to repeat. Its keys are client
// ids, route patterns and codes: bounded sets.
type sampler struct {
	mu   sync.Mutex
	last map[[3]string]time.Time
}

func (sm *sampler) take(client, route, code string, now time.Time) bool {
	k := [3]string{client, route, code}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.last == nil || len(sm.last) > 1<<14 {
		sm.last = map[[3]string]time.Time{}
	}
	if t, ok := sm.last[k]; ok && now.Sub(t) < auditEvery && now.Sub(t) >= 0 {
		return false
	}
	sm.last[k] = now
	return true
}

// byteGate is a node-wide semaphore in bytes: the publish bodies being
// read and processed at once.
type byteGate struct {
	mu   sync.Mutex
	cap  int64
	used int64
	wake chan struct{}
}

func newByteGate(n int64) *byteGate { return &byteGate{cap: n, wake: make(chan struct{})} }

// acquire waits until n bytes are free (n is capped at the gate's size)
// or ctx ends. It returns the bytes to release.
func (g *byteGate) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), g.cap)
	for {
		g.mu.Lock()
		if g.used+n <= g.cap {
			g.used += n
			g.mu.Unlock()
			return n, nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (g *byteGate) release(n int64) {
	g.mu.Lock()
	g.used -= n
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}
