package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/connectors"
)

// TestDeliveryTopicBoundaries: on the real cluster, after `onevisit kafka setup`, a death record published by
// civil affairs reaches the pension service's delivery topic, and the pension service's Subscriber, connecting
// as its own SCRAM user, receives and verifies it with exactly its subscription's fields. The broker keeps
// every other principal off that topic: another subscriber cannot read it or join its group, a publisher
// cannot read it, and no one but the exchange may write it (not even its own consumer). Likewise a
// department's correction inbox: no other department or consumer reads it, and the department cannot write it.
func TestDeliveryTopicBoundaries(t *testing.T) {
	w := newWorld(t)
	ex := w.startNode("exchange-1")
	ctx := t.Context()
	const owner, other = "pension-service", "social-insurance-service"
	topic := w.names.Deliver(owner)

	// A death record, published as civil affairs through its own ingest topic.
	p, _ := w.kafkaPublisher("civil-affairs", "death")
	rid := residentID(7301)
	birth, _ := time.Parse("20060102", rid[6:14])
	fields := map[string]any{
		"resident_id": rid, "name": "测试者", "gender": "male", "birth_date": birth.Format(time.DateOnly),
		"death_date": "2026-10-17", "death_place": "浙江省人民医院", "cause_of_death": "测试", "certificate_no": "N-" + w.ns,
		"registration_office": "杭州市西湖区民政局", "registration_date": "2026-10-19",
	}
	ids, _, err := p.Publish(ctx, []connectors.Item{{ID: "ovt-death-" + w.ns, Fields: fields}})
	if err != nil {
		t.Fatal(err)
	}

	// The owner's subscriber, as its own SCRAM user, gets it verified.
	kc := w.userBus(owner)
	kc.ClientID = owner
	s := &connectors.Subscriber{Requester: &connectors.Requester{Client: w.apiClient(owner, ex)}, Kafka: kc}
	got := make(chan connectors.Delivery, 1)
	subCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- s.Run(subCtx, func(_ context.Context, d connectors.Delivery) error {
			select {
			case got <- d:
			default:
			}
			return nil
		})
	}()
	var d connectors.Delivery
	select {
	case d = <-got:
	case err := <-errc:
		t.Fatalf("subscriber as %s stopped: %v\n%s", owner, err, ex.logTail(20))
	case <-subCtx.Done():
		t.Fatalf("no delivery to %s within 90 s\n%s", owner, ex.logTail(20))
	}
	cancel()
	want := []string{"certificate_no", "death_date", "name", "resident_id"}
	if d.Record.ID != ids[0] || d.Subject != rid || !slices.Equal(slices.Sorted(maps.Keys(d.Data)), want) {
		t.Errorf("delivery %s of record %s about %s with fields %v, want record %s about %s with %v",
			d.ID, d.Record.ID, d.Subject, slices.Sorted(maps.Keys(d.Data)), ids[0], rid, want)
	}

	client := &kafka.Client{Addr: kafka.TCP(w.c.brokers...), Timeout: 20 * time.Second}
	tests := []struct {
		name, user string
		do         func(ctx context.Context, user string) error
		wantErr    error
	}{
		{"another subscriber reads the topic", other, func(ctx context.Context, u string) error { return readErr(ctx, t, w, u, topic) }, kafka.TopicAuthorizationFailed},
		{"another subscriber joins the owner's group", other, func(ctx context.Context, u string) error {
			client.Transport = transport(t, u, w.passwords[u])
			return joinErr(ctx, client, w.names.SubscriberGroup(owner), topic)
		}, kafka.GroupAuthorizationFailed},
		{"a publisher reads the topic", "civil-affairs", func(ctx context.Context, u string) error { return readErr(ctx, t, w, u, topic) }, kafka.TopicAuthorizationFailed},
		{"another subscriber writes the topic", other, func(ctx context.Context, u string) error {
			return writeWith(ctx, t, w, u, topic, kafka.Message{Value: []byte(`{"delivery_id":"forged"}`)})
		}, kafka.TopicAuthorizationFailed},
		{"the owner writes its own topic", owner, func(ctx context.Context, u string) error {
			return writeWith(ctx, t, w, u, topic, kafka.Message{Value: []byte(`{"delivery_id":"forged"}`)})
		}, kafka.TopicAuthorizationFailed},
		{"the owner reads an accepted topic", owner, func(ctx context.Context, u string) error { return readErr(ctx, t, w, u, w.names.Accepted("death")) }, kafka.TopicAuthorizationFailed},
		// Correction inboxes: a department reads only its own, and only the exchange writes one.
		{"a department reads another's correction inbox", "tax-bureau", func(ctx context.Context, u string) error {
			return readErr(ctx, t, w, u, w.names.Corrections("civil-affairs"))
		}, kafka.TopicAuthorizationFailed},
		{"a consumer reads a correction inbox", owner, func(ctx context.Context, u string) error {
			return readErr(ctx, t, w, u, w.names.Corrections("civil-affairs"))
		}, kafka.TopicAuthorizationFailed},
		{"a department writes its own correction inbox", "civil-affairs", func(ctx context.Context, u string) error {
			return writeWith(ctx, t, w, u, w.names.Corrections("civil-affairs"), kafka.Message{Value: []byte(`{"event":"decided"}`)})
		}, kafka.TopicAuthorizationFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var last error
			err := eventually(ctx, 20*time.Second, func(ctx context.Context) error {
				last = tc.do(ctx, tc.user)
				if errors.Is(last, tc.wantErr) {
					return nil
				}
				return fmt.Errorf("as %s: got %v, want %v", tc.user, last, tc.wantErr)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
