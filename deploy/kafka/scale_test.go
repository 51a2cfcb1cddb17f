package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/record"
)

// groupAssignment waits until the exchange's consumer group is stable with exactly want members and returns
// each member's ingest partitions ("topic/partition"), checking that no partition has two owners and that
// together they own every ingest partition.
func groupAssignment(t *testing.T, w *world, want int) map[string][]string {
	t.Helper()
	cl, err := w.c.adminBus(w.ns).Client()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, d := range w.datasets {
		parts, err := partitionsOf(t.Context(), cl, w.names.Ingest(d))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			all = append(all, fmt.Sprintf("%s/%d", p.Topic, p.ID))
		}
	}
	slices.Sort(all)
	var members map[string][]string
	err = eventually(t.Context(), 60*time.Second, func(ctx context.Context) error {
		res, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{w.names.Group()}})
		if err != nil {
			return err
		}
		if len(res.Groups) != 1 {
			return fmt.Errorf("describe groups: %d groups", len(res.Groups))
		}
		g := res.Groups[0]
		if g.Error != nil {
			return g.Error
		}
		if g.GroupState != "Stable" || len(g.Members) != want {
			return fmt.Errorf("group %s is %s with %d members, want Stable with %d", g.GroupID, g.GroupState, len(g.Members), want)
		}
		members = map[string][]string{}
		owner := map[string]string{}
		for _, m := range g.Members {
			for _, tp := range m.MemberAssignments.Topics {
				for _, p := range tp.Partitions {
					k := fmt.Sprintf("%s/%d", tp.Topic, p)
					if o, dup := owner[k]; dup {
						return fmt.Errorf("partition %s assigned to %s and %s", k, o, m.ClientID)
					}
					owner[k] = m.ClientID
					members[m.ClientID] = append(members[m.ClientID], k)
				}
			}
		}
		if got := slices.Sorted(maps.Keys(owner)); !slices.Equal(got, all) {
			return fmt.Errorf("assigned partitions %v, want every ingest partition %v", got, all)
		}
		if len(members) != want {
			return fmt.Errorf("%d of %d members own partitions", len(members), want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("consumer group %s: %v", w.names.Group(), err)
	}
	for m, ps := range members {
		slices.Sort(ps)
		t.Logf("group member %s owns %s", m, strings.Join(ps, " "))
	}
	return members
}

// queryAll asks every node for subject's household record as school-enrolment and checks that all answer
// the same verified record: the same record id and the same projected record string.
func queryAll(t *testing.T, w *world, nodes []*node, subject, wantID string) {
	t.Helper()
	var first *connectors.Answer
	for _, n := range nodes {
		q := &connectors.Requester{Client: w.apiClient("school-enrolment", n)}
		var ans *connectors.Answer
		// A node's view follows the accepted topic; poll until it has the record.
		err := eventually(t.Context(), 30*time.Second, func(ctx context.Context) error {
			var err error
			ans, err = q.Query(ctx, connectors.Query{Dataset: "household", Subject: subject, Purpose: "school_enrolment", CaseID: "SE-2026-9101"})
			return err
		})
		if err != nil {
			t.Fatalf("query %s on %s: %v", subject, n.name, err)
		}
		if ans.Record.ID != wantID {
			t.Errorf("%s answered record %s, want %s", n.name, ans.Record.ID, wantID)
		}
		if first == nil {
			first = ans
			continue
		}
		if ans.Record.ID != first.Record.ID || ans.Raw != first.Raw {
			t.Errorf("%s answered record %s (%d bytes), %s answered %s (%d bytes): want the same projected record",
				n.name, ans.Record.ID, len(ans.Raw), nodes[0].name, first.Record.ID, len(first.Raw))
		}
	}
}

// TestNodesShareIngestPartitions runs two, then three exchange nodes in one consumer group: the group's
// members own disjoint ingest partitions that together cover them all, records published through Kafka are
// accepted by more than one node, and every node answers a query with the same record.
func TestNodesShareIngestPartitions(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	nodes := []*node{w.startNode("exchange-1"), w.startNode("exchange-2")}
	p, _ := w.kafkaPublisher("public-security", "household")

	for round, n := range []int{2, 3} {
		if n == 3 {
			nodes = append(nodes, w.startNode("exchange-3"))
		}
		members := groupAssignment(t, w, n)
		if got := slices.Sorted(maps.Keys(members)); !slices.Equal(got, []string{"exchange-1", "exchange-2", "exchange-3"}[:n]) {
			t.Fatalf("group members (client ids) %v, want the %d nodes", got, n)
		}

		var items []connectors.Item
		base := 9000 + 100*round
		for i := range 30 {
			items = append(items, householdItem(fmt.Sprintf("%s-scale%d-%02d", w.ns, n, i), base+i))
		}
		ids, _, err := p.Publish(ctx, items)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.waitAccepted(ctx, "household", ids, 60*time.Second); err != nil {
			t.Fatal(err)
		}
		msgs, err := w.readTopic(ctx, w.names.Accepted("household"))
		if err != nil {
			t.Fatal(err)
		}
		byNode := map[string]int{}
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		for _, m := range msgs {
			if rec, err := record.Parse(string(m.Value)); err == nil && want[rec.ID] {
				byNode[header(m, "onevisit-node")]++
			}
		}
		t.Logf("%d nodes: the %d records were accepted by %v", n, len(ids), byNode)
		if len(byNode) < 2 {
			t.Errorf("%d nodes: every record was accepted by one node %v; want the partitions' owners to share them", n, byNode)
		}
		for _, i := range []int{0, 13, 29} {
			queryAll(t, w, nodes, residentID(base+i), ids[i])
		}
	}
}
