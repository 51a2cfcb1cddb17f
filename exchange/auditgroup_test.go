package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
)

// groupFixture is an embedded kfake broker with the exchange's topics
// (the audit topic has one partition: the log's order) and an audit group
// over the node's sealing writer.
type groupFixture struct {
	kc     *bus.Embedded
	cfg    bus.Config
	sealer *audit.Sealer
	group  *auditGroup
}

func newGroupFixture(t *testing.T) *groupFixture {
	t.Helper()
	kc, err := bus.StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	f := &groupFixture{kc: kc, cfg: bus.Config{Brokers: kc.Brokers(), ClientID: "auditgroup-test"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(ctx, f.cfg, nil, bus.TopicSpec{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var am *recordMAC
	f.sealer, am = macs(t, t.TempDir())
	out := &sealingWriter{names: f.cfg.Names, audit: &atomic.Pointer[audit.Sealer]{}, accepted: &atomic.Pointer[recordMAC]{}}
	out.audit.Store(f.sealer)
	out.accepted.Store(am)
	g, w, err := newAuditGroup(f.cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f.group = g
	return f
}

func (f *groupFixture) entry(i int) kafka.Message {
	e := audit.Entry{Time: time.Unix(1_800_000_000, 0).UTC(), Kind: audit.KindQuery, Actor: "school", RequestID: fmt.Sprintf("req-%04d", i), Decision: audit.DecisionPermit}
	return kafka.Message{Topic: f.cfg.Names.Audit(), Value: e.MarshalCanonical()}
}

// written is the number of messages the audit topic holds, by its end
// offsets.
func (f *groupFixture) written(ctx context.Context, t *testing.T) int64 {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(f.cfg.Brokers...)}
	req := map[string][]kafka.OffsetRequest{f.cfg.Names.Audit(): {kafka.LastOffsetOf(0)}}
	res, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		t.Error(err)
		return -1
	}
	var n int64
	for _, p := range res.Topics[f.cfg.Names.Audit()] {
		if p.Error != nil {
			t.Error(p.Error)
			return -1
		}
		n += p.LastOffset
	}
	return n
}

// readAll reads the whole audit topic, which must hold want entries by
// its end offsets: every value, each checked against its node MAC. It
// waits for each message as long as ctx allows (a loaded machine may take
// longer than any fixed timeout to fetch), and counts by the end offsets,
// not by a read that timed out.
func (f *groupFixture) readAll(ctx context.Context, t *testing.T, want int) []string {
	t.Helper()
	if n := f.written(ctx, t); n != int64(want) {
		t.Errorf("audit topic holds %d entries, want %d", n, want)
		want = min(want, int(max(n, 0)))
	}
	var got []string
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: f.cfg.Brokers, Topic: f.cfg.Names.Audit(), MaxWait: 50 * time.Millisecond})
	defer r.Close()
	for len(got) < want {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Errorf("read the audit topic after %d of %d entries: %v", len(got), want, err)
			break
		}
		var mac []byte
		for _, h := range m.Headers {
			if h.Key == audit.MACHeader {
				mac = h.Value
			}
		}
		if err := f.sealer.Check(m.Value, mac); err != nil {
			t.Errorf("offset %d: %v", m.Offset, err)
		}
		got = append(got, string(m.Value))
	}
	slices.Sort(got)
	return got
}

// TestAuditGroupEachWaitsForItsOwnEntry: concurrent writers share
// produces, yet each returns only once its own entry is in the topic:
// when a write returns, the topic's end offsets already count every
// write that returned before it. Afterwards the topic holds exactly the
// entries written, each once, each with the node's MAC.
func TestAuditGroupEachWaitsForItsOwnEntry(t *testing.T) {
	f := newGroupFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers, each = 16, 20
	var returned atomic.Int64
	var wg sync.WaitGroup
	var want []string
	for w := range writers {
		for i := range each {
			want = append(want, string(f.entry(w*each+i).Value))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := f.group.WriteMessages(ctx, f.entry(w*each+i)); err != nil {
					t.Errorf("writer %d entry %d: %v", w, i, err)
					return
				}
				n := returned.Add(1)
				if got := f.written(ctx, t); got < n {
					t.Errorf("a write returned with %d writes returned but %d entries in the topic", n, got)
				}
			}
		}()
	}
	wg.Wait()
	slices.Sort(want)
	if got := f.readAll(ctx, t, len(want)); !slices.Equal(got, want) {
		t.Errorf("audit topic holds other entries than the ones written")
	}
}

// TestAuditGroupFailureFailsItsWriters: when the broker refuses the
// produce (injected with kfake's request control), every writer whose
// entry was in it gets the error, none gets nil, and nothing is in the
// topic; once the broker accepts again, writes succeed.
func TestAuditGroupFailureFailsItsWriters(t *testing.T) {
	f := newGroupFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var failing atomic.Bool
	failing.Store(true)
	f.kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.kc.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = int16(kafka.InvalidRecord)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	const writers = 16
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = f.group.WriteMessages(ctx, f.entry(w))
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if !errors.Is(err, kafka.InvalidRecord) {
			t.Errorf("writer %d: %v, want kafka.InvalidRecord", w, err)
		}
	}
	if n := f.written(ctx, t); n != 0 {
		t.Errorf("%d entries in the topic after every produce was refused", n)
	}
	failing.Store(false)
	if err := f.group.WriteMessages(ctx, f.entry(100)); err != nil {
		t.Fatalf("after the broker accepts again: %v", err)
	}
	if got, want := f.readAll(ctx, t, 1), []string{string(f.entry(100).Value)}; !slices.Equal(got, want) {
		t.Errorf("audit topic holds %q, want %q", got, want)
	}
}
