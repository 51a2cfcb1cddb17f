// Package kubernetes holds the Kubernetes manifests of an exchange
// deployment (kustomize) and the tests that validate them.
package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange"
)

type doc struct {
	file string
	m    map[string]any
}

func (d doc) kind() string { s, _ := d.m["kind"].(string); return s }
func (d doc) api() string  { s, _ := d.m["apiVersion"].(string); return s }
func (d doc) name() string { return str(get(d.m, "metadata", "name")) }
func (d doc) String() string {
	return fmt.Sprintf("%s %s %s", d.file, d.kind(), d.name())
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// kustomization reads kustomization.yaml and every resource it lists.
func kustomization(t *testing.T) (map[string]any, []doc) {
	t.Helper()
	var k map[string]any
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	var docs []doc
	for _, r := range k["resources"].([]any) {
		file := r.(string)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", file, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if m != nil {
				docs = append(docs, doc{file, m})
			}
		}
	}
	return k, docs
}

// builtinSchema is the file name of a built-in kind's schema in the
// kubernetes-json-schema layout ("statefulset-apps-v1.json").
func builtinSchema(api, kind string) string {
	group, version, ok := strings.Cut(api, "/")
	if !ok {
		return strings.ToLower(kind) + "-" + api + ".json"
	}
	return strings.ToLower(kind) + "-" + strings.Split(group, ".")[0] + "-" + version + ".json"
}

// dirLoader serves every schema URL from one folder, by file name: the
// schemas refer to each other as "/api/_definitions.json".
type dirLoader string

func (l dirLoader) Load(url string) (any, error) {
	f, err := os.Open(filepath.Join(string(l), filepath.Base(url)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

// TestKubernetesManifests validates every built-in resource kustomize
// would apply against the Kubernetes JSON schemas (the strict variant:
// an unknown field is an error) of ONEVISIT_K8S_SCHEMAS, which .ci/run
// takes from PyPI's kubernetes-validate (deploy/kubernetes/schemas.sh).
func TestKubernetesManifests(t *testing.T) {
	dir := testkit.NeedEnv(t, "run deploy/kubernetes/schemas.sh and export what it prints", "ONEVISIT_K8S_SCHEMAS")["ONEVISIT_K8S_SCHEMAS"]
	_, docs := kustomization(t)
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{"https": dirLoader(dir), "file": dirLoader(dir)})
	checked := map[string]int{}
	for _, d := range docs {
		if strings.Contains(d.api(), ".strimzi.io/") || strings.HasPrefix(d.api(), "monitoring.coreos.com/") {
			continue // custom resources: TestCustomResources
		}
		file := builtinSchema(d.api(), d.kind())
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			t.Errorf("%s: no schema %s for %s %s", d, file, d.api(), d.kind())
			continue
		}
		sch, err := c.Compile("https://kubernetes.schemas/api/" + file)
		if err != nil {
			t.Fatalf("compile %s: %v", file, err)
		}
		if err := sch.Validate(toJSON(d.m)); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		checked[d.kind()]++
	}
	want := map[string]int{"Namespace": 1, "ServiceAccount": 1, "StatefulSet": 1, "Service": 2, "PodDisruptionBudget": 1, "NetworkPolicy": 1}
	if fmt.Sprint(checked) != fmt.Sprint(want) {
		t.Errorf("validated %v, want %v", checked, want)
	}
}

// toJSON turns YAML-decoded values into what the validator expects
// (numbers as json.Number-like values it accepts: int and float64 work).
func toJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSON(e)
		}
		return out
	case int:
		return float64(x)
	}
	return v
}

