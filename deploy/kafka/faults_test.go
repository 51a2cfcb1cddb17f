package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/retry"
	"github.com/onevisit/onevisit/exchange/wire"
)

// stream publishes signed household records with distinct record ids and subjects, through Kafka (the
// publisher's SCRAM user, the production writer: acks from all in-sync replicas) and through HTTP publish on
// one node, while it queries both nodes. It remembers which record ids were acknowledged and when, every
// error, and the request id of every query the exchange answered.
type stream struct {
	w      *world
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	acked    map[string]ack
	ackTimes []ack
	pubErrs  []pubErr
	answered []string // request ids of answered queries (200, or 404 not_found)
	queryErr map[string]int
}

type ack struct {
	at   time.Time
	path string // kafka or http
	id   string
	subj int
}

type pubErr struct {
	at         time.Time
	path       string
	err        error
	status     int    // HTTP status, 0 for Kafka
	code       string // the exchange's error code
	retryAfter string
	took       time.Duration // how long the HTTP answer (or its absence) took
}

// publishClient waits long for an answer, to measure how long the exchange takes to refuse a publish it cannot
// write durably (the stream's per-attempt context still ends each attempt after 150 s).
var publishClient = &http.Client{Timeout: 150 * time.Second}

// The two paths publish disjoint subject ranges.
const (
	kafkaSubjects = 100000
	httpSubjects  = 200000
)

func (w *world) startStream(httpNode *node, queryNodes ...*node) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{w: w, cancel: cancel, acked: map[string]ack{}, queryErr: map[string]int{}}
	kp, _ := w.kafkaPublisher("public-security", "household")
	hp := w.apiClient("public-security", httpNode)
	signer := w.publisher("public-security", "household", nil)
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.publishLoop(ctx, "kafka", kafkaSubjects, 10, s.viaKafka(kp)) }()
	go func() {
		defer s.wg.Done()
		s.publishLoop(ctx, "http", httpSubjects, 5, s.viaHTTP(signer, hp, httpNode))
	}()
	go func() { defer s.wg.Done(); s.queryLoop(ctx, queryNodes) }()
	return s
}

func (s *stream) stop() {
	s.cancel()
	s.wg.Wait()
}

// send publishes items and returns the ids it acknowledges (all or none for Kafka, per record for HTTP).
type send func(ctx context.Context, items []connectors.Item) ([]string, pubErr)

func (s *stream) viaKafka(p *connectors.Publisher) send {
	return func(ctx context.Context, items []connectors.Item) ([]string, pubErr) {
		ids, _, err := p.Publish(ctx, items)
		if err != nil {
			return nil, pubErr{err: err}
		}
		return ids, pubErr{}
	}
}

type publishAnswer struct {
	Results []wire.Result `json:"results"`
}

// viaHTTP signs items and posts them to the node's publish endpoint itself, to see the status, the error
// code and Retry-After of a refusal.
func (s *stream) viaHTTP(signer *connectors.Publisher, cl *connectors.Client, n *node) send {
	return func(ctx context.Context, items []connectors.Item) ([]string, pubErr) {
		var c capture
		signer.Sink = &c
		if _, _, err := signer.Publish(ctx, items); err != nil {
			return nil, pubErr{err: err}
		}
		tok, err := cl.Token(ctx)
		if err != nil {
			return nil, pubErr{err: err}
		}
		body, _ := json.Marshal(map[string]any{"records": c.records})
		req, err := http.NewRequestWithContext(ctx, "POST", n.url()+"/v1/datasets/household/records", bytes.NewReader(body))
		if err != nil {
			return nil, pubErr{err: err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := publishClient.Do(req)
		if err != nil {
			return nil, pubErr{err: err, took: time.Since(start)}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			_ = json.Unmarshal(b, &e)
			return nil, pubErr{err: fmt.Errorf("POST publish: %s %s", resp.Status, e.Error.Code), status: resp.StatusCode, code: e.Error.Code, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start)}
		}
		var a publishAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, pubErr{err: err}
		}
		var ids []string
		for _, r := range a.Results {
			switch r.Status {
			case wire.Accepted, wire.Duplicate:
				ids = append(ids, r.RecordID)
			default:
				return ids, pubErr{err: fmt.Errorf("record %s rejected: %s %s", r.RecordID, r.Code, r.Message), status: 200, code: r.Code}
			}
		}
		return ids, pubErr{}
	}
}

