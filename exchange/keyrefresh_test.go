package exchange

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onevisit/onevisit/exchange/keys"
)

// TestKeysRefreshAge pins what onevisit_keys_refresh_age_seconds means, on
// the fake clock of testing/synctest: it never grows with uptime on a node
// whose backend answers (it restarts at every refresh) nor on one without
// a refresh loop (0), and it grows only while refreshes fail, which is
// what OneVisitKeyBackendStale (deploy/prometheus/rules.yaml) alerts on.
func TestKeysRefreshAge(t *testing.T) {
	t.Run("no refresh loop", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := &Node{}
			n.keysOK.Store(time.Now().UnixNano())
			time.Sleep(24 * time.Hour)
			if got := n.keysRefreshAge(); got != 0 {
				t.Fatalf("age after a day without a refresh loop = %v, want 0", got)
			}
		})
	})
	t.Run("backend answers, then stops", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var down atomic.Bool
			n := &Node{dir: keys.NewDirectory(), keyRefreshErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})}
			n.p = Parts{KeyRefresh: 30 * time.Second, Logger: slog.New(slog.DiscardHandler),
				RefreshKeys: func(context.Context) ([]keys.PublicKey, error) {
					if down.Load() {
						return nil, errors.New("vault sealed")
					}
					return nil, nil
				}}
			n.keysOK.Store(time.Now().UnixNano())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = n.refreshKeys(ctx) }()
			// An hour of healthy refreshes: the age never passes the interval.
			var highest float64
			for range 120 {
				time.Sleep(30*time.Second + time.Millisecond)
				synctest.Wait()
				highest = max(highest, n.keysRefreshAge())
			}
			if highest > 30 {
				t.Fatalf("highest age in an hour of good refreshes = %vs, want at most the 30 s interval", highest)
			}
			// The backend stops answering: the age grows with the outage.
			down.Store(true)
			time.Sleep(10 * time.Minute)
			synctest.Wait()
			if got := n.keysRefreshAge(); got < 600 || got > 630 {
				t.Fatalf("age 10 min into an outage = %vs, want 600-630", got)
			}
			down.Store(false)
			time.Sleep(30 * time.Second)
			synctest.Wait()
			if got := n.keysRefreshAge(); got > 30 {
				t.Fatalf("age after the backend answered again = %vs, want at most 30", got)
			}
		})
	})
}
