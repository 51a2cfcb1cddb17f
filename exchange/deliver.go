package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
)

// Delivery ("Tell Us Once"). A Subscription of the policy (policy.
// Subscription) is a consumer's standing order for the records of one
// dataset. Nodes share the partitions of the accepted topics in one
// consumer group (bus.Names.DeliverGroup, from the oldest offset when the
// group has none) and, for every record read there that verifies exactly
// as a record entering the view does (node MAC, signature with a key its
// issuer owned at acceptance, dataset, grant, subject binding), and for
// every subscription to its dataset in the policy the node runs:
//
//  1. projects the record onto the subscription's fields (after forbids)
//     plus the subject field, as a query answer is (query.WithSubject,
//     view.Entry.Project), and signs a receipt whose jti is the delivery
//     id;
//  2. writes the delivery audit entry (durably, before anything leaves);
//  3. produces a wire.Delivery to the consumer's delivery topic
//     (bus.Names.Deliver), keyed by a per-consumer hash of the subject's
//     pseudonym (so one subject's deliveries keep their order, and the key
//     names no one);
//
// and commits the record's offset only after every subscription's
// delivery is written. So a node that stops between the write and the
// commit delivers again after a restart (at least once), and the copy
// carries the same delivery id: the id is a hash of the subscription, the
// consumer and the record's issuer, id and acceptance time, never of the
// moment of delivery. Delete records are not delivered; a record that
// does not verify is never delivered, counted in
// onevisit_delivery_refused_total and logged by position and code.
//
// A subscription approved later receives the records accepted after the
// group reached that point; nothing is replayed for it.
type deliverer struct {
	lag       *prometheus.GaugeVec
	delivered *prometheus.CounterVec
	refused   *prometheus.CounterVec

	mu      sync.Mutex
	ensured map[string]bool // delivery topics this node made (CreateTopics)
}

func newDeliverer(reg prometheus.Registerer) (*deliverer, error) {
	d := &deliverer{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "onevisit_delivery_lag",
			Help: "Records accepted for a subscriber's datasets and not yet delivered to its topic, by consumer."}, []string{"consumer"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_deliveries_total",
			Help: "Records delivered to a subscriber's delivery topic, by consumer (redeliveries included)."}, []string{"consumer"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_delivery_refused_total",
			Help: "Records read from an accepted topic for delivery that did not verify and were delivered to no one, by dataset and code."}, []string{"dataset", "code"}),
		ensured: map[string]bool{},
	}
	for _, c := range []prometheus.Collector{d.lag, d.delivered, d.refused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("exchange: %w", err)
		}
	}
	return d, nil
}

// runDelivery runs the delivery loop once the node has caught up, and
// rejoins the group (at the committed offsets) whenever it fails.
func (n *Node) runDelivery(ctx context.Context, caught <-chan struct{}, datasets []string) error {
	select {
	case <-caught:
	case <-ctx.Done():
		return nil
	}
	go n.deliveryLagLoop(ctx)
	topics := make([]string, len(datasets))
	for i, d := range datasets {
		topics[i] = n.p.Kafka.Names.Accepted(d)
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := n.deliverFrom(ctx, topics)
		if ctx.Err() != nil {
			return nil
		}
		n.p.Logger.Warn("delivery loop interrupted; rejoining the group", "err", err)
		backoff(ctx, attempt)
	}
	return nil
}

func (n *Node) deliverFrom(ctx context.Context, topics []string) error {
	r, err := n.p.Kafka.GroupReader(n.p.Kafka.Names.DeliverGroup(), topics)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		if err := n.deliverRecord(ctx, m); err != nil {
			return err // not committed: delivered again, under the same ids
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return err
		}
	}
}

