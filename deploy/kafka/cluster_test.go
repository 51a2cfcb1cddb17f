package kafka_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/bus"
)

// cluster is the Kafka cluster that deploy/kafka/run.sh describes in its env file.
type cluster struct {
	brokers  []string
	user     string
	password string
}

// clusterFromEnv reads the cluster from the environment, or skips the test when there is none.
func clusterFromEnv(t *testing.T) cluster {
	t.Helper()
	kc := bus.FromEnv(nil, "")
	if len(kc.Brokers) == 0 {
		testkit.Unavailable(t, "ONEVISIT_KAFKA_BROKERS is not set: run deploy/kafka/run.sh start [N], "+
			"then load deploy/kafka/.run/env (set -a; . deploy/kafka/.run/env; set +a)")
	}
	if kc.SASLMechanism != "SCRAM-SHA-512" {
		t.Fatalf("ONEVISIT_KAFKA_SASL_MECHANISM = %q, these tests speak SCRAM-SHA-512", kc.SASLMechanism)
	}
	c := cluster{brokers: kc.Brokers, user: kc.User, password: kc.Password}
	if c.user == "" || c.password == "" {
		t.Fatal("ONEVISIT_KAFKA_USER and ONEVISIT_KAFKA_PASSWORD must be set with ONEVISIT_KAFKA_BROKERS")
	}
	return c
}

// replication is what run.sh configures for a cluster of n brokers.
func replication(n int) (factor, minISR int) {
	factor = min(n, 3)
	minISR = 1
	if n >= 3 {
		minISR = 2
	}
	return factor, minISR
}

func mechanism(t *testing.T, user, password string) sasl.Mechanism {
	t.Helper()
	m, err := scram.Mechanism(scram.SHA512, user, password)
	if err != nil {
		t.Fatalf("scram mechanism: %v", err)
	}
	return m
}

// transport logs in as user; it refreshes metadata every second so a new leader is found quickly.
//
// With no topics, kafka-go's Transport asks for the metadata of all topics, which the broker answers
// with the topics the user may describe, so a writer sees a forbidden topic as UNKNOWN_TOPIC_OR_PARTITION.
// Naming the topics makes the broker answer TOPIC_AUTHORIZATION_FAILED for them instead.
func transport(t *testing.T, user, password string, topics ...string) *kafka.Transport {
	t.Helper()
	tr := &kafka.Transport{
		SASL:           mechanism(t, user, password),
		DialTimeout:    5 * time.Second,
		MetadataTTL:    time.Second,
		MetadataTopics: topics,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func (c cluster) client(t *testing.T, user, password string, brokers ...string) *kafka.Client {
	t.Helper()
	if len(brokers) == 0 {
		brokers = c.brokers
	}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second, Transport: transport(t, user, password)}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// eventually calls f until it returns nil or timeout passes, and returns f's last error.
// A real cluster applies metadata changes (new users, ACLs, leaders) asynchronously, so the checks poll.
func eventually(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// createTopic creates a topic as the admin and deletes it when the test ends.
func createTopic(t *testing.T, admin *kafka.Client, partitions, factor, minISR int) string {
	t.Helper()
	ctx := t.Context()
	name := "onevisit-smoke-" + randomHex(t, 6)
	resp, err := admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             name,
		NumPartitions:     partitions,
		ReplicationFactor: factor,
		ConfigEntries:     []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(minISR)}},
	}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}}); err != nil {
			t.Logf("delete topic %s: %v", name, err)
		}
	})
	// Wait until every partition has a leader and a full ISR.
	err = eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		p, err := partitionsOf(ctx, admin, name)
		if err != nil {
			return err
		}
		if len(p) != partitions {
			return fmt.Errorf("topic %s has %d partitions, want %d", name, len(p), partitions)
		}
		for _, part := range p {
			if len(part.Isr) != factor {
				return fmt.Errorf("topic %s partition %d has ISR %v, want %d replicas", name, part.ID, brokerIDs(part.Isr), factor)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("wait for topic %s: %v", name, err)
	}
	return name
}

