package dev_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange/bus"
)

// testKafka is dev.KafkaFromEnv for one test: on a real cluster it also
// deletes every topic of the namespace when the test ends. The cleanup is
// registered before the test starts its nodes, so it runs after they
// closed. A dev environment has about ninety topics (five per dataset, a
// delivery topic per consumer, a correction inbox per publisher); left in
// place, the suite's environments pile up tens of thousands of partition
// replicas on CI's three brokers, and creating the next environment's
// topics slows past the tests' start deadlines.
func testKafka(t *testing.T, ns string) (*bus.Config, bus.TopicSpec, bool) {
	kc, spec, ok := dev.KafkaFromEnv(ns)
	if ok {
		t.Cleanup(func() { deleteNamespaceTopics(t, kc) })
	}
	return kc, spec, ok
}

func deleteNamespaceTopics(t *testing.T, kc *bus.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kc.Client()
	if err != nil {
		t.Logf("cleanup: kafka client: %v", err)
		return
	}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Logf("cleanup: metadata: %v", err)
		return
	}
	prefix := strings.TrimSuffix(kc.Names.Audit(), "audit")
	var topics []string
	for _, tp := range meta.Topics {
		if strings.HasPrefix(tp.Name, prefix) {
			topics = append(topics, tp.Name)
		}
	}
	if len(topics) == 0 {
		return
	}
	if _, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics}); err != nil {
		t.Logf("cleanup: delete %d topics of %s: %v", len(topics), prefix, err)
	}
}
