package dev_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
)

// TestQueryFailsWhenItsAuditEntryIsRefused: answers share audit produces
// (the node's audit group), yet none is given before its own entry is
// durable. While the broker refuses every produce to the audit topic,
// concurrent queries all fail with 503 unavailable and release nothing;
// once it accepts again, they answer.
//
// It injects the refusal with kfake's request control, which only the
// embedded broker has, so it runs on the embedded broker also when the
// suite runs against real Kafka.
func TestQueryFailsWhenItsAuditEntryIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := dev.Start(ctx, dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true})
	if err != nil {
		t.Fatalf("start dev mode: %v", err)
	}
	t.Cleanup(env.Close)
	child := findRow(t, env, "household", samples.ChildResidentID)
	rec := signWith(t, env, "public-security", "public-security", "household", child, "auditgroup-rec-1")
	body, _ := json.Marshal(map[string]any{"records": []string{rec}})
	if status, out := post(t, env.BaseURL+"/v1/datasets/household/records", token(t, env, "public-security"), body); status != 200 || out["accepted"] != float64(1) {
		t.Fatalf("publish: %d %v", status, out)
	}
	consumerTok := token(t, env, "school-enrolment")
	q := []byte(`{"dataset":"household","subject":"` + samples.ChildResidentID + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`)
	waitFor(t, "a permitted answer", func() bool {
		status, _ := post(t, env.BaseURL+"/v1/query", consumerTok, q)
		return status == http.StatusOK
	})

	audit := env.Kafka.Names.Audit()
	var refusing atomic.Bool
	var refused atomic.Int64
	refusing.Store(true)
	env.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		env.Cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		toAudit := false
		for _, rt := range pr.Topics {
			toAudit = toAudit || rt.Topic == audit
		}
		if !refusing.Load() || !toAudit {
			return nil, nil, false
		}
		refused.Add(1)
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

	const clients = 16
	type outcome struct {
		status int
		out    map[string]any
	}
	got := make([]outcome, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i].status, got[i].out = post(t, env.BaseURL+"/v1/query", consumerTok, q)
		}()
	}
	wg.Wait()
	for i, o := range got {
		if o.status != http.StatusServiceUnavailable || errCode(o.out) != "unavailable" {
			t.Errorf("query %d while audit produces are refused: %d %q, want 503 unavailable", i, o.status, errCode(o.out))
		}
		if _, ok := o.out["record"]; ok {
			t.Errorf("query %d released a record without its audit entry", i)
		}
		if _, ok := o.out["receipt"]; ok {
			t.Errorf("query %d released a receipt without its audit entry", i)
		}
	}
	if refused.Load() == 0 {
		t.Fatal("no audit produce reached the broker while refusing")
	}

	refusing.Store(false)
	if status, out := post(t, env.BaseURL+"/v1/query", consumerTok, q); status != http.StatusOK {
		t.Fatalf("query once the broker accepts again: %d %v", status, out)
	}
}
