package dev_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// The Tell-Us-Once example (policy/examples/death.yaml): what each
// subscriber is sent of a death record, beyond resident_id, which binds
// every delivery to its subject.
var deathSubscribers = map[string][]string{
	"pension-service":          {"certificate_no", "death_date", "name", "resident_id"},
	"social-insurance-service": {"death_date", "name", "resident_id"},
	"household-deregistration": {"birth_date", "certificate_no", "death_date", "death_place", "gender", "name", "registration_office", "resident_id"},
}

// collector runs a consumer's Subscriber for the rest of the test and
// keeps what it hands over and what it refuses.
type collector struct {
	mu        sync.Mutex
	delivered []connectors.Delivery
	refused   []error
}

func (c *collector) get() ([]connectors.Delivery, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.delivered), slices.Clone(c.refused)
}

func subscribe(t *testing.T, env *dev.Env, consumer string) *collector {
	t.Helper()
	s, err := env.Subscriber(consumer)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	s.OnRefused = func(_ int, _ int64, err error) {
		c.mu.Lock()
		c.refused = append(c.refused, err)
		c.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(_ context.Context, d connectors.Delivery) error {
			c.mu.Lock()
			c.delivered = append(c.delivered, d)
			c.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscriber %s: %v", consumer, err)
		}
	})
	return c
}

// deathRow is the sample death record's fields, with the subject and
// record id changed when given.
func deathRow(t *testing.T, env *dev.Env, subject string) map[string]any {
	t.Helper()
	row := maps.Clone(sampleRows(t, env, "death")[0].Fields)
	if subject != "" {
		row["resident_id"] = subject
	}
	return row
}

