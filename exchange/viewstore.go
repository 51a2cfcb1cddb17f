package exchange

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/view"
)

// viewStoreKeyDomain names the MAC key of the view store, derived from
// the key backend as the accepted-topic MAC key is.
const viewStoreKeyDomain = "onevisit/view-store-key/v1\x00"

// ViewConfig is where the node keeps its materialised view.
type ViewConfig struct {
	// Dir, when set, keeps the view on disk (Pebble) in that folder: the
	// heap no longer grows with the records, and a restart resumes at the
	// store's checkpoints instead of re-reading every accepted topic.
	// Empty: the view is in memory, rebuilt in full at every start.
	Dir string `yaml:"dir"`
}

// AuditConfig is where the node keeps its copy of the audit log.
type AuditConfig struct {
	// Dir, when set, keeps the log's entries, Merkle tree hashes and
	// by-subject index on disk (Pebble) in that folder, emptied at start:
	// the node still rebuilds the log from the audit topic, but its memory
	// stays flat as the log grows. Empty: the log is in memory.
	Dir string `yaml:"dir"`
}

// checkApart refuses a view.dir or audit.dir that is, or holds, another
// path of c: the node empties audit.dir at every start, and view.dir when
// the store was written under another key, so either would delete the
// other store, the file key backend's keys or the registry it was given.
func (c Config) checkApart() error {
	paths := []struct{ key, path string }{
		{"view.dir", c.View.Dir}, {"audit.dir", c.Audit.Dir}, {"keys.dir", c.Keys.Dir}, {"clients", c.Clients},
		{"policies", c.Policies}, {"schemas", c.Schemas}, {"http.tls_cert", c.HTTP.TLSCert}, {"http.tls_key", c.HTTP.TLSKey},
	}
	for _, d := range paths[:2] {
		if d.path == "" {
			continue
		}
		dir, err := filepath.Abs(d.path)
		if err != nil {
			return fmt.Errorf("%s: %w", d.key, err)
		}
		for _, o := range paths {
			if o.path == "" || o.key == d.key {
				continue
			}
			p, err := filepath.Abs(o.path)
			if err != nil {
				return fmt.Errorf("%s: %w", o.key, err)
			}
			if rel, err := filepath.Rel(dir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return fmt.Errorf("%s: the node may empty %s, and %s (%s) is in it: give each store a folder of its own", d.key, d.path, o.key, o.path)
			}
		}
	}
	return nil
}

// registerViewMetrics adds the view store's metrics to the node's
// registry.
func (n *Node) registerViewMetrics() {
	n.viewReads = prometheus.NewCounter(prometheus.CounterOpts{Name: "onevisit_view_log_messages_read_total", Help: "Accepted-topic messages this node's tails read into the view since it started (with view.dir, a restart reads only those past the store's checkpoints)."})
	n.metrics.MustRegister(n.viewReads)
	n.metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "onevisit_view_store_corrupt_total", Help: "Reads of view-store entries, and checkpoints at start, whose MAC did not verify; such entries are not served, such checkpoints not resumed at."}, func() float64 { return float64(n.view.Corrupt()) }))
	n.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "onevisit_view_store_bytes", Help: "Disk space the view store takes (0 with the view in memory)."}, func() float64 { return float64(n.view.DiskBytes()) }))
}

// openViewStore moves the view to disk when the node has a view folder.
// Called in Run before any tail or request touches the view.
func (n *Node) openViewStore(ctx context.Context) error {
	if n.p.ViewDir == "" {
		return nil
	}
	k, err := n.p.Pseudonyms.HMAC(ctx, []byte(viewStoreKeyDomain))
	if err != nil {
		return fmt.Errorf("exchange: derive view store key: %w", err)
	}
	if err := n.view.UseDisk(n.p.ViewDir, k, view.Options{}); err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	return nil
}

// openAuditStore moves the audit log to disk when the node has an audit
// folder; like openViewStore, before anything reads or writes it.
func (n *Node) openAuditStore() error {
	if n.p.AuditDir == "" {
		return nil
	}
	if err := n.log.UseDisk(n.p.AuditDir); err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	return nil
}

// resumeAccepted returns, for every partition of the accepted topics in
// offs, the offset its tail starts at: the view store's checkpoint, or the
// first offset. A checkpoint past a partition's end offset means the topic
// was made anew (its log is not the one the store describes): the store is
// emptied and every partition read from the start.
func (n *Node) resumeAccepted(offs map[string][]kafka.PartitionOffsets, accepted map[string]bool) (map[string]map[int]int64, error) {
	start := map[string]map[int]int64{}
	for pass := 0; pass < 2; pass++ {
		stale := false
		for topic, parts := range offs {
			if !accepted[topic] {
				continue
			}
			start[topic] = map[int]int64{}
			for _, po := range parts {
				next, ok := n.view.Resume(topic, po.Partition)
				if !ok {
					next = kafka.FirstOffset
				} else if next > po.LastOffset {
					stale = true
				}
				start[topic][po.Partition] = next
			}
		}
		if !stale {
			return start, nil
		}
		n.p.Logger.Warn("view store checkpoint past the end of its accepted topic; rebuilding the view")
		if err := n.view.Reset(); err != nil {
			return nil, err
		}
	}
	return start, nil
}
