package exchange

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
)

// TestAuditWriteErrors pins onevisit_audit_write_errors_total, which
// OneVisitAuditAppendFailing (deploy/prometheus/rules.yaml) alerts on,
// against a real (in-process) broker: a written entry counts nothing, a
// caller that hung up counts nothing, and an append the brokers could not
// take counts one failure; through the node's group commit (auditgroup.go)
// and without it.
func TestAuditWriteErrors(t *testing.T) {
	t.Run("group commit", func(t *testing.T) { testAuditWriteErrors(t, true) })
	t.Run("shared writer", func(t *testing.T) { testAuditWriteErrors(t, false) })
}

func testAuditWriteErrors(t *testing.T, group bool) {
	cl, err := bus.StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := bus.Config{Brokers: cl.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(ctx, c, []string{"household"}, bus.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sealer, rm := macs(t, t.TempDir())
	var ap atomic.Pointer[audit.Sealer]
	var rp atomic.Pointer[recordMAC]
	ap.Store(sealer)
	rp.Store(rm)
	reg := prometheus.NewRegistry()
	trail := &auditTrail{names: c.Names, out: &sealingWriter{w: w, names: c.Names, audit: &ap, accepted: &rp}, failed: newAuditWriteErrors(reg)}
	if group {
		var gw interface{ Close() error }
		if trail.group, gw, err = newAuditGroup(c, trail.out); err != nil {
			t.Fatal(err)
		}
		defer gw.Close()
	}
	entry := audit.Entry{Time: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC), Kind: audit.KindQuery, Actor: "school-enrolment"}

	if err := trail.Write(ctx, entry); err != nil {
		t.Fatalf("write to a live broker: %v", err)
	}
	if got := auditWriteErrors(t, reg); got != 0 {
		t.Fatalf("failures after a written entry = %v, want 0", got)
	}

	gone, hangUp := context.WithCancel(ctx)
	hangUp()
	if err := trail.Write(gone, entry); !errors.Is(err, context.Canceled) {
		t.Fatalf("write for a caller that hung up: err = %v, want context.Canceled", err)
	}
	if got := auditWriteErrors(t, reg); got != 0 {
		t.Fatalf("failures after a caller hung up = %v, want 0", got)
	}

	cl.Close() // every broker gone
	short, stop := context.WithTimeout(ctx, 3*time.Second)
	defer stop()
	if err := trail.Write(short, entry); err == nil {
		t.Fatal("write with no broker: err = nil")
	}
	if got := auditWriteErrors(t, reg); got != 1 {
		t.Fatalf("failures after a write no broker took = %v, want 1", got)
	}
}

// auditWriteErrors reads the counter as a scrape would, from the registry.
func auditWriteErrors(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "onevisit_audit_write_errors_total" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("onevisit_audit_write_errors_total: no single series registered")
	return 0
}
