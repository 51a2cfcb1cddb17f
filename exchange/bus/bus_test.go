package bus

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestProductionSettings guards against kafka-go's zero-value traps: a
// regression here can lose acknowledged records.
func TestProductionSettings(t *testing.T) {
	c := Config{Brokers: []string{"127.0.0.1:9092"}}
	w, err := c.Writer()
	if err != nil {
		t.Fatal(err)
	}
	if w.RequiredAcks != kafka.RequireAll {
		t.Errorf("writer RequiredAcks = %v, want RequireAll", w.RequiredAcks)
	}
	if w.Async {
		t.Error("writer is Async: errors would be dropped")
	}
	if w.AllowAutoTopicCreation {
		t.Error("writer may create topics")
	}
	if w.BatchTimeout != 2*time.Millisecond {
		t.Errorf("writer BatchTimeout = %v, want the chosen 2ms (kafka-go's default is 1s)", w.BatchTimeout)
	}
	if _, ok := w.Balancer.(*kafka.Hash); !ok {
		t.Errorf("writer Balancer = %T, want key hashing so a subject stays on one partition", w.Balancer)
	}
	r, err := c.GroupReader(c.Names.Group(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rc := r.Config()
	if rc.StartOffset != kafka.FirstOffset {
		t.Errorf("reader StartOffset = %d, want FirstOffset: a new group must not skip the backlog", rc.StartOffset)
	}
	if rc.CommitInterval != 0 {
		t.Errorf("reader CommitInterval = %v, want 0 (commit only after processing)", rc.CommitInterval)
	}
	if rc.IsolationLevel != kafka.ReadCommitted {
		t.Errorf("reader IsolationLevel = %v, want ReadCommitted", rc.IsolationLevel)
	}
}

// TestNoReadMessage fails if any Go file calls ReadMessage, which commits
// before the message is processed.
func TestNoReadMessage(t *testing.T) {
	root := filepath.Join("..", "..")
	call := regexp.MustCompile(`\.ReadMessage\(`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if call.Match(b) && !strings.HasSuffix(path, "bus_test.go") {
			t.Errorf("%s calls ReadMessage; use FetchMessage and CommitMessages after the work is durable", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"no brokers", Config{}, "brokers"},
		{"bad broker", Config{Brokers: []string{"nohost"}}, "host:port"},
		{"bad mechanism", Config{Brokers: []string{"a:1"}, SASLMechanism: "GSSAPI"}, "sasl_mechanism"},
		{"scram without password", Config{Brokers: []string{"a:1"}, SASLMechanism: "SCRAM-SHA-512", User: "u"}, "user and password"},
		{"ok", Config{Brokers: []string{"a:1"}, SASLMechanism: "SCRAM-SHA-512", User: "u", Password: "p"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestEnsureTopicsIsIdempotentAndCompacts(t *testing.T) {
	cl, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := Config{Brokers: cl.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		if err := EnsureTopics(ctx, c, []string{"household"}, TopicSpec{}); err != nil {
			t.Fatalf("EnsureTopics run %d: %v", i+1, err)
		}
	}
	admin, _ := c.Client()
	res, err := admin.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: Names("").Accepted("household"), ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, r := range res.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				got = e.ConfigValue
			}
		}
	}
	if got != "compact" {
		t.Fatalf("accepted topic cleanup.policy = %q, want compact", got)
	}

	// Write four versions of one key in four batches, compact, and read
	// back. As in Kafka, the active (last) batch is never cleaned and the
	// cleaner keeps the newest version of a key within the cleanable part,
	// so v1 and v2 must be gone and v3, v4 remain.
	w, _ := c.Writer()
	defer w.Close()
	for _, v := range []string{"v1", "v2", "v3"} {
		if err := w.WriteMessages(ctx, kafka.Message{Topic: Names("").Accepted("household"), Key: []byte("subject-a"), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteMessages(ctx, kafka.Message{Topic: Names("").Accepted("household"), Key: []byte("subject-a"), Value: []byte("v4")}); err != nil {
		t.Fatal(err)
	}
	cl.Compact()
	var values []string
	for p := 0; p < 3; p++ {
		r, err := c.PartitionReader(Names("").Accepted("household"), p, kafka.FirstOffset)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			m, err := r.FetchMessage(rctx)
			rcancel()
			if err != nil {
				break
			}
			values = append(values, string(m.Value))
		}
		r.Close()
	}
	if strings.Join(values, ",") != "v3,v4" {
		t.Fatalf("after compaction the topic holds %q, want [v3 v4]", values)
	}
}

// TestAClusterAtAnOldAddressIsAskedAfresh: a process that closes one
// embedded broker and starts another at the same address (dev mode and
// the tests do, with ephemeral ports the kernel hands out again) must see
// the new broker's topics. The shared transport keeps the closed broker's
// connections and answers metadata from its cache: had Close not dropped
// it, EnsureTopics on the new broker fails here at once ("unexpected
// EOF" on a dead connection), and under load it took the closed broker's
// topics for existing ones and failed to describe them ("Unknown Topic
// Or Partition"): one dev start in twenty.
func TestAClusterAtAnOldAddressIsAskedAfresh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	addrs := first.Brokers()
	c := Config{Brokers: addrs}
	if err := EnsureTopics(ctx, c, []string{"household"}, TopicSpec{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	first.Close()
	_, port, _ := strings.Cut(addrs[0], ":")
	p, _ := strconv.Atoi(port)
	second, err := StartEmbedded(kfake.Ports(p))
	if err != nil {
		t.Skipf("port %d taken again before the second broker could listen: %v", p, err)
	}
	defer second.Close()
	if err := EnsureTopics(ctx, c, []string{"household"}, TopicSpec{Partitions: 1}); err != nil {
		t.Fatalf("EnsureTopics on the second cluster at %s: %v", addrs[0], err)
	}
	admin, _ := c.Client()
	meta, err := admin.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{Names("").Accepted("household")}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("the second cluster's accepted topic: %+v, %v", meta, err)
	}
}