// publishDeath publishes one death record through the ingest topic, as
// civil affairs does, and returns its record id.
func publishDeath(t *testing.T, env *dev.Env, fields map[string]any) string {
	t.Helper()
	p, done, err := env.Publisher("civil-affairs", "death", "kafka")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ids, _, err := p.Publish(context.Background(), []connectors.Item{{Fields: fields}})
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

// wantDelivery checks a delivery of record id to consumer field by field
// against the published fields and the subscription.
func wantDelivery(t *testing.T, consumer string, d connectors.Delivery, id string, published map[string]any) {
	t.Helper()
	fields := deathSubscribers[consumer]
	want := map[string]any{}
	for _, f := range fields {
		want[f] = published[f]
	}
	if !reflect.DeepEqual(d.Data, want) {
		t.Errorf("%s got %v, want exactly %v", consumer, d.Data, want)
	}
	if !slices.Equal(d.Receipt.Fields, fields) || d.Receipt.Subject != consumer || d.Receipt.ID != d.ID ||
		d.Record.ID != id || d.Record.Dataset != "death" || d.Subject != published["resident_id"] ||
		d.Subscription != consumer+"-death" || d.Purpose != map[string]string{
		"pension-service": "pension_termination", "social-insurance-service": "social_insurance_termination",
		"household-deregistration": "household_deregistration"}[consumer] {
		t.Errorf("%s: delivery %s of record %s (subject %s) for %s under %s, receipt %+v", consumer, d.ID, d.Record.ID, d.Subject, d.Purpose, d.Subscription, d.Receipt)
	}
}

// deliveryTopics lists the delivery topics of the environment's
// namespace that exist on the cluster.
func deliveryTopics(t *testing.T, env *dev.Env) []string {
	t.Helper()
	cl, err := env.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	prefix := env.Kafka.Names.Deliver("")
	for _, tp := range meta.Topics {
		if strings.HasPrefix(tp.Name, prefix) {
			out = append(out, tp.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestTellUsOnce: one death record, published once by civil affairs,
// reaches the pension, social-insurance and household-deregistration
// services, each with exactly the fields its subscription releases (none
// the cause of death), each verifying as a query answer does, each with
// its audit entry; no other consumer's delivery topic has a message.
func TestTellUsOnce(t *testing.T) {
	env := startDev(t)
	got := map[string]*collector{}
	for c := range deathSubscribers {
		got[c] = subscribe(t, env, c)
	}
	published := deathRow(t, env, "")
	start := time.Now()
	id := publishDeath(t, env, published)
	for c, col := range got {
		waitFor(t, c+" gets the death record", func() bool { d, _ := col.get(); return len(d) >= 1 })
	}
	t.Logf("published to the ingest topic and verified by all three subscribers in %v", time.Since(start).Round(time.Millisecond))
	ids := map[string]bool{}
	for c, col := range got {
		d, refused := col.get()
		if len(d) != 1 || len(refused) != 0 {
			t.Fatalf("%s: %d deliveries, %d refused, want 1 and 0", c, len(d), len(refused))
		}
		wantDelivery(t, c, d[0], id, published)
		ids[d[0].ID] = true
	}
	if len(ids) != 3 {
		t.Errorf("delivery ids %v, want three distinct", ids)
	}

	// One audit entry per delivery: the consumer, the fields released,
	// the subscription, and the delivery id as request id.
	pseud := pseudonymOf(t, env, samples.DeceasedResidentID)
	var entries []audit.Entry
	waitFor(t, "the three delivery audit entries", func() bool {
		entries = entries[:0]
		for _, ie := range env.Node.AuditLog().BySubject(pseud) {
			if ie.Entry.Kind == audit.KindDelivery {
				entries = append(entries, ie.Entry)
			}
		}
		return len(entries) >= 3
	})
	for _, e := range entries {
		d, _ := got[e.Consumer].get()
		if len(d) != 1 || e.RequestID != d[0].ID || e.RecordID != id || e.Dataset != "death" || e.Decision != audit.DecisionPermit ||
			e.Policy != e.Consumer+"-death" || !slices.Equal(e.Fields, deathSubscribers[e.Consumer]) || e.Purpose != d[0].Purpose {
			t.Errorf("audit entry %+v does not match the delivery to %s", e, e.Consumer)
		}
	}
	if len(entries) != 3 {
		t.Errorf("%d delivery audit entries, want 3", len(entries))
	}

	// Lag per subscriber, labelled by consumer only: nothing left to
	// deliver once the delivery group has committed.
	waitFor(t, "the delivery lag of every subscriber measured at 0", func() bool {
		lags := deliveryLags(t, env)
		for c := range deathSubscribers {
			if v, ok := lags[c]; !ok || v != 0 {
				return false
			}
		}
		return len(lags) == len(deathSubscribers)
	})

	// Nowhere else: every other consumer's delivery topic is empty, and
	// each subscriber's holds only its own deliveries.
	topics := deliveryTopics(t, env)
	for c := range deathSubscribers {
		if !slices.Contains(topics, env.Kafka.Names.Deliver(c)) {
			t.Errorf("no delivery topic for %s among %v", c, topics)
		}
	}
	for _, topic := range topics {
		if _, subscribed := deathSubscribers[strings.TrimPrefix(topic, env.Kafka.Names.Deliver(""))]; !subscribed {
			if msgs := readAll(t, env, topic); len(msgs) != 0 {
				t.Errorf("%s holds %d messages, want none", topic, len(msgs))
			}
		}
	}
	for c := range deathSubscribers {
		for _, m := range readAll(t, env, env.Kafka.Names.Deliver(c)) {
			var d wire.Delivery
			clear := string(m.Key) + string(m.Value)
			for _, h := range m.Headers {
				clear += h.Key + string(h.Value)
			}
			if err := json.Unmarshal(m.Value, &d); err != nil || d.Subscription != c+"-death" || strings.Contains(clear, samples.DeceasedResidentID) {
				t.Errorf("%s's topic holds a delivery of %q (key %q), or the resident id in clear", c, d.Subscription, m.Key)
			}
		}
	}
}

// TestAttackDeliveryForgedRecords: an outsider with a broker credential
// produces straight to accepted.death (a record signed with civil
// affairs' key for a living resident, without a node MAC, and junk):
// neither is delivered to anyone. It then produces to a subscriber's
// delivery topic (another subscriber's genuine delivery, and a genuine
// delivery with its data changed): the Subscriber refuses both and hands
// over only the genuine delivery.
func TestAttackDeliveryForgedRecords(t *testing.T) {
	env := startDev(t)
	got := map[string]*collector{}
	for c := range deathSubscribers {
		got[c] = subscribe(t, env, c)
	}
	refused := func() float64 {
		return recCounter(t, env, "onevisit_delivery_refused_total", map[string]string{"dataset": "death", "code": "no_node_mac"})
	}
	alive := deathRow(t, env, samples.GuardianResidentID)
	forged := signWith(t, env, "civil-affairs", "civil-affairs", "death", alive, "forged-death-1")
	recProduce(t, env,
		kafka.Message{Topic: env.Kafka.Names.Accepted("death"), Key: []byte("k1"), Value: []byte(forged), Headers: recHeaders("forged-death-1")},
		kafka.Message{Topic: env.Kafka.Names.Accepted("death"), Key: []byte("k2"), Value: []byte("not a record"), Headers: recHeaders("junk-1")},
	)
	waitFor(t, "both forged messages read and refused", func() bool { return refused() >= 2 })

	published := deathRow(t, env, "")
	id := publishDeath(t, env, published)
	for c, col := range got {
		waitFor(t, c+" gets the genuine record", func() bool { d, _ := col.get(); return len(d) >= 1 })
	}
	for c, col := range got {
		d, r := col.get()
		if len(d) != 1 || len(r) != 0 {
			t.Fatalf("%s: %d deliveries, %d refused, want only the genuine one", c, len(d), len(r))
		}
		wantDelivery(t, c, d[0], id, published)
	}

	social := readAll(t, env, env.Kafka.Names.Deliver("social-insurance-service"))
	pension := readAll(t, env, env.Kafka.Names.Deliver("pension-service"))
	var changed wire.Delivery
	if err := json.Unmarshal(pension[0].Value, &changed); err != nil {
		t.Fatal(err)
	}
	// The genuine delivery with its death_date disclosure replaced by
	// one the outsider made up (a new salt, another date).
	disclosure, _ := json.Marshal([]any{"forgedsalt", "death_date", "2026-01-01"})
	parts := strings.Split(changed.Record, "~")
	for i, p := range parts[1:] {
		if b, err := base64.RawURLEncoding.DecodeString(p); err == nil && strings.Contains(string(b), `"death_date"`) {
			parts[i+1] = base64.RawURLEncoding.EncodeToString(disclosure)
		}
	}
	changed.Record = strings.Join(parts, "~")
	changedValue, _ := json.Marshal(changed)
	recProduce(t, env,
		kafka.Message{Topic: env.Kafka.Names.Deliver("pension-service"), Value: social[0].Value},
		kafka.Message{Topic: env.Kafka.Names.Deliver("pension-service"), Value: changedValue},
	)
	col := got["pension-service"]
	waitFor(t, "the pension service refuses both", func() bool { _, r := col.get(); return len(r) >= 2 })
	d, r := col.get()
	if len(d) != 1 || len(r) != 2 {
		t.Fatalf("pension service: %d deliveries, %d refused, want 1 and 2", len(d), len(r))
	}
	for _, err := range r {
		if !errors.Is(err, connectors.ErrUnverified) {
			t.Errorf("refusal %v does not wrap ErrUnverified", err)
		}
	}
}

// TestDeliveryRestart: a node restarted on the same cluster resumes from
// the delivery group's committed offsets: the record delivered before
// the restart is not delivered again, and no record is ever delivered
// under two different ids; a record accepted after the restart is
// delivered once.
func TestDeliveryRestart(t *testing.T) {
	dir := t.TempDir()
	o := dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", DataDir: dir, SkipSamples: true}
	if kc, spec, ok := testKafka(t, fmt.Sprintf("t%d-deliveryrestart", time.Now().UnixNano())); ok {
		o.Kafka, o.Topics = kc, spec
	}
	start := func() *dev.Env {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		env, err := dev.Start(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(env.Close)
		return env
	}
	first := start()
	before := publishDeath(t, first, deathRow(t, first, ""))
	// Delivered, and the delivery group's offset committed past it.
	waitFor(t, "the first record delivered and committed", func() bool {
		return recCounter(t, first, "onevisit_deliveries_total", nil) >= 3 && committedAll(t, first)
	})
	first.Close()

	second := start()
	other := deathRow(t, second, "330105197511280266") // 黄敏, of the household register
	other["name"], other["gender"], other["birth_date"] = "黄敏", "female", "1975-11-28"
	after := publishDeath(t, second, other)
	byRecord := func(env *dev.Env, c string) map[string][]string {
		out := map[string][]string{}
		for _, m := range readAll(t, env, env.Kafka.Names.Deliver(c)) {
			var d wire.Delivery
			if err := json.Unmarshal(m.Value, &d); err != nil {
				t.Fatal(err)
			}
			id := recordIDOf(t, d.Record)
			out[id] = append(out[id], d.ID)
		}
		return out
	}
	for c := range deathSubscribers {
		waitFor(t, c+" gets the record published after the restart", func() bool { return len(byRecord(second, c)[after]) >= 1 })
	}
	// Every delivery the second node will make is written once the group
	// committed the new record; only then is "no second copy" a fact.
	waitFor(t, "the record after the restart committed", func() bool { return committedAll(t, second) })
	for c := range deathSubscribers {
		got := byRecord(second, c)
		if len(got) != 2 || len(got[before]) != 1 || len(got[after]) != 1 {
			t.Errorf("%s's topic holds deliveries %v, want one of %s and one of %s", c, got, before, after)
		}
	}
}

// committedAll reports whether the delivery group has committed every
// offset of accepted.death.
func committedAll(t *testing.T, env *dev.Env) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := env.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	topic := env.Kafka.Names.Accepted("death")
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		return false
	}
	var parts []int
	req := map[string][]kafka.OffsetRequest{}
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		req[topic] = append(req[topic], kafka.LastOffsetOf(p.ID))
	}
	ends, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return false
	}
	res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: env.Kafka.Names.DeliverGroup(), Topics: map[string][]int{topic: parts}})
	if err != nil || res.Error != nil {
		return false
	}
	committed := map[int]int64{}
	for _, p := range res.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, po := range ends.Topics[topic] {
		if po.LastOffset > 0 && committed[po.Partition] < po.LastOffset {
			return false
		}
	}
	return true
}

