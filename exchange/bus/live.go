package bus

import (
	"sort"
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
	allow := func(rt kafka.ResourceType, name, user string, op kafka.ACLOperationType) kafka.ACLEntry {
		return kafka.ACLEntry{ResourceType: rt, ResourceName: name, ResourcePatternType: kafka.PatternTypeLiteral, Principal: "User:" + user, Host: "*", Operation: op, PermissionType: kafka.ACLPermissionTypeAllow}
	}
	users := make([]string, 0, len(p.Responders))
	for u := range p.Responders {
		users = append(users, u)
	}
	sort.Strings(users)
	var out []kafka.ACLEntry
	topic, group := kafka.ResourceTypeTopic, kafka.ResourceTypeGroup
	for _, u := range users {
		ds := append([]string(nil), p.Responders[u]...)
		sort.Strings(ds)
		for _, d := range ds {
			out = append(out,
				allow(topic, p.Names.Request(d), u, kafka.ACLOperationTypeRead),
				allow(topic, p.Names.Request(d), u, kafka.ACLOperationTypeDescribe),
				allow(group, p.Names.Responders(d), u, kafka.ACLOperationTypeRead),
				allow(group, p.Names.Responders(d), u, kafka.ACLOperationTypeDescribe),
				allow(topic, p.Names.Reply(d), u, kafka.ACLOperationTypeWrite),
				allow(topic, p.Names.Reply(d), u, kafka.ACLOperationTypeDescribe),
			)
		}
	}
	return out
}
