package bus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Names derives every topic and group name from a namespace, so several
// exchanges (or test runs) can share one cluster without seeing each
// other. The zero value is the namespace "onevisit".
type Names string

func (n Names) ns() string {
	if n == "" {
		return "onevisit"
	}
	return string(n)
}

// Ingest is where publishers write records of dataset.
func (n Names) Ingest(dataset string) string { return n.ns() + ".ingest." + dataset }

// Accepted holds the verified records of dataset, compacted by subject.
func (n Names) Accepted(dataset string) string { return n.ns() + ".accepted." + dataset }

// Rejected holds dead letters for dataset.
func (n Names) Rejected(dataset string) string { return n.ns() + ".rejected." + dataset }

// Audit holds every audit entry in one partition, so the audit Merkle
// tree has one order that every node computes alike.
func (n Names) Audit() string { return n.ns() + ".audit" }

// Keys is the key directory's change log of signed events (key: kid),
// kept forever and never compacted, so no produced message can erase a
// revocation: every node tails it, so a registration or revocation
// reaches every node within its tail latency.
func (n Names) Keys() string { return n.ns() + ".keys" }

// Control is the control plane's change log: officers' signed policy
// events (exchange/control), kept forever and never compacted, for the
// same reason as Keys: a produced message must not erase a narrowing.
// Every node tails it from the start and applies it in log order.
func (n Names) Control() string { return n.ns() + ".control" }

// Group is the consumer group exchange nodes share ingest partitions in.
func (n Names) Group() string { return n.ns() + "-exchange" }

// Deliver is consumer's delivery topic: the records its subscriptions
// release, pushed by the exchange (exchange/deliver.go). Only the
// exchange writes it and only that consumer reads it (ACLs).
func (n Names) Deliver(consumer string) string { return n.ns() + ".deliver." + consumer }

// DeliverGroup is the consumer group exchange nodes share the accepted
// partitions in for delivery; its committed offsets are how far delivery
// has gone.
func (n Names) DeliverGroup() string { return n.ns() + "-deliver" }

// SubscriberGroup is the consumer group consumer reads its delivery
// topic in (connectors.Subscriber).
func (n Names) SubscriberGroup(consumer string) string { return n.ns() + "-subscriber-" + consumer }

// Corrections is publisher's correction inbox: the corrections filed
// against its records and their status events (exchange/corrections.go),
// one partition, kept. Only the exchange writes it; that publisher reads
// it, and every node replays it for the corrections' state.
func (n Names) Corrections(publisher string) string { return n.ns() + ".corrections." + publisher }

// DatasetOf returns the dataset of an ingest, accepted or rejected topic.
func (n Names) DatasetOf(topic string) (string, bool) {
	for _, kind := range []string{".ingest.", ".accepted.", ".rejected."} {
		if rest, ok := strings.CutPrefix(topic, n.ns()+kind); ok && rest != "" {
			return rest, true
		}
	}
	return "", false
}

// Config says how to reach a Kafka cluster. The password never comes from
// a config file: the caller fills it from the environment or Vault.
type Config struct {
	Brokers []string
	// Names is the namespace of every topic and group (default onevisit).
	Names Names
	// SASLMechanism is "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	SASLMechanism string
	User          string
	Password      string `json:"-"`
	TLS           *tls.Config
	ClientID      string
	// BatchTimeout bounds how long a write waits for others to share its
	// batch. Zero means 2 ms.
	BatchTimeout time.Duration
}

// Validate names the first bad field.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka config: brokers: at least one address required")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka config: brokers: %q is not host:port", b)
		}
	}
	switch c.SASLMechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.User == "" || c.Password == "" {
			return fmt.Errorf("kafka config: sasl %s needs user and password", c.SASLMechanism)
		}
	default:
		return fmt.Errorf("kafka config: sasl_mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism)
	}
	return nil
}

func (c Config) mechanism() (sasl.Mechanism, error) {
	switch c.SASLMechanism {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: c.User, Password: c.Password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, c.User, c.Password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, c.User, c.Password)
	}
	return nil, fmt.Errorf("kafka config: unknown sasl mechanism %q", c.SASLMechanism)
}

func (c Config) batchTimeout() time.Duration {
	if c.BatchTimeout > 0 {
		return c.BatchTimeout
	}
	return 2 * time.Millisecond
}