// deliverRecord delivers one accepted-topic message to every subscription
// to its dataset. An error means "try again" (the audit log or the
// delivery topic could not be written); a record that does not verify is
// skipped and counted, and returns nil.
func (n *Node) deliverRecord(ctx context.Context, m kafka.Message) error {
	ds, ok := n.p.Kafka.Names.DatasetOf(m.Topic)
	if !ok || m.Value == nil {
		return nil
	}
	pol := n.policy.Load()
	subs := pol.Subscriptions(ds)
	if len(subs) == 0 && !n.correctionsPending(ds) {
		return nil
	}
	refuse := func(err error) error {
		c := refusalCode(err)
		n.deliver.refused.WithLabelValues(ds, c).Inc()
		n.p.Logger.Warn("record in accepted topic refused; delivered to no one", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "code", c)
		return nil
	}
	// The same checks as a record entering the view (acceptedItem).
	v, err := n.checkAcceptedMAC(m)
	if err != nil {
		return refuse(err)
	}
	rec, subj, subject, err := n.verifyAccepted(v, ds)
	if err != nil {
		return refuse(err)
	}
	if rec.Op == record.Delete {
		return nil
	}
	pseud, err := n.pseud.Of(ctx, subject)
	if err != nil {
		return err
	}
	entry := view.FromRecord(rec, v.at)
	if err := n.fulfilCorrections(ctx, entry, pseud); err != nil {
		return err
	}
	for _, sub := range subs {
		if err := n.deliverOne(ctx, pol, sub, entry, subj, pseud); err != nil {
			return err
		}
	}
	return nil
}

