package bus

import (
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestDeliveryACLs: a subscriber may read its own delivery topic in its
// own group and nothing else; only the exchange writes a delivery topic.
func TestDeliveryACLs(t *testing.T) {
	n := Names("t")
	p := Principals{Names: n, Exchange: "ex", Publishers: map[string][]string{"pub": {"death"}}, Subscribers: []string{"social", "pension", "social"}}
	byUser := map[string][]string{}
	for _, a := range ACLs(p, []string{"death"}) {
		u := strings.TrimPrefix(a.Principal, "User:")
		byUser[u] = append(byUser[u], a.ResourceType.String()+" "+a.ResourceName+" "+a.Operation.String())
	}
	for _, c := range []string{"pension", "social"} {
		want := []string{
			kafka.ResourceTypeTopic.String() + " " + n.Deliver(c) + " " + kafka.ACLOperationTypeRead.String(),
			kafka.ResourceTypeTopic.String() + " " + n.Deliver(c) + " " + kafka.ACLOperationTypeDescribe.String(),
			kafka.ResourceTypeGroup.String() + " " + n.SubscriberGroup(c) + " " + kafka.ACLOperationTypeRead.String(),
			kafka.ResourceTypeGroup.String() + " " + n.SubscriberGroup(c) + " " + kafka.ACLOperationTypeDescribe.String(),
		}
		if !slices.Equal(byUser[c], want) {
			t.Errorf("%s may:\n%s\nwant:\n%s", c, strings.Join(byUser[c], "\n"), strings.Join(want, "\n"))
		}
	}
	for u, acls := range byUser {
		for _, a := range acls {
			if strings.Contains(a, ".deliver.") && strings.HasSuffix(a, " "+kafka.ACLOperationTypeWrite.String()) && u != "ex" {
				t.Errorf("%s may write a delivery topic: %s", u, a)
			}
		}
	}
	for _, c := range []string{"pension", "social"} {
		if !slices.Contains(byUser["ex"], kafka.ResourceTypeTopic.String()+" "+n.Deliver(c)+" "+kafka.ACLOperationTypeWrite.String()) {
			t.Errorf("the exchange may not write %s", n.Deliver(c))
		}
	}
	var topics []string
	for _, tc := range Topics(n, nil, TopicSpec{Subscribers: []string{"social", "pension", "social"}}) {
		if strings.Contains(tc.Topic, ".deliver.") {
			topics = append(topics, tc.Topic)
		}
	}
	if want := []string{n.Deliver("pension"), n.Deliver("social")}; !slices.Equal(topics, want) {
		t.Errorf("delivery topics %v, want %v", topics, want)
	}
}