func partitionsOf(ctx context.Context, c *kafka.Client, topic string) ([]kafka.Partition, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(md.Topics) != 1 {
		return nil, fmt.Errorf("metadata: %d topics for %s", len(md.Topics), topic)
	}
	if err := md.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	p := md.Topics[0].Partitions
	slices.SortFunc(p, func(a, b kafka.Partition) int { return a.ID - b.ID })
	return p, nil
}

func brokerIDs(bs []kafka.Broker) []int {
	ids := make([]int, 0, len(bs))
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	return ids
}

// produce writes msgs with acks=all. A kafka.WriteErrors is joined so errors.Is sees the broker's codes.
func produce(ctx context.Context, tr *kafka.Transport, brokers []string, topic string, msgs ...kafka.Message) error {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Transport:    tr,
		RequiredAcks: kafka.RequireAll,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 10 * time.Millisecond,
		MaxAttempts:  3,
	}
	err := w.WriteMessages(ctx, msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		err = errors.Join(werrs...)
	}
	if err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	return nil
}

func messages(prefix string, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "%s-key-%02d", prefix, i), Value: fmt.Appendf(nil, "%s-value-%02d", prefix, i)}
	}
	return msgs
}

func render(msgs []kafka.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Key) + "=" + string(m.Value)
	}
	slices.Sort(out)
	return out
}

// consume reads want records from topic through a consumer group, as the exchange's readers do.
func consume(t *testing.T, c cluster, topic string, want int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     c.brokers,
		GroupID:     topic + "-reader",
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MaxWait:     250 * time.Millisecond,
		Dialer:      &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: mechanism(t, c.user, c.password)},
	})
	defer r.Close()
	var got []kafka.Message
	for len(got) < want {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume %s: read %d of %d records: %v", topic, len(got), want, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("consume %s: commit: %v", topic, err)
		}
		got = append(got, m)
	}
	return got
}

func TestAdminProducesWithAcksAllAndConsumes(t *testing.T) {
	c := clusterFromEnv(t)
	ctx := t.Context()
	admin := c.client(t, c.user, c.password)

	md, err := admin.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("metadata as %s: %v", c.user, err)
	}
	if got := len(md.Brokers); got != len(c.brokers) {
		t.Fatalf("cluster reports %d brokers %v, env names %d", got, brokerIDs(md.Brokers), len(c.brokers))
	}
	factor, minISR := replication(len(c.brokers))
	topic := createTopic(t, admin, 3, factor, minISR)

	parts, err := partitionsOf(ctx, admin, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if len(p.Replicas) != factor {
			t.Errorf("partition %d has replicas %v, want %d", p.ID, brokerIDs(p.Replicas), factor)
		}
	}
	// DescribeConfigs may be answered by a broker that has not applied the
	// new topic from the metadata log yet (UNKNOWN_TOPIC_OR_PARTITION for
	// the resource, no entries): wait for a broker that knows the topic,
	// then its value must be right the first time.
	var isr string
	err = eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		cfg, err := admin.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"min.insync.replicas"},
		}}})
		if err != nil {
			return fmt.Errorf("describe configs of %s: %w", topic, err)
		}
		isr, err = topicConfig(cfg, "min.insync.replicas")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if isr != strconv.Itoa(minISR) {
		t.Errorf("min.insync.replicas of %s = %q, want %d", topic, isr, minISR)
	}

	want := messages("smoke", 30)
	if err := produce(ctx, transport(t, c.user, c.password), c.brokers, topic, want...); err != nil {
		t.Fatal(err)
	}
	got := consume(t, c, topic, len(want))
	if g, w := render(got), render(want); !slices.Equal(g, w) {
		t.Errorf("consumed records differ from produced ones\n got %q\nwant %q", g, w)
	}
}

// topicConfig returns the value of config name in a DescribeConfigs
// answer for one topic, or the error the broker gave for the resource.
func topicConfig(resp *kafka.DescribeConfigsResponse, name string) (string, error) {
	for _, r := range resp.Resources {
		if r.Error != nil {
			return "", fmt.Errorf("describe configs of %s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue, nil
			}
		}
	}
	return "", fmt.Errorf("describe configs: no %s in the answer", name)
}