// DeliveryID is the id of the delivery of the record (issuer, id,
// acceptance time in unix milliseconds) under a subscription: the same for
// every copy of that delivery, different for every other.
func DeliveryID(subscription, consumer, issuer, recordID string, acceptedAt int64) string {
	h := sha256.New()
	for _, s := range []string{"onevisit/delivery/v1", subscription, consumer, issuer, recordID, strconv.FormatInt(acceptedAt, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "dlv-" + hex.EncodeToString(h.Sum(nil)[:16])
}

func (n *Node) deliverOne(ctx context.Context, pol *policy.Set, sub policy.Subscription, e *view.Entry, subj record.Disclosure, pseud string) error {
	released := query.WithSubject(sub.Fields, n.p.Schemas, e.Dataset)
	projected := e.Project(released)
	return n.sendDelivery(ctx, sub.Consumer, pseud,
		wire.Delivery{ID: DeliveryID(sub.Name, sub.Consumer, e.Issuer, e.ID, e.AcceptedAt), Subscription: sub.Name,
			Dataset: e.Dataset, Purpose: sub.Purpose, Record: projected},
		receipt.Claims{RecordID: e.ID, RecordIssuer: e.Issuer, Dataset: e.Dataset, Purpose: sub.Purpose, Fields: released,
			Policy: sub.Name, RecordSHA256: receipt.Digest(projected), RecordAcceptedAt: e.AcceptedAt, SubjectSD: subj.Digest},
		audit.Entry{Dataset: e.Dataset, Purpose: sub.Purpose, RecordID: e.ID, Fields: released, Policy: sub.Name,
			PolicyVersion: pol.Version()})
}

// sendDelivery signs the receipt (claims, issued to consumer, jti msg.ID)
// of msg, writes its delivery audit entry (a, completed with who, when and
// the subject's pseudonym pseud) and produces msg to consumer's delivery
// topic, keyed by a per-consumer hash of pseud.
func (n *Node) sendDelivery(ctx context.Context, consumer, pseud string, msg wire.Delivery, claims receipt.Claims, a audit.Entry) error {
	what := "delivery"
	if msg.Kind == wire.DeliveryCorrectionNotice {
		what = "notice"
	}
	claims.RegisteredClaims = jwt.RegisteredClaims{Subject: consumer, ID: msg.ID, IssuedAt: jwt.NewNumericDate(time.Now())}
	rcpt, err := receipt.Sign(ctx, n.p.ReceiptSigner, claims)
	if err != nil {
		return fmt.Errorf("exchange: %s %s: %w", what, msg.ID, err)
	}
	msg.Receipt = rcpt
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("exchange: %s %s: %w", what, msg.ID, err)
	}
	if err := n.ensureDeliveryTopic(ctx, consumer); err != nil {
		return err
	}
	a.Time, a.Kind, a.Consumer, a.Subject, a.Decision, a.RequestID, a.Node = time.Now().UTC(), audit.KindDelivery, consumer, pseud,
		audit.DecisionPermit, msg.ID, n.p.Node
	if err := n.trail.Write(ctx, a); err != nil {
		return fmt.Errorf("exchange: %s %s: audit: %w", what, msg.ID, err)
	}
	key := sha256.Sum256([]byte("onevisit/deliver-key/v1\x00" + consumer + "\x00" + pseud))
	if err := n.out.WriteMessages(ctx, kafka.Message{
		Topic: n.p.Kafka.Names.Deliver(consumer), Key: []byte(hex.EncodeToString(key[:16])), Value: body,
		Headers: []kafka.Header{{Key: wire.DeliveryIDHeader, Value: []byte(msg.ID)}},
	}); err != nil {
		return fmt.Errorf("exchange: %s %s: write: %w", what, msg.ID, err)
	}
	n.deliver.delivered.WithLabelValues(consumer).Inc()
	return nil
}

// ensureDeliveryTopic makes consumer's delivery topic once, when the node
// makes its topics (dev mode, tests); in production `onevisit kafka setup`
// made it for every subscriber of the policy it was given.
func (n *Node) ensureDeliveryTopic(ctx context.Context, consumer string) error {
	if !n.p.CreateTopics {
		return nil
	}
	spec := n.p.Topics
	spec.Subscribers = []string{consumer}
	return ensureOnce(ctx, n, "deliver/"+consumer, spec)
}

// ensureOnce makes the topics of spec (beyond the datasets') once per key.
func ensureOnce(ctx context.Context, n *Node, key string, spec bus.TopicSpec) error {
	n.deliver.mu.Lock()
	defer n.deliver.mu.Unlock()
	if n.deliver.ensured[key] {
		return nil
	}
	if err := bus.EnsureTopics(ctx, n.p.Kafka, nil, spec); err != nil {
		return err
	}
	n.deliver.ensured[key] = true
	return nil
}

// deliveryLagLoop sets onevisit_delivery_lag every 5 seconds: per
// subscriber, the messages of the accepted topics of its datasets beyond
// the delivery group's committed offsets.
func (n *Node) deliveryLagLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if err := n.measureDeliveryLag(ctx); err != nil && ctx.Err() == nil {
			n.p.Logger.Debug("delivery lag not measured", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) measureDeliveryLag(ctx context.Context) error {
	subs := n.policy.Load().Subscriptions("")
	if len(subs) == 0 {
		return nil
	}
	cl, err := n.p.Kafka.Client()
	if err != nil {
		return err
	}
	var topics []string
	seen := map[string]bool{}
	for _, s := range subs {
		if t := n.p.Kafka.Names.Accepted(s.Dataset); !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	ends, err := endOffsets(ctx, n.p.Logger, cl, topics)
	if err != nil {
		return err
	}
	req := &kafka.OffsetFetchRequest{GroupID: n.p.Kafka.Names.DeliverGroup(), Topics: map[string][]int{}}
	for t, parts := range ends {
		for _, p := range parts {
			req.Topics[t] = append(req.Topics[t], p.Partition)
		}
	}
	res, err := cl.OffsetFetch(ctx, req)
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	committed := map[string]map[int]int64{}
	for t, parts := range res.Topics {
		committed[t] = map[int]int64{}
		for _, p := range parts {
			if p.Error == nil {
				committed[t][p.Partition] = p.CommittedOffset
			}
		}
	}
	behind := map[string]int64{} // per accepted topic
	for t, parts := range ends {
		for _, p := range parts {
			c := committed[t][p.Partition]
			behind[t] += max(0, p.LastOffset-max(c, 0))
		}
	}
	per := map[string]int64{}
	counted := map[string]bool{}
	for _, s := range subs {
		t := n.p.Kafka.Names.Accepted(s.Dataset)
		if k := s.Consumer + "\x00" + t; !counted[k] {
			counted[k] = true
			per[s.Consumer] += behind[t]
		}
	}
	n.deliver.lag.Reset() // a consumer no longer subscribed drops out
	for c, v := range per {
		n.deliver.lag.WithLabelValues(c).Set(float64(v))
	}
	return nil
}

// DeliveryConsumers lists, sorted, the consumers that get a delivery
// topic: every consumer a Subscription names, and every client of role
// consumer in the registry (a correction notice may go to any consumer
// that received a record).
func DeliveryConsumers(pol *policy.Set, reg *clients.Registry) []string {
	out := pol.Subscribers()
	if reg != nil {
		for _, c := range reg.All() {
			if c.Role == "consumer" {
				out = append(out, c.ID)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
