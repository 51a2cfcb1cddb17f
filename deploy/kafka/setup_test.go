package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// aclKey renders one binding; sorted lists of them compare whole.
func aclKey(rt kafka.ResourceType, name string, pt kafka.PatternType, principal, host string, op kafka.ACLOperationType, perm kafka.ACLPermissionType) string {
	return fmt.Sprintf("%s:%s(%s) %s@%s %s %s", rt, name, pt, principal, host, op, perm)
}

// describeNamespaceACLs lists every binding on the cluster whose resource is in namespace ns (its topics and
// its consumer groups: the exchange's, the delivery group, the subscribers' and the responders'), one string
// per binding, sorted, duplicates kept.
func describeNamespaceACLs(ctx context.Context, t *testing.T, w *world) []string {
	t.Helper()
	cl, err := w.c.adminBus(w.ns).Client()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.DescribeACLs(ctx, &kafka.DescribeACLsRequest{Filter: kafka.ACLFilter{
		ResourceTypeFilter: kafka.ResourceTypeAny, ResourcePatternTypeFilter: kafka.PatternTypeAny,
		Operation: kafka.ACLOperationTypeAny, PermissionType: kafka.ACLPermissionTypeAny,
	}})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		t.Fatalf("describe acls: %v", err)
	}
	var out []string
	for _, r := range res.Resources {
		if !strings.HasPrefix(r.ResourceName, w.ns+".") && !strings.HasPrefix(r.ResourceName, w.ns+"-") {
			continue
		}
		for _, a := range r.ACLs {
			out = append(out, aclKey(r.ResourceType, r.ResourceName, r.PatternType, a.Principal, a.Host, a.Operation, a.PermissionType))
		}
	}
	slices.Sort(out)
	return out
}