// upsertScramUser creates user with a SCRAM-SHA-512 credential, salted here as the broker expects
// (RFC 5802: SaltedPassword = PBKDF2-HMAC-SHA-512(password, salt, iterations)), and removes it at the end.
func upsertScramUser(t *testing.T, admin *kafka.Client, user, password string) {
	t.Helper()
	const iterations = 8192
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	salted, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512.Size)
	if err != nil {
		t.Fatalf("pbkdf2: %v", err)
	}
	resp, err := admin.AlterUserScramCredentials(t.Context(), &kafka.AlterUserScramCredentialsRequest{
		Upsertions: []kafka.UserScramCredentialsUpsertion{{
			Name: user, Mechanism: kafka.ScramMechanismSha512, Iterations: iterations, Salt: salt, SaltedPassword: salted,
		}},
	})
	if err != nil {
		t.Fatalf("alter scram credentials of %s: %v", user, err)
	}
	for _, r := range resp.Results {
		if r.Error != nil {
			t.Fatalf("alter scram credentials of %s: %v", r.User, r.Error)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := admin.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{
			Deletions: []kafka.UserScramCredentialsDeletion{{Name: user, Mechanism: kafka.ScramMechanismSha512}},
		})
		if err != nil {
			t.Logf("delete scram user %s: %v", user, err)
		}
	})
}

