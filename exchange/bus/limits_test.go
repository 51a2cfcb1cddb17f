package bus

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/record"
)

// TestSizeLimitsChain: a record of record.MaxSize with its key and
// headers fits one message, a message fits a writer batch, and a writer
// batch (with its framing) fits every topic.
func TestSizeLimitsChain(t *testing.T) {
	w, err := Config{Brokers: []string{"127.0.0.1:9092"}}.Writer()
	if err != nil {
		t.Fatal(err)
	}
	chain := []struct {
		name string
		n    int64
	}{
		{"record.MaxSize", record.MaxSize},
		{"MaxMessageBytes", MaxMessageBytes},
		{"Writer().BatchBytes", w.BatchBytes},
		{"TopicMaxMessageBytes - 64 KiB of framing", TopicMaxMessageBytes - 64<<10},
	}
	for i := 1; i < len(chain); i++ {
		if chain[i-1].n > chain[i].n {
			t.Errorf("%s = %d > %s = %d", chain[i-1].name, chain[i-1].n, chain[i].name, chain[i].n)
		}
	}
	if MaxMessageBytes-record.MaxSize < 16<<10 {
		t.Errorf("MaxMessageBytes leaves %d bytes for key and headers", MaxMessageBytes-record.MaxSize)
	}
	for _, tc := range Topics(Names("x"), []string{"household", "tax"}, TopicSpec{}) {
		got := ""
		for _, e := range tc.ConfigEntries {
			if e.ConfigName == "max.message.bytes" {
				got = e.ConfigValue
			}
		}
		if got != strconv.Itoa(TopicMaxMessageBytes) {
			t.Errorf("topic %s: max.message.bytes %q, want %d", tc.Topic, got, TopicMaxMessageBytes)
		}
	}
}

// TestEveryTopicTakesAFullBatch writes, through the exchange's own writer,
// one message of MaxMessageBytes and a batch of WriterBatchBytes to every
// topic EnsureTopics made on a broker whose default limit is 1 MiB.
func TestEveryTopicTakesAFullBatch(t *testing.T) {
	cl, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := Config{Brokers: cl.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, c, []string{"household"}, TopicSpec{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	big := make([]byte, MaxMessageBytes-1024)
	for _, tc := range Topics(c.Names, []string{"household"}, TopicSpec{Partitions: 1}) {
		if err := w.WriteMessages(ctx, kafka.Message{Topic: tc.Topic, Key: []byte("k"), Value: big}); err != nil {
			t.Errorf("one message of %d bytes to %s: %v", len(big), tc.Topic, err)
		}
		var batch []kafka.Message
		for size := 0; size+len(big)+1024 <= WriterBatchBytes; size += len(big) + 1024 {
			batch = append(batch, kafka.Message{Topic: tc.Topic, Key: []byte("k"), Value: big})
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			t.Errorf("a batch of %d such messages to %s: %v", len(batch), tc.Topic, err)
		}
	}
}

// TestEnsureTopicsRaisesTheMessageLimit: topics made before the size
// chain (with the broker's 1 MiB default) get max.message.bytes raised
// to TopicMaxMessageBytes; a topic already allowing more keeps its value.
func TestEnsureTopicsRaisesTheMessageLimit(t *testing.T) {
	cl, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := Config{Brokers: cl.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var old []kafka.TopicConfig
	for _, tc := range Topics(c.Names, []string{"household"}, TopicSpec{}) {
		tc.ConfigEntries = nil // as an older version made them
		want[tc.Topic] = strconv.Itoa(TopicMaxMessageBytes)
		if tc.Topic == c.Names.Audit() {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "8388608"}}
			want[tc.Topic] = "8388608"
		}
		old = append(old, tc)
	}
	if _, err := admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: old}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := EnsureTopics(ctx, c, []string{"household"}, TopicSpec{}); err != nil {
			t.Fatalf("EnsureTopics run %d: %v", i+1, err)
		}
	}
	req := &kafka.DescribeConfigsRequest{}
	for topic := range want {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"max.message.bytes"}})
	}
	res, err := admin.DescribeConfigs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "max.message.bytes" {
				got[r.ResourceName] = e.ConfigValue
			}
		}
	}
	for topic, v := range want {
		if got[topic] != v {
			t.Errorf("%s: max.message.bytes %q, want %s", topic, got[topic], v)
		}
	}
}
