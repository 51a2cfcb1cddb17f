package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// failingWriter passes writes to next, except that a write carrying a
// message for which poison reports true fails with err, and the first
// outages writes fail with an outage error.
type failingWriter struct {
	next    ingest.Writer
	poison  func(kafka.Message) bool
	err     error
	mu      sync.Mutex
	outages int
	calls   int
}

func (w *failingWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	w.mu.Lock()
	w.calls++
	if w.outages > 0 {
		w.outages--
		w.mu.Unlock()
		return kafka.NotEnoughReplicas
	}
	w.mu.Unlock()
	for _, m := range msgs {
		if w.poison != nil && w.poison(m) {
			return w.err
		}
	}
	return w.next.WriteMessages(ctx, msgs...)
}

// TestDeliverSplitsAndDeadLettersTheUnwritable: a batch whose outcome
// cannot be written because of one record (a write error that is not an
// outage) is split until that record is alone; its outcome is then
// dead-lettered without its body and counted, and every other record of
// the batch is accepted.
func TestDeliverSplitsAndDeadLettersTheUnwritable(t *testing.T) {
	c := newCluster(t)
	kw, err := c.cfg.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	poisonID := "hh-poison-1"
	fw := &failingWriter{next: kw, err: kafka.MessageSizeTooLarge, poison: func(m kafka.Message) bool {
		for _, h := range m.Headers {
			if h.Key == "onevisit-record-id" && string(h.Value) == poisonID {
				return true
			}
		}
		return false
	}}
	reg := prometheus.NewRegistry()
	p, v := c.pipeline(t, fw, reg)
	subjects := residentIDs(t)
	var subs []ingest.Submission
	var poison string
	for i, id := range []string{"hh-ok-1", "hh-ok-2", poisonID, "hh-ok-3", "hh-ok-4"} {
		raw := c.hh(t, "public-security", id, now.Add(-time.Hour), householdSubject(t, subjects, i))
		if id == poisonID {
			poison = raw
		}
		subs = append(subs, ingest.Submission{Raw: raw, Dataset: "household"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !p.Deliver(ctx, subs, nil) {
		t.Fatal("Deliver = false before its context ended")
	}
	for _, id := range []string{"hh-ok-1", "hh-ok-2", "hh-ok-3", "hh-ok-4"} {
		if !v.Seen("public-security", "household", id) {
			t.Errorf("%s not accepted", id)
		}
	}
	if v.Seen("public-security", "household", poisonID) {
		t.Error("the unwritable record reached the view")
	}
	if got := unwritableCount(t, reg, "household"); got != 1 {
		t.Errorf("onevisit_ingest_unwritable_total{dataset=household} = %v, want 1", got)
	}
	// Its dead letter: code unwritable, its size and digest, no body.
	sum := sha256.Sum256([]byte(poison))
	var found int
	for _, m := range c.readTopic(t, bus.Names("").Rejected("household")) {
		var dl map[string]any
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			t.Fatal(err)
		}
		if dl["code"] != "unwritable" {
			continue
		}
		found++
		want := map[string]any{
			"index": 0.0, "record_id": poisonID, "status": "rejected", "code": "unwritable",
			"message": "the record's outcome could not be written; it was dead-lettered without its body",
			"dataset": "household", "received_at": now.Format(time.RFC3339Nano),
			"record_bytes": float64(len(poison)), "record_sha256": hex.EncodeToString(sum[:]), "record_truncated": true,
		}
		if !jsonEqual(dl, want) {
			t.Errorf("dead letter %v, want %v", dl, want)
		}
	}
	if found != 1 {
		t.Errorf("%d unwritable dead letters, want 1", found)
	}
}

func householdSubject(t *testing.T, ids []string, i int) string {
	t.Helper()
	// The sample household rows: the walkthrough child first, then any
	// resident with a household row.
	rows := []string{samples.ChildResidentID, samples.GuardianResidentID}
	for _, id := range ids {
		if id != samples.ChildResidentID && id != samples.GuardianResidentID && hasHousehold(t, id) {
			rows = append(rows, id)
		}
	}
	if i >= len(rows) {
		t.Fatalf("only %d household rows", len(rows))
	}
	return rows[i]
}

func hasHousehold(t *testing.T, id string) bool {
	t.Helper()
	b, err := samples.FS.ReadFile(samples.HouseholdFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), id+",")
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestDeliverWaitsOutAnOutage: outage errors are retried, never split or
// dead-lettered: every record is accepted once the broker is back.
func TestDeliverWaitsOutAnOutage(t *testing.T) {
	c := newCluster(t)
	kw, err := c.cfg.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	fw := &failingWriter{next: kw, outages: ingest.WriteAttempts + 2}
	reg := prometheus.NewRegistry()
	p, v := c.pipeline(t, fw, reg)
	subjects := residentIDs(t)
	var subs []ingest.Submission
	for i, id := range []string{"hh-a", "hh-b", "hh-c"} {
		subs = append(subs, ingest.Submission{Raw: c.hh(t, "public-security", id, now.Add(-time.Hour), householdSubject(t, subjects, i)), Dataset: "household"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !p.Deliver(ctx, subs, nil) {
		t.Fatal("Deliver = false before its context ended")
	}
	for _, id := range []string{"hh-a", "hh-b", "hh-c"} {
		if !v.Seen("public-security", "household", id) {
			t.Errorf("%s not accepted after the outage", id)
		}
	}
	if got := unwritableCount(t, reg, "household"); got != 0 {
		t.Errorf("onevisit_ingest_unwritable_total = %v during an outage, want 0", got)
	}
	if fw.calls != ingest.WriteAttempts+3 {
		t.Errorf("%d writes, want %d failed ones and one whole batch", fw.calls, ingest.WriteAttempts+2)
	}
	if n := len(c.readTopic(t, bus.Names("").Rejected("household"))); n != 0 {
		t.Errorf("%d dead letters written for an outage", n)
	}
}

// TestDeliverStopsWithItsContext: Deliver reports false, never true, when
// its context ends while the outcome is not written.
func TestDeliverStopsWithItsContext(t *testing.T) {
	c := newCluster(t)
	fw := &failingWriter{outages: 1 << 30}
	p, v := c.pipeline(t, fw, nil)
	raw := c.hh(t, "public-security", "hh-x", now.Add(-time.Hour), samples.ChildResidentID)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if p.Deliver(ctx, []ingest.Submission{{Raw: raw, Dataset: "household"}}, nil) {
		t.Fatal("Deliver = true with every write failing")
	}
	if v.Len() != 0 {
		t.Error("view changed")
	}
}

// TestDeadLetterIsCapped: junk of any size up to what a topic takes is
// dead-lettered with its size, its digest and at most DeadLetterHead
// bytes of it, so the dead letter always fits the rejected topic.
func TestDeadLetterIsCapped(t *testing.T) {
	c := newCluster(t)
	p, _ := c.pipeline(t, nil, nil)
	tests := []struct {
		name     string
		size     int
		wantCode string
	}{
		{"small junk", 100, "malformed_record"},
		{"junk at the record limit", record.MaxSize, "malformed_record"},
		{"junk over the record limit", record.MaxSize + 1, "record_too_large"},
		{"junk near the topic limit", bus.TopicMaxMessageBytes - 1024, "record_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := strings.Repeat("\x01", tt.size) // escapes to 6 bytes in JSON: the worst case
			res, err := p.Process(context.Background(), []ingest.Submission{{Raw: raw, Dataset: "household"}})
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if res[0].Status != wire.Rejected || res[0].Code != tt.wantCode {
				t.Fatalf("result %+v, want rejected %s", res[0], tt.wantCode)
			}
		})
	}
	sums := map[string]int{}
	for _, tt := range tests {
		s := sha256.Sum256([]byte(strings.Repeat("\x01", tt.size)))
		sums[hex.EncodeToString(s[:])] = tt.size
	}
	msgs := c.readTopic(t, bus.Names("").Rejected("household"))
	if len(msgs) != len(tests) {
		t.Fatalf("%d dead letters, want %d", len(msgs), len(tests))
	}
	for _, m := range msgs {
		var dl struct {
			Record    string `json:"record"`
			Truncated bool   `json:"record_truncated"`
			Bytes     int    `json:"record_bytes"`
			SHA256    string `json:"record_sha256"`
		}
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			t.Fatal(err)
		}
		size, ok := sums[dl.SHA256]
		if !ok || dl.Bytes != size {
			t.Errorf("dead letter names %d bytes with digest %s: not one of the submissions", dl.Bytes, dl.SHA256)
			continue
		}
		wantHead := min(size, ingest.DeadLetterHead)
		if len(dl.Record) != wantHead || dl.Truncated != (size > ingest.DeadLetterHead) {
			t.Errorf("dead letter of %d bytes keeps %d bytes (truncated %v), want %d", size, len(dl.Record), dl.Truncated, wantHead)
		}
		if len(m.Value) > 8*ingest.DeadLetterHead {
			t.Errorf("dead letter of %d bytes of junk is %d bytes", size, len(m.Value))
		}
	}
}

// unwritableCount reads onevisit_ingest_unwritable_total{dataset} from reg.
func unwritableCount(t *testing.T, reg *prometheus.Registry, dataset string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "onevisit_ingest_unwritable_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "dataset" && l.GetValue() == dataset {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