// Transport returns the round tripper shared by writers and admin clients.
//
// It is one per process and connection settings (brokers, SASL, TLS,
// client id): a kafka-go Transport keeps a connection pool whose goroutine
// refreshes the metadata of every topic on the cluster every few seconds
// until CloseIdleConnections, and kafka.Writer.Close does not close a
// transport it was given. One transport per writer or client leaked one
// such refresher each time a node, connector or test made one; on a
// cluster with many topics they ate the CPU (the real-Kafka suite ran 3 ×
// slower and a request timed out). Sharing is safe: a Transport serves
// concurrent round trips and reopens its pool after CloseIdleConnections.
//
// The cost: a Transport answers metadata requests from a cache it
// refreshes every few seconds (and at once after a CreateTopics made
// through it), so a topic another process has just created is unknown
// here until the next refresh. Nodes and connectors start after `kafka
// setup`, so this shows only in tests that create topics from another
// process and write at once; they wait for the topic (deploy/kafka's
// harness, waitForTopics).
func (c Config) Transport() (*kafka.Transport, error) {
	m, err := c.mechanism()
	if err != nil {
		return nil, err
	}
	k := transportKey{brokers: strings.Join(c.Brokers, ","), mechanism: c.SASLMechanism, user: c.User, password: c.Password, tls: c.TLS, clientID: c.clientID()}
	if t, ok := transports.Load(k); ok {
		return t.(*kafka.Transport), nil
	}
	t, _ := transports.LoadOrStore(k, &kafka.Transport{SASL: m, TLS: c.TLS, ClientID: k.clientID, DialTimeout: 5 * time.Second})
	return t.(*kafka.Transport), nil
}

// transports holds the process's Kafka transports by connection settings.
var transports sync.Map // transportKey → *kafka.Transport

type transportKey struct {
	brokers, mechanism, user, password, clientID string
	tls                                          *tls.Config
}

// Dialer returns the dialer readers use.
func (c Config) Dialer() (*kafka.Dialer, error) {
	m, err := c.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{SASLMechanism: m, TLS: c.TLS, ClientID: c.clientID(), Timeout: 5 * time.Second, DualStack: true}, nil
}

func (c Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return "onevisit"
}

// Writer returns the production writer: acks from all in-sync replicas,
// synchronous, no topic auto-creation, key-hash partitioning. Messages
// name their topic; one writer serves every topic.
func (c Config) Writer() (*kafka.Writer, error) {
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Writer{
		Addr:                   kafka.TCP(c.Brokers...),
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		Async:                  false,
		AllowAutoTopicCreation: false,
		BatchTimeout:           c.batchTimeout(),
		BatchSize:              1000,
		BatchBytes:             WriterBatchBytes,
		MaxAttempts:            10,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        1 * time.Second,
		WriteTimeout:           10 * time.Second,
		ReadTimeout:            10 * time.Second,
		Transport:              t,
	}, nil
}

// GroupReader returns a consumer-group reader over topics that starts at
// the oldest offset when the group has none and commits only through
// CommitMessages.
func (c Config) GroupReader(group string, topics []string) (*kafka.Reader, error) {
	d, err := c.Dialer()
	if err != nil {
		return nil, err
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:                c.Brokers,
		GroupID:                group,
		GroupTopics:            topics,
		Dialer:                 d,
		StartOffset:            kafka.FirstOffset,
		CommitInterval:         0,
		MinBytes:               1,
		MaxBytes:               16 << 20,
		MaxWait:                readerMaxWait,
		ReadBatchTimeout:       50 * time.Millisecond,
		HeartbeatInterval:      1 * time.Second,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       10 * time.Second,
		JoinGroupBackoff:       500 * time.Millisecond,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		QueueCapacity:          1000,
		ReadBackoffMin:         20 * time.Millisecond,
		ReadBackoffMax:         500 * time.Millisecond,
		IsolationLevel:         kafka.ReadCommitted,
	}), nil
}

// PartitionReader reads one partition from offset without a group; views
// and the audit log use it to rebuild their state from the start.
func (c Config) PartitionReader(topic string, partition int, offset int64) (*kafka.Reader, error) {
	d, err := c.Dialer()
	if err != nil {
		return nil, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:          c.Brokers,
		Topic:            topic,
		Partition:        partition,
		Dialer:           d,
		MinBytes:         1,
		MaxBytes:         16 << 20,
		MaxWait:          readerMaxWait,
		ReadBatchTimeout: 50 * time.Millisecond,
		QueueCapacity:    1000,
		ReadBackoffMin:   20 * time.Millisecond,
		ReadBackoffMax:   500 * time.Millisecond,
		IsolationLevel:   kafka.ReadCommitted,
	})
	if err := r.SetOffset(offset); err != nil {
		r.Close()
		return nil, fmt.Errorf("partition reader %s/%d: %w", topic, partition, err)
	}
	return r, nil
}

// Client returns an admin client.
func (c Config) Client() (*kafka.Client, error) {
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: t, Timeout: 10 * time.Second}, nil
}

// readerMaxWait is how long a fetch waits at the broker for data. It
// bounds only how often an idle reader asks again: a fetch returns as
// soon as there is a message (MinBytes 1). kafka-go gives the connection
// the same deadline, so when the answer to an empty fetch comes back late
// (a busy machine) the reader takes it for a network failure, dials the
// broker again and reads its offsets anew: at 50 ms, the ~100 idle
// readers of a node with eleven datasets did that thousands of times a
// minute on a loaded machine, which cost a query run most of its CPU.
// The price: closing a reader waits for its fetch in flight, so a node
// stops up to this much later (about 0.3 s in dev mode).
const readerMaxWait = 500 * time.Millisecond
