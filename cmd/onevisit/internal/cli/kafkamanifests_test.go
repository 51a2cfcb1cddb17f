package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// manifestsConfig writes a node config with the topic layout of
// deploy/kubernetes (6 partitions, 3 replicas, min ISR 2), the built-in
// example policies and a client registry.
func manifestsConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := dev.Prepare(dir); err != nil {
		t.Fatal(err)
	}
	cfg := "clients: " + filepath.Join(dir, "registry.json") + "\nkafka: {brokers: ['onevisit-kafka-bootstrap:9093'], namespace: onevisit}\n" +
		"topics: {partitions: 6, replication_factor: 3, min_insync_replicas: 2}\nkeys: {dir: " + filepath.Join(dir, "keys") + "}\n"
	path := filepath.Join(dir, "exchange.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKafkaManifests: `kafka manifests` prints deploy/kubernetes/strimzi/
// kafka.yaml (the file in the repository is its output: run the test with
// -update after changing grants, topics or the generator), and its JSON
// form is the same resources.
func TestKafkaManifests(t *testing.T) {
	cfg := manifestsConfig(t)
	if _, err := os.Stat(cfg); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"kafka", "manifests", "--config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	testkit.Golden(t, filepath.Join("..", "..", "..", "..", "deploy", "kubernetes", "strimzi", "kafka.yaml"), out.Bytes())

	var jout bytes.Buffer
	if code := Main(context.Background(), []string{"kafka", "manifests", "--config", cfg, "-o", "json"}, &jout, &errOut); code != 0 {
		t.Fatalf("-o json: exit %d: %s", code, errOut.String())
	}
	var list struct {
		APIVersion, Kind string
		Items            []any
	}
	if err := json.Unmarshal(jout.Bytes(), &list); err != nil || list.Kind != "List" {
		t.Fatalf("-o json: %v, kind %q", err, list.Kind)
	}
	docs := yamlDocs(t, out.Bytes())
	if !reflect.DeepEqual(normalize(t, list.Items), normalize(t, docs)) {
		t.Error("-o json and -o yaml print different resources")
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"kafka", "manifests"}, "--config is required"},
		{"bad output", []string{"kafka", "manifests", "--config", cfg, "-o", "xml"}, `-o "xml": want yaml or json`},
		{"bad cluster name", []string{"kafka", "manifests", "--config", cfg, "--cluster", "One_Visit"}, `cluster name "One_Visit" is not a Kubernetes name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o, eo bytes.Buffer
			code := Main(context.Background(), tt.args, &o, &eo)
			if code == 0 || o.Len() != 0 || !strings.Contains(eo.String(), tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want non-zero, nothing, %q", code, o.String(), eo.String(), tt.want)
			}
		})
	}
}

// TestKafkaManifestsMatchSetup is the no-drift check: the KafkaTopics are
// exactly bus.Topics and the KafkaUsers' rules exactly bus.ACLs, the
// functions `kafka setup` applies to a cluster, for the same config.
func TestKafkaManifestsMatchSetup(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"kafka", "manifests", "--config", manifestsConfig(t)}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.Default(reg)
	if err != nil {
		t.Fatal(err)
	}
	names := bus.Names("onevisit")
	reg2, err := dev.Prepare(t.TempDir()) // the same sample clients as the config's registry
	if err != nil {
		t.Fatal(err)
	}
	consumers := exchange.DeliveryConsumers(set, reg2)
	spec := bus.TopicSpec{Partitions: 6, ReplicationFactor: 3, MinInsyncReplicas: 2, Subscribers: consumers, Publishers: set.AllPublishers()}

	wantTopics := map[string]string{}
	for _, tc := range bus.Topics(names, reg.Datasets(), spec) {
		cfg := map[string]string{}
		for _, e := range tc.ConfigEntries {
			cfg[e.ConfigName] = e.ConfigValue
		}
		b, _ := json.Marshal(map[string]any{"partitions": tc.NumPartitions, "replicas": tc.ReplicationFactor, "config": cfg})
		wantTopics[tc.Topic] = string(b)
	}
	var wantACLs []string
	for _, a := range bus.ACLs(bus.Principals{Names: names, Exchange: "onevisit-exchange", Publishers: publishers(set), Responders: responders(set), Subscribers: consumers}, reg.Datasets()) {
		rt := map[kafka.ResourceType]string{kafka.ResourceTypeTopic: "topic", kafka.ResourceTypeGroup: "group"}[a.ResourceType]
		op := map[kafka.ACLOperationType]string{kafka.ACLOperationTypeRead: "Read", kafka.ACLOperationTypeWrite: "Write", kafka.ACLOperationTypeDescribe: "Describe"}[a.Operation]
		if rt == "" || op == "" || a.PermissionType != kafka.ACLPermissionTypeAllow {
			t.Fatalf("bus.ACLs has %+v, which this test does not know", a)
		}
		wantACLs = append(wantACLs, strings.Join([]string{strings.TrimPrefix(a.Principal, "User:"), rt, a.ResourceName, op}, " "))
	}
	sort.Strings(wantACLs)

	gotTopics := map[string]string{}
	var gotACLs []string
	for _, d := range yamlDocs(t, out.Bytes()) {
		m := d.(map[string]any)
		spec := m["spec"].(map[string]any)
		switch m["kind"] {
		case "KafkaTopic":
			b, _ := json.Marshal(map[string]any{"partitions": spec["partitions"], "replicas": spec["replicas"], "config": spec["config"]})
			gotTopics[spec["topicName"].(string)] = string(b)
		case "KafkaUser":
			user := m["metadata"].(map[string]any)["name"].(string)
			for _, r := range spec["authorization"].(map[string]any)["acls"].([]any) {
				rule := r.(map[string]any)
				res := rule["resource"].(map[string]any)
				if rule["type"] != "allow" || rule["host"] != "*" || res["patternType"] != "literal" {
					t.Errorf("rule %v: want allow, host *, literal", rule)
				}
				for _, op := range rule["operations"].([]any) {
					gotACLs = append(gotACLs, strings.Join([]string{user, res["type"].(string), res["name"].(string), op.(string)}, " "))
				}
			}
		}
	}
	sort.Strings(gotACLs)
	if !reflect.DeepEqual(gotTopics, wantTopics) {
		t.Errorf("KafkaTopics\n%v\nwant (bus.Topics)\n%v", gotTopics, wantTopics)
	}
	if !reflect.DeepEqual(gotACLs, wantACLs) {
		t.Errorf("KafkaUser ACLs\n%v\nwant (bus.ACLs)\n%v", gotACLs, wantACLs)
	}
	if len(wantACLs) == 0 || len(wantTopics) == 0 {
		t.Fatal("no topics or ACLs to compare")
	}
}

func yamlDocs(t *testing.T, b []byte) []any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
}

// normalize round-trips v through JSON, so YAML and JSON decodings compare.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
