package bus

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"
)

// StrimziAPIVersion is the API of the Strimzi resources Strimzi returns:
// Strimzi 1.x serves kafka.strimzi.io/v1 only.
const StrimziAPIVersion = "kafka.strimzi.io/v1"

// StrimziCluster says how the Strimzi Kafka cluster itself is laid out;
// the topics, users and ACLs come from the same model as `kafka setup`
// (Topics, ACLs), so the two never drift.
type StrimziCluster struct {
	Name         string // the Kafka resource's name; default "onevisit"
	Replicas     int    // brokers (each also a KRaft controller); default 3
	Storage      string // persistent volume size per broker; default 100Gi
	StorageClass string // "" for the cluster's default
	KafkaVersion string // "" lets the Strimzi operator pick its default
}

// StrimziResource is one Kubernetes object: apiVersion, kind, metadata,
// spec, in that order when marshalled.
type StrimziResource struct {
	APIVersion string         `yaml:"apiVersion" json:"apiVersion"`
	Kind       string         `yaml:"kind" json:"kind"`
	Metadata   StrimziMeta    `yaml:"metadata" json:"metadata"`
	Spec       map[string]any `yaml:"spec" json:"spec"`
}

// StrimziMeta is a resource's metadata.
type StrimziMeta struct {
	Name   string            `yaml:"name" json:"name"`
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// StrimziManifests returns the Kafka, KafkaNodePool, KafkaTopic and
// KafkaUser resources for the exchange's topics (Topics), its users (the
// exchange, each publisher and each subscriber) and their ACLs (ACLs of p). The Kafka
// cluster has one TLS listener with SCRAM-SHA-512 on 9093 and simple
// authorization: nothing is allowed that a KafkaUser does not list. The
// User Operator keeps each user's password in a Secret named after it.
func StrimziManifests(c StrimziCluster, p Principals, datasets []string, spec TopicSpec) ([]StrimziResource, error) {
	if c.Name == "" {
		c.Name = "onevisit"
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.Storage == "" {
		c.Storage = "100Gi"
	}
	if !k8sName.MatchString(c.Name) {
		return nil, fmt.Errorf("strimzi: cluster name %q is not a Kubernetes name (lowercase letters, digits, - and .)", c.Name)
	}
	topics := Topics(p.Names, datasets, spec)
	label := map[string]string{"strimzi.io/cluster": c.Name}

	minISR := "1"
	for _, e := range topics[0].ConfigEntries {
		if e.ConfigName == "min.insync.replicas" {
			minISR = e.ConfigValue
		}
	}
	kafkaSpec := map[string]any{
		"listeners": []any{map[string]any{
			"name": "scram", "port": 9093, "type": "internal", "tls": true,
			"authentication": map[string]any{"type": "scram-sha-512"},
		}},
		"authorization": map[string]any{"type": "simple"},
		"config": map[string]any{
			"auto.create.topics.enable":      false,
			"default.replication.factor":     topics[0].ReplicationFactor,
			"min.insync.replicas":            atoi(minISR),
			"unclean.leader.election.enable": false,
			"message.max.bytes":              TopicMaxMessageBytes,
		},
	}
	if c.KafkaVersion != "" {
		kafkaSpec["version"] = c.KafkaVersion
	}
	volume := map[string]any{"id": 0, "type": "persistent-claim", "size": c.Storage, "deleteClaim": false, "kraftMetadata": "shared"}
	if c.StorageClass != "" {
		volume["storageClass"] = c.StorageClass
	}
	out := []StrimziResource{
		{APIVersion: StrimziAPIVersion, Kind: "Kafka", Metadata: StrimziMeta{Name: c.Name}, Spec: map[string]any{
			"kafka":          kafkaSpec,
			"entityOperator": map[string]any{"topicOperator": map[string]any{}, "userOperator": map[string]any{}},
		}},
		{APIVersion: StrimziAPIVersion, Kind: "KafkaNodePool", Metadata: StrimziMeta{Name: "brokers", Labels: label}, Spec: map[string]any{
			"replicas": c.Replicas,
			"roles":    []any{"controller", "broker"},
			"storage":  map[string]any{"type": "jbod", "volumes": []any{volume}},
		}},
	}
	// A topic's resource name is the topic's with _ (dataset names such as
	// social_insurance) as -, which Kubernetes names cannot hold;
	// spec.topicName keeps the topic's own name.
	resNames := map[string]string{}
	for _, t := range topics {
		cfg := map[string]any{}
		for _, e := range t.ConfigEntries {
			cfg[e.ConfigName] = e.ConfigValue
		}
		name := strings.ReplaceAll(t.Topic, "_", "-")
		if prev, dup := resNames[name]; dup || !k8sName.MatchString(name) {
			return nil, fmt.Errorf("strimzi: topic %q has no Kubernetes name of its own (%q, also %q)", t.Topic, name, prev)
		}
		resNames[name] = t.Topic
		out = append(out, StrimziResource{APIVersion: StrimziAPIVersion, Kind: "KafkaTopic",
			Metadata: StrimziMeta{Name: name, Labels: label},
			Spec:     map[string]any{"topicName": t.Topic, "partitions": t.NumPartitions, "replicas": t.ReplicationFactor, "config": cfg}})
	}
	// One KafkaUser per principal, its rules in the order ACLs lists them,
	// the operations on one resource in one rule.
	type key struct{ user, rtype, name string }
	rules := map[key][]string{}
	var order []key
	for _, a := range ACLs(p, datasets) {
		if a.PermissionType != kafka.ACLPermissionTypeAllow || a.ResourcePatternType != kafka.PatternTypeLiteral || a.Host != "*" {
			return nil, fmt.Errorf("strimzi: ACL %+v has no KafkaUser form here", a)
		}
		rt, ok := resourceTypes[a.ResourceType]
		op, ok2 := operations[a.Operation]
		if !ok || !ok2 {
			return nil, fmt.Errorf("strimzi: ACL %+v has no KafkaUser form here", a)
		}
		k := key{strings.TrimPrefix(a.Principal, "User:"), rt, a.ResourceName}
		if rules[k] == nil {
			order = append(order, k)
		}
		rules[k] = append(rules[k], op)
	}
	names := p.Users() // the exchange first, then the others in order
	for _, u := range names {
		if !k8sName.MatchString(u) || len(u) > 64 {
			return nil, fmt.Errorf("strimzi: user %q is not a Kubernetes name: a KafkaUser's name is its SCRAM user name", u)
		}
	}
	for _, u := range names {
		var acls []any
		for _, k := range order {
			if k.user == u {
				acls = append(acls, map[string]any{
					"type":       "allow",
					"resource":   map[string]any{"type": k.rtype, "name": k.name, "patternType": "literal"},
					"host":       "*",
					"operations": toAny(rules[k]),
				})
			}
		}
		out = append(out, StrimziResource{APIVersion: StrimziAPIVersion, Kind: "KafkaUser", Metadata: StrimziMeta{Name: u, Labels: label}, Spec: map[string]any{
			"authentication": map[string]any{"type": "scram-sha-512"},
			"authorization":  map[string]any{"type": "simple", "acls": acls},
		}})
	}
	return out, nil
}

// The KafkaUser names of the ACL parts ACLs uses.
var (
	resourceTypes = map[kafka.ResourceType]string{kafka.ResourceTypeTopic: "topic", kafka.ResourceTypeGroup: "group"}
	operations    = map[kafka.ACLOperationType]string{kafka.ACLOperationTypeRead: "Read", kafka.ACLOperationTypeWrite: "Write", kafka.ACLOperationTypeDescribe: "Describe"}
)

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