// The fields of the custom resources, as their operators document them.
// No registry we can reach serves Strimzi's CRD schemas (Maven Central's
// io.strimzi:api 1.2.0 holds the Java model, not the CRDs), so these
// are transcribed from that model's @JsonPropertyOrder / @JsonProperty
// (required fields marked "!"); the Prometheus operator's ServiceMonitor
// from its API reference. A field not listed here fails the test.
var crdFields = map[string]map[string][]string{
	"kafka.strimzi.io/v1 Kafka": {
		"":                                      {"apiVersion!", "kind!", "metadata!", "spec!"},
		"metadata":                              {"name!", "labels", "annotations", "namespace"},
		"spec":                                  {"kafka!", "entityOperator", "clusterCa", "clientsCa", "maintenanceTimeWindows", "kafkaExporter", "cruiseControl"},
		"spec.kafka":                            {"version", "metadataVersion", "config", "brokerRackInitImage", "rack", "logging", "image", "livenessProbe", "readinessProbe", "jvmOptions", "jmxOptions", "metricsConfig", "listeners!", "authorization", "tieredStorage", "quotas", "template"},
		"spec.kafka.listeners[]":                {"name!", "port!", "type!", "tls!", "authentication", "configuration", "networkPolicyPeers"},
		"spec.kafka.listeners[].authentication": {"type!"},
		"spec.kafka.authorization":              {"type!", "superUsers"},
		"spec.kafka.config":                     nil, // free-form broker config
		"spec.entityOperator":                   {"topicOperator", "userOperator", "template"},
		"spec.entityOperator.topicOperator":     {"watchedNamespace", "image", "reconciliationIntervalMs", "resources", "livenessProbe", "readinessProbe", "logging", "jvmOptions"},
		"spec.entityOperator.userOperator":      {"watchedNamespace", "image", "reconciliationIntervalMs", "secretPrefix", "resources", "livenessProbe", "readinessProbe", "logging", "jvmOptions"},
	},
	"kafka.strimzi.io/v1 KafkaNodePool": {
		"":                       {"apiVersion!", "kind!", "metadata!", "spec!"},
		"metadata":               {"name!", "labels!", "annotations", "namespace"},
		"spec":                   {"replicas!", "storage!", "roles!", "resources", "jvmOptions", "template"},
		"spec.storage":           {"type!", "volumes"},
		"spec.storage.volumes[]": {"type!", "id", "size", "kraftMetadata", "storageClass", "selector", "deleteClaim", "volumeAttributesClass"},
	},
	"kafka.strimzi.io/v1 KafkaTopic": {
		"":            {"apiVersion!", "kind!", "metadata!", "spec!"},
		"metadata":    {"name!", "labels!", "annotations", "namespace"},
		"spec":        {"topicName", "partitions", "replicas", "config"},
		"spec.config": nil,
	},
	"kafka.strimzi.io/v1 KafkaUser": {
		"":                                   {"apiVersion!", "kind!", "metadata!", "spec!"},
		"metadata":                           {"name!", "labels!", "annotations", "namespace"},
		"spec":                               {"authentication", "authorization", "quotas", "template"},
		"spec.authentication":                {"type!", "password"},
		"spec.authorization":                 {"type!", "acls!"},
		"spec.authorization.acls[]":          {"type", "resource!", "host", "operations!"},
		"spec.authorization.acls[].resource": {"type!", "name", "patternType"},
	},
	"monitoring.coreos.com/v1 ServiceMonitor": {
		"":                          {"apiVersion!", "kind!", "metadata!", "spec!"},
		"metadata":                  {"name!", "labels", "annotations", "namespace"},
		"spec":                      {"selector!", "endpoints!", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels", "sampleLimit"},
		"spec.selector":             {"matchLabels", "matchExpressions"},
		"spec.selector.matchLabels": nil,
		"spec.endpoints[]":          {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "tlsConfig", "honorLabels", "relabelings", "metricRelabelings"},
	},
}

// Enumerated values the custom resources' fields take.
var crdEnums = map[string][]string{
	"spec.kafka.listeners[].type":                    {"internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"},
	"spec.kafka.listeners[].authentication.type":     {"tls", "scram-sha-512", "custom"},
	"spec.kafka.authorization.type":                  {"simple", "custom"},
	"spec.roles[]":                                   {"controller", "broker"},
	"spec.storage.type":                              {"jbod"},
	"spec.storage.volumes[].type":                    {"persistent-claim", "ephemeral"},
	"spec.storage.volumes[].kraftMetadata":           {"shared"},
	"spec.authentication.type":                       {"tls", "tls-external", "scram-sha-512"},
	"spec.authorization.type":                        {"simple"},
	"spec.authorization.acls[].type":                 {"allow", "deny"},
	"spec.authorization.acls[].resource.type":        {"topic", "group", "cluster", "transactionalId"},
	"spec.authorization.acls[].resource.patternType": {"literal", "prefix"},
	"spec.authorization.acls[].operations[]":         {"Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"},
}

// TestCustomResources checks the Strimzi resources (and the
// ServiceMonitor) against the fields their operators document: every
// field known, every required one present, enumerations in range, and
// the Strimzi ones all labelled with their cluster.
func TestCustomResources(t *testing.T) {
	_, docs := kustomization(t)
	kinds := map[string]int{}
	for _, d := range docs {
		key := d.api() + " " + d.kind()
		if !strings.Contains(d.api(), ".strimzi.io/") && !strings.HasPrefix(d.api(), "monitoring.coreos.com/") {
			continue
		}
		fields, ok := crdFields[key]
		if !ok {
			t.Errorf("%s: %s is not a known custom resource here", d, key)
			continue
		}
		kinds[d.kind()]++
		for _, e := range checkFields(fields, "", d.m) {
			t.Errorf("%s: %s", d, e)
		}
		if strings.Contains(d.api(), ".strimzi.io/") && d.kind() != "Kafka" && str(get(d.m, "metadata", "labels", "strimzi.io/cluster")) != "onevisit" {
			t.Errorf("%s: no strimzi.io/cluster: onevisit label", d)
		}
		if d.kind() == "KafkaTopic" || d.kind() == "KafkaUser" {
			if n := d.name(); len(n) > 253 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
				t.Errorf("%s: not a Kubernetes name", d)
			}
		}
	}
	if kinds["Kafka"] != 1 || kinds["KafkaNodePool"] != 1 || kinds["KafkaTopic"] == 0 || kinds["KafkaUser"] == 0 || kinds["ServiceMonitor"] != 1 {
		t.Errorf("custom resources %v: want one Kafka, one KafkaNodePool, KafkaTopics, KafkaUsers and one ServiceMonitor", kinds)
	}
}

