package bus

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Request is where the exchange forwards live queries of dataset to the
// department's responder (see exchange/live). Only the exchange writes it;
// only the dataset's live publisher reads it.
func (n Names) Request(dataset string) string { return n.ns() + ".request." + dataset }

// Reply is where the department's responder answers live queries of
// dataset with records it signs at that moment. Only the dataset's live
// publisher writes it; only the exchange reads it.
func (n Names) Reply(dataset string) string { return n.ns() + ".reply." + dataset }

// Responders is the consumer group a dataset's responders share its
// request partitions in.
func (n Names) Responders(dataset string) string { return n.ns() + "-respond-" + dataset }

// LiveRetention is retention.ms of the request and reply topics: a
// request is worth nothing after its deadline (seconds), so neither the
// subjects asked about nor the answers are kept longer than an hour.
var LiveRetention = time.Hour

func liveRetention() string { return strconv.FormatInt(LiveRetention.Milliseconds(), 10) }

// responderACLs are the bindings of Principals.Responders: each live
// publisher reads its datasets' request topics, in their responder
// group, and writes their reply topics.
func responderACLs(p Principals) []kafka.ACLEntry {
	var out []kafka.ACLEntry
	lit, topic, group := kafka.PatternTypeLiteral, kafka.ResourceTypeTopic, kafka.ResourceTypeGroup
	for _, u := range slices.Sorted(maps.Keys(p.Responders)) {
		for _, d := range slices.Sorted(slices.Values(p.Responders[u])) {
			out = append(out,
				allow(topic, p.Names.Request(d), lit, u, kafka.ACLOperationTypeRead),
				allow(topic, p.Names.Request(d), lit, u, kafka.ACLOperationTypeDescribe),
				allow(group, p.Names.Responders(d), lit, u, kafka.ACLOperationTypeRead),
				allow(group, p.Names.Responders(d), lit, u, kafka.ACLOperationTypeDescribe),
				allow(topic, p.Names.Reply(d), lit, u, kafka.ACLOperationTypeWrite),
				allow(topic, p.Names.Reply(d), lit, u, kafka.ACLOperationTypeDescribe),
			)
		}
	}
	return out
}
