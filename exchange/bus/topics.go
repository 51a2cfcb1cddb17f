package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/record"
)

// Message size limits. They are one chain, so that no message the
// exchange writes, and no batch its writers send, is refused by a topic:
//
//	record.MaxSize < MaxMessageBytes <= WriterBatchBytes < TopicMaxMessageBytes
//
// A record of record.MaxSize bytes plus its key and headers is at most
// MaxMessageBytes; a dead letter is far smaller (ingest caps it); a
// writer groups messages into batches of at most WriterBatchBytes per
// partition; every topic the exchange creates accepts a batch of
// TopicMaxMessageBytes (max.message.bytes), which leaves room for the
// batch framing. TestSizeLimitsChain checks the chain.
const (
	// MaxMessageBytes bounds one message the exchange writes.
	MaxMessageBytes = record.MaxSize + 64<<10
	// WriterBatchBytes is BatchBytes of every writer built by Config.Writer.
	WriterBatchBytes = 4 << 20
	// TopicMaxMessageBytes is max.message.bytes of every topic.
	TopicMaxMessageBytes = WriterBatchBytes + 64<<10
)

// TopicSpec says how the exchange's topics are laid out.
type TopicSpec struct {
	Partitions        int // ingest, accepted and rejected topics; default 3
	ReplicationFactor int // default 1
	MinInsyncReplicas int // default: 2 when replication >= 3, else 1
	// Subscribers get a delivery topic each (Names.Deliver; Partitions
	// partitions, kept DeliverRetention).
	Subscribers []string
	// Publishers get a correction inbox each (Names.Corrections; one
	// partition, kept forever).
	Publishers []string
}

// DeliverRetention is retention.ms of a delivery topic: a subscriber
// down for longer than 30 days misses deliveries.
const DeliverRetention = 30 * 24 * time.Hour

func (s TopicSpec) withDefaults() TopicSpec {
	if s.Partitions <= 0 {
		s.Partitions = 3
	}
	if s.ReplicationFactor <= 0 {
		s.ReplicationFactor = 1
	}
	if s.MinInsyncReplicas <= 0 {
		s.MinInsyncReplicas = 1
		if s.ReplicationFactor >= 3 {
			s.MinInsyncReplicas = 2
		}
	}
	return s
}

// Topics lists every topic the exchange needs for datasets, with configs.
func Topics(n Names, datasets []string, spec TopicSpec) []kafka.TopicConfig {
	spec = spec.withDefaults()
	common := []kafka.ConfigEntry{
		{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(spec.MinInsyncReplicas)},
		{ConfigName: "unclean.leader.election.enable", ConfigValue: "false"},
		{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(TopicMaxMessageBytes)},
	}
	mk := func(name string, partitions int, extra ...kafka.ConfigEntry) kafka.TopicConfig {
		return kafka.TopicConfig{
			Topic:             name,
			NumPartitions:     partitions,
			ReplicationFactor: spec.ReplicationFactor,
			ConfigEntries:     append(append([]kafka.ConfigEntry{}, common...), extra...),
		}
	}
	sorted := append([]string(nil), datasets...)
	sort.Strings(sorted)
	var out []kafka.TopicConfig
	for _, d := range sorted {
		out = append(out,
			mk(n.Ingest(d), spec.Partitions),
			mk(n.Accepted(d), spec.Partitions,
				kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"},
				kafka.ConfigEntry{ConfigName: "min.cleanable.dirty.ratio", ConfigValue: "0.1"},
				kafka.ConfigEntry{ConfigName: "segment.ms", ConfigValue: "600000"},
			),
			mk(n.Rejected(d), spec.Partitions),
			// Live queries (every dataset: a grant can make one live at
			// runtime); short-lived, see LiveRetention.
			mk(n.Request(d), spec.Partitions, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: liveRetention()}),
			mk(n.Reply(d), spec.Partitions, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: liveRetention()}),
		)
	}
	out = append(out,
		mk(n.Audit(), 1, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"}),
		// Not compacted: anyone who can produce could otherwise erase a
		// revocation by producing junk under its kid.
		mk(n.Keys(), 1, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"}),
		// Not compacted either: one partition, kept forever, so every
		// node applies the same policy events in the same order.
		mk(n.Control(), 1, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"}),
	)
	subs := append([]string(nil), spec.Subscribers...)
	sort.Strings(subs)
	for _, c := range slices.Compact(subs) {
		out = append(out, mk(n.Deliver(c), spec.Partitions,
			kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(DeliverRetention.Milliseconds(), 10)}))
	}
	pubs := append([]string(nil), spec.Publishers...)
	sort.Strings(pubs)
	for _, p := range slices.Compact(pubs) {
		out = append(out, mk(n.Corrections(p), 1, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"}))
	}
	return out
}

// EnsureTopics creates the missing topics and checks that existing ones
// have the partition count the exchange relies on. An existing topic whose
// max.message.bytes is below TopicMaxMessageBytes (made by an older
// version, or by hand) has it raised, never lowered: otherwise a valid
// outcome could be refused for its size and stop ingest. Running it twice
// changes nothing.
func EnsureTopics(ctx context.Context, c Config, datasets []string, spec TopicSpec) error {
	cl, err := c.Client()
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	want := Topics(c.Names, datasets, spec)
	names := make([]string, len(want))
	for i, t := range want {
		names[i] = t.Topic
	}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("ensure topics: metadata: %w", err)
	}
	have := map[string]int{}
	for _, t := range meta.Topics {
		if t.Error == nil {
			have[t.Name] = len(t.Partitions)
		}
	}
	var missing []kafka.TopicConfig
	var existing []string
	for _, t := range want {
		n, ok := have[t.Topic]
		switch {
		case !ok:
			missing = append(missing, t)
		case n != t.NumPartitions:
			return fmt.Errorf("ensure topics: %s has %d partitions, want %d", t.Topic, n, t.NumPartitions)
		default:
			existing = append(existing, t.Topic)
		}
	}
	if err := raiseMessageLimit(ctx, cl, existing); err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	if len(missing) == 0 {
		return nil
	}
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("ensure topics: create: %w", err)
	}
	for name, e := range res.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("ensure topics: create %s: %w", name, e)
		}
	}
	return nil
}

// raiseMessageLimit sets max.message.bytes of every topic in topics whose
// value is below TopicMaxMessageBytes to TopicMaxMessageBytes.
func raiseMessageLimit(ctx context.Context, cl *kafka.Client, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: []string{"max.message.bytes"},
		})
	}
	res, err := cl.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("describe max.message.bytes: %w", err)
	}
	var low []kafka.IncrementalAlterConfigsRequestResource
	for _, r := range res.Resources {
		if r.Error != nil {
			return fmt.Errorf("describe max.message.bytes of %s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != "max.message.bytes" {
				continue
			}
			if v, err := strconv.Atoi(e.ConfigValue); err == nil && v >= TopicMaxMessageBytes {
				continue
			}
			low = append(low, kafka.IncrementalAlterConfigsRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: r.ResourceName,
				Configs: []kafka.IncrementalAlterConfigsRequestConfig{{
					Name: "max.message.bytes", Value: strconv.Itoa(TopicMaxMessageBytes), ConfigOperation: kafka.ConfigOperationSet,
				}},
			})
		}
	}
	if len(low) == 0 {
		return nil
	}
	ares, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: low})
	if err != nil {
		return fmt.Errorf("raise max.message.bytes: %w", err)
	}
	for _, r := range ares.Resources {
		if r.Error != nil {
			return fmt.Errorf("raise max.message.bytes of %s: %w", r.ResourceName, r.Error)
		}
	}
	return nil
}