// TestKafkaSetupIsIdempotent runs `onevisit kafka setup` twice: the second run creates nothing, says every user
// exists and binds the same number of ACLs, and the cluster then holds exactly the bindings the grants imply,
// each once.
func TestKafkaSetupIsIdempotent(t *testing.T) {
	w := newWorld(t)
	want := w.acls()
	topics := bus.Topics(w.names, w.datasets, bus.TopicSpec{Subscribers: sampleSubscribers, Publishers: samplePublishers})

	second := w.setup()
	var wantOut strings.Builder
	fmt.Fprintf(&wantOut, "topics: %d present\n", len(topics))
	for _, u := range append([]string{w.exchangeUser}, sampleUsers...) {
		fmt.Fprintf(&wantOut, "user %s: exists, password unchanged\n", u)
	}
	fmt.Fprintf(&wantOut, "acls: %d bindings present; everything else is denied\n", len(want))
	if second != wantOut.String() {
		t.Errorf("second `kafka setup` printed\n%s\nwant\n%s", second, wantOut.String())
	}
	first := strings.Split(strings.TrimSpace(w.setupOutput), "\n")
	if len(first) == 0 || first[0] != fmt.Sprintf("topics: %d present", len(topics)) || first[len(first)-1] != fmt.Sprintf("acls: %d bindings present; everything else is denied", len(want)) {
		t.Errorf("first `kafka setup` printed\n%s\nwant the same topics and acls lines as the second", w.setupOutput)
	}
	if !strings.Contains(w.setupOutput, "user "+w.exchangeUser+": created (password in ") {
		t.Errorf("first `kafka setup` did not create %s:\n%s", w.exchangeUser, w.setupOutput)
	}

	// The bindings reach the describing broker through the metadata log; poll until they are all there.
	wantKeys := make([]string, len(want))
	for i, a := range want {
		wantKeys[i] = aclKey(a.ResourceType, a.ResourceName, a.ResourcePatternType, a.Principal, a.Host, a.Operation, a.PermissionType)
	}
	slices.Sort(wantKeys)
	var got []string
	err := eventually(t.Context(), 20*time.Second, func(ctx context.Context) error {
		got = describeNamespaceACLs(ctx, t, w)
		if !slices.Equal(got, wantKeys) {
			return fmt.Errorf("described %d bindings, want %d", len(got), len(wantKeys))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bindings after two setups differ from the grants' (%v)\n got %q\nwant %q", err, got, wantKeys)
	}
	if d := slices.Compact(slices.Clone(got)); len(d) != len(got) {
		t.Errorf("DescribeACLs shows %d duplicate bindings", len(got)-len(d))
	}
	t.Logf("namespace %s: %d topics, %d users, %d bindings, none duplicated after two runs", w.ns, len(topics), 1+len(sampleUsers), len(got))
}

// writeWith writes msgs as user through a writer whose transport names the topic in MetadataTopics, so the
// broker's TOPIC_AUTHORIZATION_FAILED reaches the caller (with all topics' metadata kafka-go would say
// UNKNOWN_TOPIC_OR_PARTITION). kafka.WriteErrors is joined so errors.Is sees the broker's codes.
func writeWith(ctx context.Context, t *testing.T, w *world, user, topic string, msgs ...kafka.Message) error {
	wr := &kafka.Writer{
		Addr: kafka.TCP(w.c.brokers...), Topic: topic, Transport: transport(t, user, w.passwords[user], topic),
		RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 2,
	}
	err := wr.WriteMessages(ctx, msgs...)
	if cerr := wr.Close(); err == nil {
		err = cerr
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		err = errors.Join(werrs...)
	}
	return err
}

// signed signs items as publisher for dataset and returns the records as Kafka messages keyed by record id.
func signed(ctx context.Context, t *testing.T, w *world, publisher, dataset string, items ...connectors.Item) ([]kafka.Message, []string) {
	t.Helper()
	var c capture
	ids, _, err := w.publisher(publisher, dataset, &c).Publish(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]kafka.Message, len(c.records))
	for i, r := range c.records {
		msgs[i] = kafka.Message{Key: []byte(ids[i]), Value: []byte(r)}
	}
	return msgs, ids
}

// capture is a connectors.Sink that keeps the signed records instead of sending them.
type capture struct{ records []string }

func (c *capture) Send(_ context.Context, _ string, records []string) ([]wire.Result, error) {
	c.records = append(c.records, records...)
	return nil, nil
}

// TestBrokerEnforcesBoundaries proves that Kafka itself, not the exchange, keeps a publisher inside its grant:
// with public-security's SCRAM user, writing the tax bureau's ingest topic, reading an accepted topic or its
// own ingest topic, and joining the exchange's consumer group are refused by the broker, and the exchange
// never sees the refused record; writing its own ingest topic works, and an exchange node running as the
// exchange user (no admin credentials in its environment) accepts that record.
func TestBrokerEnforcesBoundaries(t *testing.T) {
	w := newWorld(t)
	ex := w.startNode("exchange-1")
	ctx := t.Context()
	const pub = "public-security"
	sub := 7001

	// A record public-security may sign but not put on the tax bureau's topic: the exchange would dead-letter
	// it (no grant), but the broker must refuse it before the exchange could see it at all.
	foreign, foreignIDs := signed(ctx, t, w, pub, "household", householdItem("ovt-foreign-"+w.ns, sub))
	own, ownIDs := signed(ctx, t, w, pub, "household", householdItem("ovt-own-"+w.ns, sub+1))
	pubClient := &kafka.Client{Addr: kafka.TCP(w.c.brokers...), Timeout: 20 * time.Second}

	tests := []struct {
		name    string
		do      func(ctx context.Context) error
		wantErr error
	}{
		{
			name:    "write another department's ingest topic",
			do:      func(ctx context.Context) error { return writeWith(ctx, t, w, pub, w.names.Ingest("tax"), foreign...) },
			wantErr: kafka.TopicAuthorizationFailed,
		},
		{
			name:    "read an accepted topic",
			do:      func(ctx context.Context) error { return readErr(ctx, t, w, pub, w.names.Accepted("household")) },
			wantErr: kafka.TopicAuthorizationFailed,
		},
		{
			name:    "read its own ingest topic (write only)",
			do:      func(ctx context.Context) error { return readErr(ctx, t, w, pub, w.names.Ingest("household")) },
			wantErr: kafka.TopicAuthorizationFailed,
		},
		{
			name: "join the exchange's consumer group",
			do: func(ctx context.Context) error {
				pubClient.Transport = transport(t, pub, w.passwords[pub])
				return joinErr(ctx, pubClient, w.names.Group(), w.names.Ingest("household"))
			},
			wantErr: kafka.GroupAuthorizationFailed,
		},
		{
			name:    "write its own ingest topic",
			do:      func(ctx context.Context) error { return writeWith(ctx, t, w, pub, w.names.Ingest("household"), own...) },
			wantErr: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var last error
			err := eventually(ctx, 20*time.Second, func(ctx context.Context) error {
				last = tc.do(ctx)
				if errors.Is(last, tc.wantErr) || (tc.wantErr == nil && last == nil) {
					return nil
				}
				return fmt.Errorf("as %s: got %v, want %v", pub, last, tc.wantErr)
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("as %s: %v", pub, last)
		})
	}

	// The exchange accepts the record written to public-security's own topic...
	ids, err := w.waitAccepted(ctx, "household", ownIDs, 60*time.Second)
	if err != nil {
		t.Fatalf("record written to %s: %v\n%s", w.names.Ingest("household"), err, ex.logTail(20))
	}
	q := &connectors.Requester{Client: w.apiClient("school-enrolment", ex)}
	ans, err := q.Query(ctx, connectors.Query{Dataset: "household", Subject: residentID(sub + 1), Purpose: "school_enrolment", CaseID: "SE-2026-9201"})
	if err != nil {
		t.Fatalf("query the accepted record: %v", err)
	}
	if ans.Record.ID != ownIDs[0] || ans.Record.Issuer != pub {
		t.Errorf("query answered record %s by %s, want %s by %s", ans.Record.ID, ans.Record.Issuer, ownIDs[0], pub)
	}

	// ... and never saw the refused one: not in the tax topics, and not in the audit log, which holds a
	// decision for every record the exchange read. The accepted record's entry proves the log is current.
	entries, err := w.auditEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var accepted []audit.Entry
	for _, e := range entries {
		if e.RecordID == foreignIDs[0] {
			t.Errorf("the audit log has an entry for the refused record: %+v", e)
		}
		if e.RecordID == ownIDs[0] && e.Kind == audit.KindAccept {
			accepted = append(accepted, e)
		}
	}
	if len(accepted) != 1 || accepted[0].Actor != pub || accepted[0].Node != "exchange-1" || accepted[0].Decision != audit.DecisionAccepted {
		t.Errorf("audit entries accepting %s = %+v, want one by %s on exchange-1", ownIDs[0], accepted, pub)
	}
	for _, topic := range []string{w.names.Ingest("tax"), w.names.Accepted("tax"), w.names.Rejected("tax"), w.names.Rejected("household")} {
		msgs, err := w.readTopic(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if strings.Contains(string(m.Value), foreignIDs[0]) || string(m.Key) == foreignIDs[0] {
				t.Errorf("%s holds the refused record at offset %d", topic, m.Offset)
			}
		}
	}
	if ids[foreignIDs[0]] != 0 {
		t.Errorf("the refused record is in %s", w.names.Accepted("household"))
	}
	msgs, err := w.readTopic(ctx, w.names.Accepted("household"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		rec, err := record.Parse(string(m.Value))
		if err != nil || rec.ID != ownIDs[0] {
			continue
		}
		if h := header(m, "onevisit-node"); h != "exchange-1" {
			t.Errorf("accepted record written by node %q, want exchange-1", h)
		}
	}
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// readErr fetches from partition 0 of topic as user, straight from the partition's leader (found by the
// admin), and returns the broker's answer. Going to the leader directly matters: a user who may not describe
// the topic gets no leader in its metadata, and kafka-go's Client.Fetch then waits for one until its deadline.
func readErr(ctx context.Context, t *testing.T, w *world, user, topic string) error {
	t.Helper()
	admin, err := w.c.adminBus(w.ns).Client()
	if err != nil {
		t.Fatal(err)
	}
	parts, err := partitionsOf(ctx, admin, topic)
	if err != nil {
		t.Fatal(err)
	}
	d := &kafka.Dialer{SASLMechanism: mechanism(t, user, w.passwords[user]), Timeout: 10 * time.Second}
	conn, err := d.DialPartition(ctx, "tcp", "", parts[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	b := conn.ReadBatch(1, 1<<20)
	err = b.Err()
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	return err
}

// joinErr asks to join group as a consumer of topics and returns the request's or the answer's error; a member
// that got in leaves again.
func joinErr(ctx context.Context, cl *kafka.Client, group string, topics ...string) error {
	res, err := cl.JoinGroup(ctx, &kafka.JoinGroupRequest{
		GroupID: group, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second, ProtocolType: "consumer",
		Protocols: []kafka.GroupProtocol{{Name: "range", Metadata: kafka.GroupProtocolSubscription{Topics: topics}}},
	})
	if err != nil {
		return err
	}
	if res.Error == nil && res.MemberID != "" {
		_, _ = cl.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: group, Members: []kafka.LeaveGroupRequestMember{{ID: res.MemberID}}})
	}
	return res.Error
}