func recordIDOf(t *testing.T, raw string) string {
	t.Helper()
	r, err := record.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// examplesEditing returns the example policy set with death.yaml's text
// edited, as Set.YAML (what a control event carries).
func examplesEditing(t *testing.T, edit func(string) string) string {
	t.Helper()
	set := editedExamples(t, nil, "death.yaml", func(s string) string {
		edited := edit(s)
		if edited == s {
			t.Fatal("the edit changed nothing in death.yaml")
		}
		return edited
	})
	return string(set.YAML())
}

// TestSubscriptionGoverned: a subscription is policy. Sending social
// insurance one more field is a widening: one officer cannot push it
// through alone (needs_approval), and until a second officer approves the
// proposal deliveries keep the old fields; after, they carry the new one.
// Dropping the subscription narrows: one officer applies it at once, and
// social insurance is sent nothing more while the pension service still is.
func TestSubscriptionGoverned(t *testing.T) {
	env := startDev(t)
	seeded(t, env.BaseURL)
	social, pension := subscribe(t, env, "social-insurance-service"), subscribe(t, env, "pension-service")
	const oldFields = "fields: [resident_id, name, death_date]\n"
	wider := examplesEditing(t, func(s string) string {
		return strings.Replace(s, oldFields, "fields: [resident_id, name, death_date, certificate_no]\n", 1)
	})
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionNarrow, Proposal: "si-cert-now", Base: 1, Reason: "pushing it alone", Policy: wider}, "needs_approval")
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionPropose, Proposal: "si-cert", Base: 1, Reason: "social insurance checks the certificate (request 2026-40)", Policy: wider}, "")

	deliveredTo := func(c *collector, n int) []connectors.Delivery {
		t.Helper()
		waitFor(t, fmt.Sprintf("delivery %d", n), func() bool { d, _ := c.get(); return len(d) >= n })
		d, _ := c.get()
		return d
	}
	first := deathRow(t, env, "")
	publishDeath(t, env, first)
	if d := deliveredTo(social, 1); !slices.Equal(slices.Sorted(maps.Keys(d[0].Data)), []string{"death_date", "name", "resident_id"}) {
		t.Fatalf("before approval social insurance got %v", slices.Sorted(maps.Keys(d[0].Data)))
	}

	act(t, env, env.BaseURL, reviewer, control.Event{Action: control.ActionApprove, Proposal: "si-cert", Base: 1, Reason: "reviewed request 2026-40"}, "")
	second := deathRow(t, env, "330105197511280266")
	second["name"], second["gender"], second["birth_date"] = "黄敏", "female", "1975-11-28"
	publishDeath(t, env, second)
	if d := deliveredTo(social, 2); !slices.Equal(slices.Sorted(maps.Keys(d[1].Data)), []string{"certificate_no", "death_date", "name", "resident_id"}) ||
		d[1].Subject != "330105197511280266" {
		t.Fatalf("after approval social insurance got %v about %s", slices.Sorted(maps.Keys(d[1].Data)), d[1].Subject)
	}

	dropped := examplesEditing(t, func(s string) string {
		i := strings.Index(s, "kind: Subscription\nmetadata:\n  name: social-insurance-service-death")
		j := strings.Index(s[i:], "---\n")
		return s[:i] + s[i+j+len("---\n"):]
	})
	act(t, env, env.BaseURL, officer, control.Event{Action: control.ActionNarrow, Proposal: "si-off", Base: 2, Reason: "social insurance reads deaths from the register now", Policy: dropped}, "")
	third := deathRow(t, env, "330102198309090712")
	third["name"], third["birth_date"] = "刘洋", "1983-09-09"
	publishDeath(t, env, third)
	deliveredTo(pension, 3)
	// The marker: the delivery group commits the third record only after
	// writing every subscription's delivery of it, so by then a delivery
	// to social insurance would be in its topic (its subscriber may not
	// have read it yet).
	waitFor(t, "the third record committed by the delivery group", func() bool { return committedAll(t, env) })
	if n := len(readAll(t, env, env.Kafka.Names.Deliver("social-insurance-service"))); n != 2 {
		t.Errorf("after the narrowing social insurance's topic holds %d deliveries, want still 2", n)
	}
	if d, _ := social.get(); len(d) != 2 {
		t.Errorf("after the narrowing social insurance got %d deliveries, want still 2", len(d))
	}
}

// deliveryLags reads onevisit_delivery_lag from the node's registry, by
// consumer; a series with any other label set fails the test.
func deliveryLags(t *testing.T, env *dev.Env) map[string]float64 {
	t.Helper()
	mfs, err := env.Node.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "onevisit_delivery_lag" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "consumer" {
				t.Fatalf("onevisit_delivery_lag has labels %v, want consumer only", m.GetLabel())
			}
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}
