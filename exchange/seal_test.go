package exchange

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/keys"
)

// recorded keeps what was written (the sealing writer's output), so the
// test can look at the headers; the attack tests in cmd/onevisit/dev run the
// same writer against Kafka.
type recorded struct{ msgs []kafka.Message }

func (r *recorded) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func macs(t *testing.T, dir string) (*audit.Sealer, *recordMAC) {
	t.Helper()
	h, err := keys.OpenFileStore(dir).HMACer("pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSealer(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRecordMAC(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// TestSealingWriter: audit and accepted messages leave with the node's
// MAC, other topics' messages unchanged, and nothing leaves before the
// keys are derived.
func TestSealingWriter(t *testing.T) {
	names := bus.Names("")
	dir := t.TempDir()
	sealer, rm := macs(t, dir)
	var ap atomic.Pointer[audit.Sealer]
	var rp atomic.Pointer[recordMAC]
	out := &recorded{}
	w := &sealingWriter{w: out, names: names, audit: &ap, accepted: &rp}
	msgs := []kafka.Message{
		{Topic: names.Audit(), Value: []byte(`{"time":"2026-11-28T08:00:00Z","kind":"query"}`)},
		{Topic: names.Accepted("household"), Key: []byte("k"), Value: []byte("rec~"), Headers: []kafka.Header{{Key: "onevisit-accepted-at", Value: []byte("1")}}},
		{Topic: names.Rejected("household"), Value: []byte("dead letter")},
		{Topic: names.Ingest("household"), Value: []byte("rec~")},
		{Topic: names.Keys(), Value: []byte("{}")},
	}
	if err := w.WriteMessages(context.Background(), msgs...); !errors.Is(err, codes.ErrUnavailable) || len(out.msgs) != 0 {
		t.Fatalf("before the keys: err %v, %d written; want ErrUnavailable and nothing", err, len(out.msgs))
	}
	ap.Store(sealer)
	rp.Store(rm)
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	if err := sealer.Check(out.msgs[0].Value, header(out.msgs[0], audit.MACHeader)); err != nil {
		t.Errorf("audit message: %v", err)
	}
	if !rm.check(out.msgs[1]) {
		t.Errorf("accepted message: MAC does not check")
	}
	for _, m := range out.msgs[2:] {
		if len(m.Headers) != 0 {
			t.Errorf("%s: headers %v added", m.Topic, m.Headers)
		}
	}
	if len(msgs[1].Headers) != 1 {
		t.Errorf("the caller's message was changed: %v", msgs[1].Headers)
	}
}

// TestRecordMAC: the accepted-record MAC covers the topic, the key, the
// acceptance time and the value; another node of the same exchange checks
// it, another exchange does not.
func TestRecordMAC(t *testing.T) {
	dir := t.TempDir()
	_, node1 := macs(t, dir)
	_, node2 := macs(t, dir)
	_, other := macs(t, t.TempDir())
	names := bus.Names("")
	m := kafka.Message{Topic: names.Accepted("household"), Key: []byte("pseudonym-a"), Value: []byte("record~"),
		Headers: []kafka.Header{{Key: "onevisit-accepted-at", Value: []byte("1764316800000")}}}
	sealed := func(m kafka.Message, r *recordMAC) kafka.Message {
		m.Headers = append(m.Headers[:len(m.Headers):len(m.Headers)], kafka.Header{Key: acceptedMACHeader, Value: r.seal(m)})
		return m
	}
	good := sealed(m, node1)
	with := func(f func(*kafka.Message)) kafka.Message {
		c := good
		c.Headers = append([]kafka.Header(nil), good.Headers...)
		f(&c)
		return c
	}
	tests := []struct {
		name string
		m    kafka.Message
		r    *recordMAC
		want bool
	}{
		{"same node", good, node1, true},
		{"another node of the exchange", good, node2, true},
		{"another exchange", good, other, false},
		{"another key", with(func(c *kafka.Message) { c.Key = []byte("pseudonym-b") }), node2, false},
		{"another topic", with(func(c *kafka.Message) { c.Topic = names.Accepted("tax") }), node2, false},
		{"another record", with(func(c *kafka.Message) { c.Value = []byte("other~") }), node2, false},
		{"back-dated", with(func(c *kafka.Message) { c.Headers[0].Value = []byte("1") }), node2, false},
		{"a later acceptance time added", with(func(c *kafka.Message) {
			c.Headers = append(c.Headers, kafka.Header{Key: "onevisit-accepted-at", Value: []byte("1")})
		}), node2, false},
		{"no MAC", m, node2, false},
		{"a MAC from another message", with(func(c *kafka.Message) {
			c.Headers[1].Value = node1.seal(kafka.Message{Topic: m.Topic, Key: []byte("pseudonym-b"), Value: m.Value, Headers: m.Headers})
		}), node2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.check(tt.m); got != tt.want {
				t.Errorf("check = %v, want %v", got, tt.want)
			}
		})
	}
}
