package exchange

import (
	"context"
	"fmt"
	"time"

	"github.com/onevisit/onevisit/exchange/codes"
)

// keysFresh fails closed once the key backend has been unreachable for
// longer than the grace period.
func (n *Node) keysFresh() error {
	if n.p.KeyGrace <= 0 {
		return nil
	}
	since := time.Since(time.Unix(0, n.keysOK.Load()))
	if since > n.p.KeyGrace {
		return fmt.Errorf("exchange: key versions last refreshed %s ago, grace %s: %w", since.Round(time.Second), n.p.KeyGrace, codes.ErrKeysStale)
	}
	return nil
}

// keysRefreshAge is onevisit_keys_refresh_age_seconds: seconds since the
// key backend last answered a refresh. It grows only while refreshes
// fail; on a healthy node it stays below keys.refresh (it restarts at
// every successful refresh, the file keystore's re-read of its folder
// included), and a node without a refresh loop reports 0, so that
// an alert on it (deploy/prometheus/rules.yaml, OneVisitKeyBackendStale)
// fires on a backend that stopped answering, never on uptime.
func (n *Node) keysRefreshAge() float64 {
	if n.p.RefreshKeys == nil {
		return 0
	}
	return time.Since(time.Unix(0, n.keysOK.Load())).Seconds()
}

// refreshKeys re-reads the exchange's key versions on a timer.
func (n *Node) refreshKeys(ctx context.Context) error {
	every := n.p.KeyRefresh
	if every <= 0 {
		every = DefaultKeyRefresh
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ks, err := n.p.RefreshKeys(ctx)
		if err != nil {
			n.keyRefreshErrors.Inc()
			n.p.Logger.Warn("key refresh failed; verifying with cached versions", "err", err, "grace", n.p.KeyGrace)
			continue
		}
		n.applyBackendKeys(ks, time.Now())
		n.keysOK.Store(time.Now().UnixNano())
	}
}