func checkFields(fields map[string][]string, path string, v any) []string {
	var errs []string
	switch x := v.(type) {
	case map[string]any:
		if path == "metadata.labels" || path == "metadata.annotations" {
			return nil // string to string, free-form
		}
		allowed, ok := fields[path]
		if !ok {
			return []string{fmt.Sprintf("%s: an object where the documented type is not", orRoot(path))}
		}
		if allowed == nil {
			return nil // free-form
		}
		names := map[string]bool{}
		for _, f := range allowed {
			n, required := strings.CutSuffix(f, "!")
			names[n] = true
			if _, has := x[n]; required && !has {
				errs = append(errs, fmt.Sprintf("%s: required field %s missing", orRoot(path), n))
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !names[k] {
				errs = append(errs, fmt.Sprintf("%s: unknown field %s", orRoot(path), k))
				continue
			}
			errs = append(errs, checkFields(fields, join(path, k), x[k])...)
		}
	case []any:
		for _, e := range x {
			errs = append(errs, checkFields(fields, path+"[]", e)...)
		}
	default:
		if enum, ok := crdEnums[path]; ok && !slices.Contains(enum, fmt.Sprint(x)) {
			errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", path, x, enum))
		}
	}
	return errs
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

// TestManifestsFitTogether checks what no schema can: the pieces name
// each other correctly.
func TestManifestsFitTogether(t *testing.T) {
	k, docs := kustomization(t)
	byKind := map[string][]doc{}
	for _, d := range docs {
		byKind[d.kind()] = append(byKind[d.kind()], d)
	}
	sts := byKind["StatefulSet"][0].m
	pod := get(sts, "spec", "template", "spec")
	ctr := pod.(map[string]any)["containers"].([]any)[0].(map[string]any)

	// The config the pods read is the generated ConfigMap, and it loads.
	gen := k["configMapGenerator"].([]any)[0].(map[string]any)
	if gen["name"] != "onevisit-config" || fmt.Sprint(gen["files"]) != "[exchange.yaml]" {
		t.Errorf("configMapGenerator %v: want onevisit-config from exchange.yaml", gen)
	}
	if got := fmt.Sprint(ctr["args"]); got != "[serve --config /etc/onevisit/config/exchange.yaml --log-level info]" {
		t.Errorf("args %s", got)
	}
	t.Setenv("ONEVISIT_KAFKA_PASSWORD", "not-a-real-password")
	cfg, err := exchange.LoadConfig("exchange.yaml")
	if err != nil {
		t.Fatalf("exchange.yaml: %v", err)
	}

	// Probes: liveness /livez, readiness /readyz, on the port the config listens on.
	for probe, path := range map[string]string{"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"} {
		if got := str(get(ctr, probe, "httpGet", "path")); got != path {
			t.Errorf("%s path %q, want %q", probe, got, path)
		}
	}
	port := ctr["ports"].([]any)[0].(map[string]any)
	if !strings.HasSuffix(cfg.HTTP.Addr, fmt.Sprintf(":%d", port["containerPort"])) || port["name"] != "http" {
		t.Errorf("container port %v, config listens on %s", port, cfg.HTTP.Addr)
	}

	// The image's user (deploy/image), and no root.
	if get(pod, "securityContext", "runAsUser") != 65532 || get(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("pod securityContext %v: want runAsNonRoot, 65532", get(pod, "securityContext"))
	}

	// Kafka: the exchange's KafkaUser exists and its Secret feeds the password; the brokers are the
	// Strimzi bootstrap of the listener the Kafka resource declares.
	users := map[string]bool{}
	for _, u := range byKind["KafkaUser"] {
		users[u.name()] = true
	}
	if !users[cfg.Kafka.User] {
		t.Errorf("kafka.user %s has no KafkaUser (have %v)", cfg.Kafka.User, users)
	}
	env := map[string]any{}
	for _, e := range ctr["env"].([]any) {
		env[str(get(e, "name"))] = get(e, "valueFrom", "secretKeyRef", "name")
	}
	if env[cfg.Kafka.PasswordEnv] != cfg.Kafka.User {
		t.Errorf("%s comes from Secret %v, want the KafkaUser's Secret %s", cfg.Kafka.PasswordEnv, env[cfg.Kafka.PasswordEnv], cfg.Kafka.User)
	}
	kafka := byKind["Kafka"][0]
	listener := get(kafka.m, "spec", "kafka", "listeners").([]any)[0]
	if want := fmt.Sprintf("%s-kafka-bootstrap:%d", kafka.name(), get(listener, "port")); fmt.Sprint(cfg.Kafka.Brokers) != "["+want+"]" ||
		!cfg.Kafka.TLS.Enabled || get(listener, "tls") != true || cfg.Kafka.SASLMechanism != "SCRAM-SHA-512" {
		t.Errorf("brokers %v tls %v sasl %s, listener %v: want [%s], TLS, SCRAM-SHA-512", cfg.Kafka.Brokers, cfg.Kafka.TLS.Enabled, cfg.Kafka.SASLMechanism, listener, want)
	}

	// Selectors match the pods.
	podLabels := get(sts, "spec", "template", "metadata", "labels").(map[string]any)
	for _, d := range docs {
		var sel any
		switch d.kind() {
		case "Service":
			sel = get(d.m, "spec", "selector")
		case "PodDisruptionBudget", "StatefulSet":
			sel = get(d.m, "spec", "selector", "matchLabels")
		case "NetworkPolicy":
			sel = get(d.m, "spec", "podSelector", "matchLabels")
		default:
			continue
		}
		for k, v := range sel.(map[string]any) {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not have", d, k, v)
			}
		}
	}
	// The ServiceMonitor selects exactly one Service (each node scraped once).
	sm := get(byKind["ServiceMonitor"][0].m, "spec", "selector", "matchLabels").(map[string]any)
	n := 0
	for _, s := range byKind["Service"] {
		labels, _ := get(s.m, "metadata", "labels").(map[string]any)
		match := true
		for k, v := range sm {
			match = match && labels[k] == v
		}
		if match {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the ServiceMonitor selects %d Services, want 1", n)
	}
}