func TestScramUserWithOneWriteACL(t *testing.T) {
	c := clusterFromEnv(t)
	ctx := t.Context()
	admin := c.client(t, c.user, c.password)
	factor, minISR := replication(len(c.brokers))
	granted := createTopic(t, admin, 1, factor, minISR)
	other := createTopic(t, admin, 1, factor, minISR)

	user := "onevisit-smoke-" + randomHex(t, 4)
	password := randomHex(t, 16)
	upsertScramUser(t, admin, user, password)

	acl := kafka.ACLEntry{
		ResourceType:        kafka.ResourceTypeTopic,
		ResourceName:        granted,
		ResourcePatternType: kafka.PatternTypeLiteral,
		Principal:           "User:" + user,
		Host:                "*",
		Operation:           kafka.ACLOperationTypeWrite,
		PermissionType:      kafka.ACLPermissionTypeAllow,
	}
	resp, err := admin.CreateACLs(ctx, &kafka.CreateACLsRequest{ACLs: []kafka.ACLEntry{acl}})
	if err != nil {
		t.Fatalf("create acl: %v", err)
	}
	if err := errors.Join(resp.Errors...); err != nil {
		t.Fatalf("create acl: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := admin.DeleteACLs(ctx, &kafka.DeleteACLsRequest{Filters: []kafka.DeleteACLsFilter{{
			ResourceTypeFilter: acl.ResourceType, ResourceNameFilter: acl.ResourceName,
			ResourcePatternTypeFilter: acl.ResourcePatternType, PrincipalFilter: acl.Principal,
			HostFilter: acl.Host, Operation: acl.Operation, PermissionType: acl.PermissionType,
		}}})
		if err != nil {
			t.Logf("delete acl: %v", err)
		}
	})

	tests := []struct {
		name     string
		password string
		topic    string
		// allTopics leaves kafka-go's Transport asking for every topic's metadata (its default).
		allTopics bool
		wantErr   error
	}{
		{name: "write to the granted topic", password: password, topic: granted, wantErr: nil},
		{name: "write to a topic with no ACL", password: password, topic: other, wantErr: kafka.TopicAuthorizationFailed},
		{name: "write to a topic with no ACL, metadata of all topics", password: password, topic: other, allTopics: true, wantErr: kafka.UnknownTopicOrPartition},
		{name: "wrong password", password: "not-" + password, topic: granted, wantErr: kafka.SASLAuthenticationFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The credential and the ACL reach every broker through the metadata log shortly after the
			// admin calls return; until then a broker may still say "unknown user". Poll for the verdict.
			var last error
			err := eventually(ctx, 20*time.Second, func(ctx context.Context) error {
				topics := []string{tc.topic}
				if tc.allTopics {
					topics = nil
				}
				last = produce(ctx, transport(t, user, tc.password, topics...), c.brokers, tc.topic, messages("acl", 1)...)
				if errors.Is(last, tc.wantErr) {
					return nil
				}
				return fmt.Errorf("produce as %s to %s: got %v, want %v", user, tc.topic, last, tc.wantErr)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// runScript runs deploy/kafka/run.sh (this test's directory) with args and returns its standard output.
func runScript(t *testing.T, args ...string) string {
	t.Helper()
	script, err := filepath.Abs("run.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run.sh %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	t.Logf("run.sh %s:\n%s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	return string(out)
}

// TestLeaderKilled kills the leader of a partition with SIGKILL, keeps producing with acks=all and brings
// the node back. It changes the shared cluster, so it runs only when ONEVISIT_KAFKA_FAULTS=1.
func TestLeaderKilled(t *testing.T) {
	c := clusterFromEnv(t)
	if os.Getenv("ONEVISIT_KAFKA_FAULTS") != "1" {
		t.Skip("ONEVISIT_KAFKA_FAULTS is not 1: this test SIGKILLs a broker of the cluster")
	}
	if len(c.brokers) < 3 {
		t.Skipf("needs 3 or more brokers to survive losing one, have %d (run.sh start 3)", len(c.brokers))
	}
	ctx := t.Context()
	admin := c.client(t, c.user, c.password)
	topic := createTopic(t, admin, 1, 3, 2)

	before := messages("before", 10)
	if err := produce(ctx, transport(t, c.user, c.password), c.brokers, topic, before...); err != nil {
		t.Fatal(err)
	}
	parts, err := partitionsOf(ctx, admin, topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := parts[0].Leader.ID
	if got := strings.TrimSpace(runScript(t, "leader", topic, "0")); got != strconv.Itoa(leader) {
		t.Fatalf("run.sh leader %s 0 = %q, kafka-go metadata says %d", topic, got, leader)
	}

	runScript(t, "kill", strconv.Itoa(leader))
	t.Cleanup(func() { runScript(t, "restart", strconv.Itoa(leader)) })
	live := slices.DeleteFunc(slices.Clone(c.brokers), func(b string) bool { return b == c.brokers[leader] })
	if len(live) != len(c.brokers)-1 {
		t.Fatalf("broker %d is not %s in %v: run.sh numbers nodes from 0 in port order", leader, c.brokers[leader], c.brokers)
	}
	survivors := c.client(t, c.user, c.password, live...)

	after := messages("after", 10)
	start := time.Now()
	err = eventually(ctx, 90*time.Second, func(ctx context.Context) error {
		return produce(ctx, transport(t, c.user, c.password), live, topic, after...)
	})
	if err != nil {
		t.Fatalf("acks=all produce after killing leader %d: %v", leader, err)
	}
	t.Logf("acks=all writes resumed %v after SIGKILL of leader %d", time.Since(start).Round(100*time.Millisecond), leader)
	parts, err = partitionsOf(ctx, survivors, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := parts[0].Leader.ID; got == leader {
		t.Fatalf("leader is still the killed node %d", leader)
	}
	if isr := brokerIDs(parts[0].Isr); slices.Contains(isr, leader) || len(isr) != 2 {
		t.Fatalf("ISR after the kill = %v, want the two survivors", isr)
	}

	runScript(t, "restart", strconv.Itoa(leader))
	err = eventually(ctx, 90*time.Second, func(ctx context.Context) error {
		p, err := partitionsOf(ctx, admin, topic)
		if err != nil {
			return err
		}
		if isr := brokerIDs(p[0].Isr); !slices.Contains(isr, leader) {
			return fmt.Errorf("ISR %v lacks restarted node %d", isr, leader)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("restarted node never rejoined the ISR: %v", err)
	}

	// The restarted node must still know the admin's SCRAM credential: ask it alone.
	restarted := c.client(t, c.user, c.password, c.brokers[leader])
	if _, err := restarted.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}}); err != nil {
		t.Fatalf("metadata from restarted node %d alone as %s: %v", leader, c.user, err)
	}

	want := append(slices.Clone(before), after...)
	got := consume(t, c, topic, len(want))
	if g, w := render(got), render(want); !slices.Equal(g, w) {
		t.Errorf("records after failover differ\n got %q\nwant %q", g, w)
	}
}