// publishLoop sends batches of n new records every 100 ms; a batch that fails is sent again (same record ids,
// signed anew) until it is acknowledged, as a real connector's spool would. It stops when ctx ends.
func (s *stream) publishLoop(ctx context.Context, path string, base, n int, send send) {
	next := 0
	for ctx.Err() == nil {
		items := make([]connectors.Item, n)
		subj := make(map[string]int, n)
		for i := range items {
			id := fmt.Sprintf("%s-%s-%06d", s.w.ns, path, next+i)
			items[i] = householdItem(id, base+next+i)
			subj[id] = base + next + i
		}
		next += n
		for ctx.Err() == nil {
			actx, cancel := context.WithTimeout(ctx, 150*time.Second)
			ids, perr := send(actx, items)
			cancel()
			now := time.Now()
			s.mu.Lock()
			for _, id := range ids {
				a := ack{at: now, path: path, id: id, subj: subj[id]}
				if _, dup := s.acked[id]; !dup {
					s.acked[id] = a
				}
				s.ackTimes = append(s.ackTimes, a)
			}
			if perr.err != nil && ctx.Err() == nil {
				perr.at, perr.path = now, path
				s.pubErrs = append(s.pubErrs, perr)
			}
			s.mu.Unlock()
			if perr.err == nil {
				break
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// queryLoop asks the nodes in turn, every 250 ms, for the household record of a subject already acknowledged.
func (s *stream) queryLoop(ctx context.Context, nodes []*node) {
	reqs := make([]*connectors.Requester, len(nodes))
	for i, n := range nodes {
		reqs[i] = &connectors.Requester{Client: s.w.apiClient("school-enrolment", n)}
	}
	for i := 0; ctx.Err() == nil; i++ {
		sleepCtx(ctx, 250*time.Millisecond)
		s.mu.Lock()
		var subj int
		if len(s.ackTimes) > 0 {
			subj = s.ackTimes[rand.IntN(len(s.ackTimes))].subj
		}
		s.mu.Unlock()
		if subj == 0 {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ans, err := reqs[i%len(reqs)].Query(qctx, connectors.Query{Dataset: "household", Subject: residentID(subj), Purpose: "school_enrolment", CaseID: fmt.Sprintf("SE-2026-%04d", i)})
		cancel()
		var api *connectors.APIError
		s.mu.Lock()
		switch {
		case err == nil:
			s.answered = append(s.answered, ans.RequestID)
		case errors.As(err, &api) && api.Code == "not_found" && api.RequestID != "":
			s.answered = append(s.answered, api.RequestID)
		case errors.As(err, &api):
			s.queryErr[fmt.Sprintf("%d %s", api.Status, api.Code)]++
		case ctx.Err() == nil:
			s.queryErr["transport"]++
		}
		s.mu.Unlock()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// snapshot returns the ids acknowledged so far and the request ids of the queries answered so far.
func (s *stream) snapshot() (ids []string, answered []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.acked {
		ids = append(ids, id)
	}
	return ids, slices.Clone(s.answered)
}

// firstAck returns the first acknowledgement on path at or after t, waiting up to timeout for one.
func (s *stream) firstAck(path string, t time.Time, timeout time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		for _, a := range s.ackTimes {
			if a.path == path && !a.at.Before(t) {
				s.mu.Unlock()
				return a.at.Sub(t), true
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			return 0, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// acksBetween counts acknowledgements on path in [from, to).
func (s *stream) acksBetween(path string, from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.ackTimes {
		if a.path == path && !a.at.Before(from) && a.at.Before(to) {
			n++
		}
	}
	return n
}

// errsBetween returns the publish errors on path in [from, to).
func (s *stream) errsBetween(path string, from, to time.Time) []pubErr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []pubErr
	for _, e := range s.pubErrs {
		if e.path == path && !e.at.Before(from) && e.at.Before(to) {
			out = append(out, e)
		}
	}
	return out
}

// maxAckGap is the longest time without an acknowledgement on path within [from, to].
func (s *stream) maxAckGap(path string, from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, gap := from, time.Duration(0)
	for _, a := range s.ackTimes {
		if a.path != path || a.at.Before(from) || a.at.After(to) {
			continue
		}
		gap = max(gap, a.at.Sub(last))
		last = a.at
	}
	return max(gap, to.Sub(last))
}

// kafkaErrClass names what a Kafka writer error says, for the report.
func kafkaErrClass(err error) string {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		err = errors.Join(werrs...)
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"NOT_ENOUGH_REPLICAS", kafka.NotEnoughReplicas},
		{"NOT_ENOUGH_REPLICAS_AFTER_APPEND", kafka.NotEnoughReplicasAfterAppend},
		{"REQUEST_TIMED_OUT", kafka.RequestTimedOut},
		{"LEADER_NOT_AVAILABLE", kafka.LeaderNotAvailable},
		{"NOT_LEADER_OR_FOLLOWER", kafka.NotLeaderForPartition},
		{"context deadline", context.DeadlineExceeded},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if retry.Retriable(err) {
		return "network (retriable)"
	}
	return "other: " + err.Error()
}

// phaseReport is what the test prints after each fault.
type phaseReport struct {
	name                 string
	acked, kafka, http   int
	lost, dupDedup, raw  int
	answered, unaudited  int
	firstKafka, firstHTP time.Duration
	drain                time.Duration
}

// check waits until every acknowledged record id is in the accepted topic, then counts lost, duplicated and
// unaudited, as the issue defines them.
func (s *stream) check(t *testing.T, name string, healed time.Time) phaseReport {
	t.Helper()
	w := s.w
	ctx := t.Context()
	r := phaseReport{name: name}
	var ok bool
	if r.firstKafka, ok = s.firstAck("kafka", healed, 120*time.Second); !ok {
		t.Errorf("%s: no Kafka publish acknowledged within 120 s of the heal", name)
	}
	if r.firstHTP, ok = s.firstAck("http", healed, 120*time.Second); !ok {
		t.Errorf("%s: no HTTP publish acknowledged within 120 s of the heal", name)
	}
	ids, answered := s.snapshot()
	counts, err := w.waitAccepted(ctx, "household", ids, 180*time.Second)
	r.drain = time.Since(healed)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		w.logLeaders(t, name)
	}
	if counts == nil {
		t.Fatalf("%s: could not read %s", name, w.names.Accepted("household"))
	}
	r.acked = len(ids)
	for _, id := range ids {
		switch n := counts[id]; {
		case n == 0:
			r.lost++
		case n > 1:
			r.raw += n - 1
		}
		if strings.Contains(id, "-kafka-") {
			r.kafka++
		} else {
			r.http++
		}
	}
	// After de-duplication by record id each id is one record by construction; count it anyway.
	dedup := map[string]bool{}
	for id, n := range counts {
		if n > 0 && dedup[id] {
			r.dupDedup++
		}
		dedup[id] = true
	}
	entries, err := w.auditEntries(ctx)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	audited := map[string]bool{}
	for _, e := range entries {
		if e.RequestID != "" {
			audited[e.RequestID] = true
		}
	}
	r.answered = len(answered)
	for _, id := range answered {
		if !audited[id] {
			r.unaudited++
		}
	}
	t.Logf("%s: acknowledged %d (kafka %d, http %d); lost %d; duplicated after dedupe %d (raw duplicates in the accepted topic %d); "+
		"queries answered %d, unaudited %d; first ack after heal: kafka %v, http %v; all acknowledged records accepted %v after heal",
		name, r.acked, r.kafka, r.http, r.lost, r.dupDedup, r.raw, r.answered, r.unaudited,
		r.firstKafka.Round(time.Millisecond), r.firstHTP.Round(time.Millisecond), r.drain.Round(time.Millisecond))
	if r.lost > 0 {
		s.explainLost(t, name, ids, counts)
	}
	if r.lost != 0 || r.dupDedup != 0 || r.unaudited != 0 {
		t.Errorf("%s: lost %d, duplicated after dedupe %d, unaudited %d: all must be 0", name, r.lost, r.dupDedup, r.unaudited)
	}
	if r.answered == 0 {
		t.Errorf("%s: no query answered during the run", name)
	}
	return r
}

// explainLost says where the lost records are: by path, whether each Kafka-path one is in the ingest topic
// (acknowledged by Kafka but never accepted by the exchange) and how far the exchange's group has committed.
func (s *stream) explainLost(t *testing.T, name string, ids []string, counts map[string]int) {
	t.Helper()
	w := s.w
	ctx := t.Context()
	byPath := map[string][]string{}
	for _, id := range ids {
		if counts[id] == 0 {
			p := "http"
			if strings.Contains(id, "-kafka-") {
				p = "kafka"
			}
			byPath[p] = append(byPath[p], id)
		}
	}
	for p, l := range byPath {
		slices.Sort(l)
		t.Logf("%s: lost via %s: %d, first %q, last %q", name, p, len(l), l[0], l[len(l)-1])
	}
	ingest, err := w.readTopic(ctx, w.names.Ingest("household"))
	if err != nil {
		t.Logf("%s: read ingest topic: %v", name, err)
		return
	}
	where := map[string]string{}
	for _, m := range ingest {
		where[string(m.Key)] = fmt.Sprintf("%d@%d", m.Partition, m.Offset)
	}
	in, perPart := 0, map[int]int{}
	for _, id := range byPath["kafka"] {
		if loc, ok := where[id]; ok {
			in++
			var p, o int
			fmt.Sscanf(loc, "%d@%d", &p, &o)
			perPart[p]++
		}
	}
	t.Logf("%s: of %d lost Kafka-path records, %d are in %s (by partition %v)", name, len(byPath["kafka"]), in, w.names.Ingest("household"), perPart)
	cl, err := w.c.adminBus(w.ns).Client()
	if err != nil {
		return
	}
	parts, err := partitionsOf(ctx, cl, w.names.Ingest("household"))
	if err != nil {
		return
	}
	var ps []int
	req := map[string][]kafka.OffsetRequest{}
	for _, p := range parts {
		ps = append(ps, p.ID)
		req[p.Topic] = append(req[p.Topic], kafka.LastOffsetOf(p.ID))
	}
	committed, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: w.names.Group(), Topics: map[string][]int{w.names.Ingest("household"): ps}})
	ends, err2 := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil || err2 != nil {
		t.Logf("%s: offsets: %v %v", name, err, err2)
		return
	}
	for _, p := range committed.Topics[w.names.Ingest("household")] {
		var end int64
		for _, e := range ends.Topics[w.names.Ingest("household")] {
			if e.Partition == p.Partition {
				end = e.LastOffset
			}
		}
		t.Logf("%s: group %s partition %d: committed %d, end %d", name, w.names.Group(), p.Partition, p.CommittedOffset, end)
	}
}

// logLeaders prints the leader and ISR of every partition of the world's topics, from the metadata of all
// topics (a request naming a topic whose partition has no leader can wait until its deadline).
func (w *world) logLeaders(t *testing.T, name string) {
	t.Helper()
	cl, err := w.c.adminBus(w.ns).Client()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Logf("%s: metadata of all topics: %v", name, err)
		return
	}
	for _, tp := range md.Topics {
		if !strings.HasPrefix(tp.Name, w.ns+".") {
			continue
		}
		for _, p := range tp.Partitions {
			t.Logf("%s: %s/%d leader %d ISR %v replicas %v err %v", name, tp.Name, p.ID, p.Leader.ID, brokerIDs(p.Isr), brokerIDs(p.Replicas), p.Error)
		}
	}
}

// waitFullISR waits until every partition of the world's topics has all replicas in sync.
func (w *world) waitFullISR(t *testing.T, timeout time.Duration) {
	t.Helper()
	cl, err := w.c.adminBus(w.ns).Client()
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, tc := range bus.Topics(w.names, w.datasets, bus.TopicSpec{}) {
		topics = append(topics, tc.Topic)
	}
	start := time.Now()
	err = eventually(t.Context(), timeout, func(ctx context.Context) error {
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			return err
		}
		for _, tp := range md.Topics {
			if tp.Error != nil {
				return tp.Error
			}
			for _, p := range tp.Partitions {
				if len(p.Isr) != len(p.Replicas) || p.Leader.ID < 0 {
					return fmt.Errorf("%s/%d: leader %d ISR %v of replicas %v", tp.Name, p.ID, p.Leader.ID, brokerIDs(p.Isr), brokerIDs(p.Replicas))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("partitions not fully in sync after %v: %v", timeout, err)
	}
	t.Logf("every partition of %s has its full ISR (%v)", w.ns, time.Since(start).Round(10*time.Millisecond))
}

// checkNodes logs the exits of nodes that the test did not cause (each is also an error at the end of the
// test) and waits until every node answers again.
func (w *world) checkNodes(t *testing.T, phase string, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		for _, e := range n.unexpectedExits() {
			t.Logf("%s: node %s exited by itself at %s (%v): %s", phase, n.name, e.at.Format("15:04:05.000"), e.err, e.last)
		}
		if err := n.waitReady(90 * time.Second); err != nil {
			t.Fatalf("%s: node %s: %v\n%s", phase, n.name, err, n.logTail(30))
		}
	}
}

// TestNothingAcceptedIsLost runs two exchange nodes in one consumer group on 3 brokers (replication 3,
// min.insync.replicas 2, acks=all) while a stream of signed records goes in through Kafka and HTTP and
// queries go to both nodes, and it (1) SIGKILLs the leader of an ingest partition and restarts it, (2)
// SIGKILLs one exchange node and restarts it, (3) stops two of the three brokers, so writes fall below
// min.insync.replicas, and brings them back. After each, every acknowledged record id is in the accepted
// topic, once after de-duplication by record id, and every answered query has its audit entry.
func TestNothingAcceptedIsLost(t *testing.T) {
	c := clusterFromEnv(t)
	if os.Getenv("ONEVISIT_KAFKA_FAULTS") != "1" {
		t.Skip("ONEVISIT_KAFKA_FAULTS is not 1: this test SIGKILLs brokers of the cluster")
	}
	if len(c.brokers) != 3 {
		t.Skipf("needs exactly 3 brokers (replication 3, min.insync.replicas 2), have %d (run.sh start 3)", len(c.brokers))
	}
	testStart := time.Now()
	// Whatever happens, leave every broker running for the tests after this one.
	t.Cleanup(func() {
		for i := range c.brokers {
			runScript(t, "restart", strconv.Itoa(i))
		}
	})
	w := newWorld(t)
	w.waitFullISR(t, 90*time.Second)
	a, b := w.startNode("exchange-1"), w.startNode("exchange-2")
	groupAssignment(t, w, 2)
	s := w.startStream(a, a, b)
	defer s.stop()
	time.Sleep(3 * time.Second) // a steady stream before the first fault
	var reports []phaseReport

	// 1. SIGKILL the leader of ingest partition 0, publish on, restart it.
	{
		admin, err := w.c.adminBus(w.ns).Client()
		if err != nil {
			t.Fatal(err)
		}
		topic := w.names.Ingest("household")
		parts, err := partitionsOf(t.Context(), admin, topic)
		if err != nil {
			t.Fatal(err)
		}
		leader := parts[0].Leader.ID
		if got := strings.TrimSpace(runScript(t, "leader", topic, "0")); got != strconv.Itoa(leader) {
			t.Fatalf("run.sh leader %s 0 = %q, kafka-go metadata says %d", topic, got, leader)
		}
		fault := time.Now()
		runScript(t, "kill", strconv.Itoa(leader))
		resumeK, okK := s.firstAck("kafka", fault.Add(time.Second), 60*time.Second)
		resumeH, okH := s.firstAck("http", fault.Add(time.Second), 60*time.Second)
		if !okK || !okH {
			t.Errorf("leader %d killed: publishing did not resume on the two survivors within 60 s (kafka %v, http %v); errors: kafka %v, http %v\n%s",
				leader, okK, okH, errSummary(s.errsBetween("kafka", fault, time.Now())), errSummary(s.errsBetween("http", fault, time.Now())), a.logTail(15))
		}
		time.Sleep(3 * time.Second)
		runScript(t, "restart", strconv.Itoa(leader))
		w.refreshCredentials(t)
		healed := time.Now()
		t.Logf("phase 1: SIGKILL of broker %d (leader of %s/0): publishing resumed on the survivors after kafka %v, http %v; longest gap without an ack while it was down: kafka %v, http %v",
			leader, topic, (resumeK + time.Second).Round(time.Millisecond), (resumeH + time.Second).Round(time.Millisecond),
			s.maxAckGap("kafka", fault, healed).Round(time.Millisecond), s.maxAckGap("http", fault, healed).Round(time.Millisecond))
		w.checkNodes(t, "phase 1", a, b)
		reports = append(reports, s.check(t, "phase 1 (leader SIGKILL + restart)", healed))
		w.waitFullISR(t, 90*time.Second)
	}

	// 2. SIGKILL exchange-2 while records flow, then restart it.
	{
		fault := time.Now()
		b.kill()
		time.Sleep(5 * time.Second)
		t.Logf("phase 2: exchange-2 SIGKILLed; %d records acknowledged while it was down", s.acksBetween("kafka", fault, time.Now())+s.acksBetween("http", fault, time.Now()))
		b.start()
		healed := time.Now()
		groupAssignment(t, w, 2)
		w.checkNodes(t, "phase 2", a, b)
		reports = append(reports, s.check(t, "phase 2 (exchange node SIGKILL + restart)", healed))
	}

	// 3. Stop two of the three brokers: below min.insync.replicas nothing may be acknowledged; both paths
	// must say so with a retryable error; then bring the brokers back and publishing resumes by itself.
	{
		down := []int{1, 2}
		fault := time.Now()
		for _, id := range down {
			runScript(t, "kill", strconv.Itoa(id))
		}
		// Hold the outage until both paths have reported a refusal (at most 160 s).
		settle := fault.Add(3 * time.Second)
		deadline := time.Now().Add(160 * time.Second)
		for time.Now().Before(deadline) {
			if len(s.errsBetween("kafka", settle, time.Now())) > 0 && len(s.errsBetween("http", settle, time.Now())) > 0 {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		healStart := time.Now()
		kErrs, hErrs := s.errsBetween("kafka", settle, healStart), s.errsBetween("http", settle, healStart)
		kAcks, hAcks := s.acksBetween("kafka", settle, healStart), s.acksBetween("http", settle, healStart)
		classes := map[string]int{}
		for _, e := range kErrs {
			classes[kafkaErrClass(e.err)]++
		}
		httpCodes := map[string]int{}
		for _, e := range hErrs {
			httpCodes[fmt.Sprintf("%d %s Retry-After=%q after %v", e.status, e.code, e.retryAfter, e.took.Round(100*time.Millisecond))]++
		}
		t.Logf("phase 3: brokers %v down for %v: acknowledged kafka %d, http %d; Kafka writer errors %v; HTTP publish answers %v",
			down, healStart.Sub(fault).Round(time.Millisecond), kAcks, hAcks, classes, httpCodes)
		if len(kErrs) > 0 {
			t.Logf("phase 3: first Kafka writer error: %v", kErrs[0].err)
		}
		if kAcks != 0 || hAcks != 0 {
			t.Errorf("phase 3: %d Kafka and %d HTTP acknowledgements with one broker of three (min.insync.replicas 2)", kAcks, hAcks)
		}
		if len(kErrs) == 0 {
			t.Errorf("phase 3: the Kafka writer reported no error below min.insync.replicas")
		}
		if !has503(hErrs) {
			t.Errorf("phase 3: HTTP publish never answered 503 unavailable with Retry-After below min.insync.replicas; got %v", httpCodes)
		}
		for _, id := range down {
			runScript(t, "restart", strconv.Itoa(id))
		}
		w.refreshCredentials(t)
		healed := time.Now()
		t.Logf("phase 3: brokers %v restarted in %v", down, healed.Sub(healStart).Round(time.Millisecond))
		w.checkNodes(t, "phase 3", a, b)
		reports = append(reports, s.check(t, "phase 3 (two of three brokers down + back)", healed))
	}

	s.stop()
	s.mu.Lock()
	t.Logf("query errors over the run (refusals while a node or the brokers were down): %v", s.queryErr)
	s.mu.Unlock()
	t.Logf("summary (test time %v):", time.Since(testStart).Round(time.Second))
	for _, r := range reports {
		t.Logf("  %-45s lost %d  dup(after dedupe) %d  raw dup %d  unaudited %d  acked %d  answered %d  first ack after heal kafka %v http %v  drained %v",
			r.name, r.lost, r.dupDedup, r.raw, r.unaudited, r.acked, r.answered,
			r.firstKafka.Round(time.Millisecond), r.firstHTP.Round(time.Millisecond), r.drain.Round(time.Millisecond))
	}
}

// errSummary counts errors by message.
func errSummary(errs []pubErr) map[string]int {
	out := map[string]int{}
	for _, e := range errs {
		msg := e.err.Error()
		if len(msg) > 160 {
			msg = msg[:160] + "..."
		}
		out[msg]++
	}
	return out
}

// has503 reports whether one of errs is the exchange's retryable refusal: 503, code unavailable, Retry-After.
func has503(errs []pubErr) bool {
	for _, e := range errs {
		if e.status == http.StatusServiceUnavailable && e.code == "unavailable" && e.retryAfter != "" {
			return true
		}
	}
	return false
}
