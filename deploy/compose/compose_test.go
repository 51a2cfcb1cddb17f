// Package compose_test checks deploy/compose without a container engine
// (none runs where the project is tested): it parses compose.yaml and
// every file it mounts, and checks what can be checked — the files exist,
// the node configs load with the exchange's own loader and name the
// services that serve them, ports agree and stay on loopback, Prometheus
// scrapes both nodes with the rules loaded, Grafana gets the dashboard,
// and every variable compose needs is in env.example.
package compose_test

import (
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/onevisit/onevisit/exchange"
)

type service struct {
	Image       string            `yaml:"image"`
	Build       *build            `yaml:"build"`
	User        string            `yaml:"user"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   any               `yaml:"depends_on"`
	Healthcheck map[string]any    `yaml:"healthcheck"`
	Restart     string            `yaml:"restart"`
}

type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeFile struct {
	Name     string             `yaml:"name"`
	Node     service            `yaml:"x-node"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

func load(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// mounts returns a service's bind mounts, target -> source (relative to
// this folder), and its named volumes, target -> name.
func mounts(t *testing.T, name string, s service) (binds, named map[string]string) {
	t.Helper()
	binds, named = map[string]string{}, map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "ro") {
			t.Errorf("%s: volume %q: want SOURCE:TARGET[:ro]", name, v)
			continue
		}
		src, dst := parts[0], parts[1]
		if strings.HasPrefix(src, ".") {
			binds[dst] = src
		} else {
			named[dst] = src
		}
	}
	return binds, named
}

func TestComposeServices(t *testing.T) {
	c := load(t)
	want := []string{"exchange-1", "exchange-2", "grafana", "kafka", "kafka-setup", "openbao", "prometheus", "vault-setup"}
	if got := slices.Sorted(maps.Keys(c.Services)); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		// Images are pinned; the nodes' is the one deploy/Dockerfile builds.
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("%s: image %q: pin a tag", name, s.Image)
		}
		if s.Build != nil {
			if s.Image != "onevisit:dev" {
				t.Errorf("%s: built image named %q, want onevisit:dev", name, s.Image)
			}
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil || s.Build.Context != "../.." {
				t.Errorf("%s: build %+v: want the repository root and deploy/Dockerfile: %v", name, *s.Build, err)
			}
		}
		binds, named := mounts(t, name, s)
		for dst, src := range binds {
			if strings.HasPrefix(src, "./.run/") {
				continue // made by the operator's steps (gitignored; TestComposeRunFiles)
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("%s: mounts %s at %s: %v", name, src, dst, err)
			}
		}
		for dst, vol := range named {
			if _, ok := c.Volumes[vol]; !ok {
				t.Errorf("%s: volume %q at %s is not declared", name, vol, dst)
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: port %q: publish on 127.0.0.1 only (HOST_IP:HOST_PORT:CONTAINER_PORT)", name, p)
				continue
			}
			if other, dup := hostPorts[parts[1]]; dup {
				t.Errorf("%s and %s both publish host port %s", name, other, parts[1])
			}
			hostPorts[parts[1]] = name
		}
	}
	// What each published port reaches inside.
	wantPorts := map[string][]string{
		"kafka":      {"127.0.0.1:19092:19092"},
		"openbao":    {"127.0.0.1:18200:8200"},
		"exchange-1": {"127.0.0.1:8080:8080"},
		"exchange-2": {"127.0.0.1:8081:8080"},
		"prometheus": {"127.0.0.1:19090:9090"},
		"grafana":    {"127.0.0.1:3000:3000"},
	}
	for name, ports := range wantPorts {
		if !slices.Equal(c.Services[name].Ports, ports) {
			t.Errorf("%s publishes %v, want %v", name, c.Services[name].Ports, ports)
		}
	}
}

// startScript is kafka/start.sh; the broker's settings are in it.
func startScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("kafka/start.sh")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", "kafka/start.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n kafka/start.sh: %v\n%s", err, out)
	}
	return string(b)
}

// TestComposeNodes loads each exchange node's config with the exchange's
// own loader and checks it against the services it names.
func TestComposeNodes(t *testing.T) {
	c := load(t)
	start := startScript(t)
	t.Setenv("ONEVISIT_KAFKA_PASSWORD", "x") // the loader checks that SASL has a password
	for _, name := range []string{"exchange-1", "exchange-2"} {
		t.Run(name, func(t *testing.T) {
			s := c.Services[name]
			binds, named := mounts(t, name, s)
			cfgPath := ""
			if i := slices.Index(s.Command, "--config"); s.Command[0] == "serve" && i > 0 && i+1 < len(s.Command) {
				cfgPath = s.Command[i+1]
			}
			src, ok := binds[cfgPath]
			if !ok {
				t.Fatalf("command %v: its --config %q is not a mounted file", s.Command, cfgPath)
			}
			if src != "./"+name+".yaml" {
				t.Errorf("%s reads %s, want ./%s.yaml", name, src, name)
			}
			cfg, err := exchange.LoadConfig(src)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			if cfg.Node != name {
				t.Errorf("node name %q, want %q (the service)", cfg.Node, name)
			}
			// HTTP: the container port compose publishes, and the URL it
			// publishes it as.
			_, port, _ := net.SplitHostPort(cfg.HTTP.Addr)
			pub := strings.Split(s.Ports[0], ":")
			if port != pub[2] || cfg.HTTP.PublicURL != "http://127.0.0.1:"+pub[1] {
				t.Errorf("http.addr %s, public_url %s; compose publishes %s", cfg.HTTP.Addr, cfg.HTTP.PublicURL, s.Ports[0])
			}
			// Files the config names are mounted.
			if binds[cfg.Clients] != "./.run/dev/registry.json" {
				t.Errorf("clients %s is not the registry onevisit dev wrote (mounts %v)", cfg.Clients, binds)
			}
			if binds[cfg.Policies] != "../../policy/examples" {
				t.Errorf("policies %s is not the example policies (mounts %v)", cfg.Policies, binds)
			}
			if named["/var/lib/onevisit"] != name+"-data" {
				t.Errorf("no volume of its own at /var/lib/onevisit (the image's data folder): %v", named)
			}
			// Kafka: the broker's CLIENT listener, as the exchange's user
			// that start.sh adds when it formats the storage.
			if !slices.Equal(cfg.Kafka.Brokers, []string{"kafka:9092"}) || !strings.Contains(start, "advertised.listeners=CLIENT://kafka:9092,") {
				t.Errorf("brokers %v: want kafka:9092, the listener start.sh advertises", cfg.Kafka.Brokers)
			}
			if cfg.Kafka.SASLMechanism != "SCRAM-SHA-512" || !strings.Contains(start, "EXCHANGE_USER="+cfg.Kafka.User+"\n") ||
				!strings.Contains(start, "--add-scram \"SCRAM-SHA-512=[name=$EXCHANGE_USER,password=$ONEVISIT_KAFKA_PASSWORD]\"") {
				t.Errorf("kafka user %s (%s) is not the one start.sh creates", cfg.Kafka.User, cfg.Kafka.SASLMechanism)
			}
			if cfg.Topics.ReplicationFactor != 1 || cfg.Topics.MinInsyncReplicas != 1 || cfg.Topics.Create {
				t.Errorf("topics %+v: one broker: replication 1, min ISR 1, made by kafka-setup", cfg.Topics)
			}
			// Secrets from the environment compose sets from .env.
			for _, v := range []string{cfg.Kafka.PasswordEnv, cfg.Keys.Vault.RoleIDEnv, cfg.Keys.Vault.SecretIDEnv} {
				if s.Environment[v] != "${"+v+":?set it in deploy/compose/.env}" {
					t.Errorf("the config reads %s; compose sets it to %q", v, s.Environment[v])
				}
			}
			// Keys: OpenBao's service, the role vault-setup makes with the
			// same ids.
			if cfg.Keys.Backend != "vault" || cfg.Keys.Vault.Address != "http://openbao:8200" || cfg.Keys.Vault.Mount != "transit" || cfg.Keys.Vault.Auth != "approle" {
				t.Errorf("keys %+v: want vault at http://openbao:8200, mount transit, approle", cfg.Keys)
			}
			vs := c.Services["vault-setup"].Environment
			if vs[cfg.Keys.Vault.RoleIDEnv] != s.Environment[cfg.Keys.Vault.RoleIDEnv] || vs[cfg.Keys.Vault.SecretIDEnv] != s.Environment[cfg.Keys.Vault.SecretIDEnv] {
				t.Errorf("vault-setup sets the role ids from other variables than the node reads")
			}
			if !slices.Contains(s.Command, "--log-level") {
				t.Errorf("command %v: set --log-level", s.Command)
			}
		})
	}
}

// TestComposeSetup: kafka-setup runs `kafka setup` as the broker's admin;
// vault-setup runs deploy/vault/transit/apply.sh against the openbao
// service.
func TestComposeSetup(t *testing.T) {
	c := load(t)
	start := startScript(t)
	ks := c.Services["kafka-setup"]
	if !slices.Equal(ks.Command[:4], []string{"kafka", "setup", "--config", "/etc/onevisit/kafka-admin.yaml"}) {
		t.Errorf("kafka-setup runs %v", ks.Command)
	}
	binds, _ := mounts(t, "kafka-setup", ks)
	if binds["/etc/onevisit/kafka-admin.yaml"] != "./kafka-admin.yaml" {
		t.Errorf("kafka-setup mounts %v", binds)
	}
	i := slices.Index(ks.Command, "--credentials-out")
	if i < 0 || binds[ks.Command[i+1]] != "./.run/kafka-credentials" {
		t.Errorf("kafka-setup writes the publishers' passwords to %v, not to the mounted ./.run/kafka-credentials", ks.Command)
	}
	t.Setenv("ONEVISIT_KAFKA_PASSWORD", "x")
	cfg, err := exchange.LoadConfig("kafka-admin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(start, "ADMIN_USER="+cfg.Kafka.User+"\n") || !strings.Contains(start, "super.users=User:$ADMIN_USER;") {
		t.Errorf("kafka-admin.yaml logs in as %s, which start.sh does not make a super user", cfg.Kafka.User)
	}
	if ks.Environment[cfg.Kafka.PasswordEnv] != "${ONEVISIT_KAFKA_ADMIN_PASSWORD:?set it in deploy/compose/.env}" {
		t.Errorf("kafka-setup's %s is %q, want the admin's password", cfg.Kafka.PasswordEnv, ks.Environment[cfg.Kafka.PasswordEnv])
	}
	for _, want := range []string{"allow.everyone.if.no.acl.found=false", "auto.create.topics.enable=false", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"} {
		if !strings.Contains(start, "\n"+want+"\n") {
			t.Errorf("start.sh does not set %s", want)
		}
	}

	vs := c.Services["vault-setup"]
	vb, _ := mounts(t, "vault-setup", vs)
	if vb["/onevisit/transit"] != "../vault/transit" || !slices.Equal(vs.Entrypoint, []string{"/bin/sh", "/onevisit/transit/apply.sh", "--approle"}) {
		t.Errorf("vault-setup: mounts %v, runs %v; want deploy/vault/transit/apply.sh --approle", vb, vs.Entrypoint)
	}
	if vs.Environment["VAULT_ADDR"] != "http://openbao:8200" || vs.Image != c.Services["openbao"].Image {
		t.Errorf("vault-setup: VAULT_ADDR %s, image %s; want the openbao service and its image (it has the bao CLI)", vs.Environment["VAULT_ADDR"], vs.Image)
	}
	if vs.Environment["VAULT_TOKEN"] != c.Services["openbao"].Environment["BAO_DEV_ROOT_TOKEN_ID"] {
		t.Errorf("vault-setup's token is not the dev server's root token")
	}
}

// TestComposeMonitoring: Prometheus scrapes both nodes and loads the
// rules; Grafana gets Prometheus and the dashboard.
func TestComposeMonitoring(t *testing.T) {
	c := load(t)
	pb, _ := mounts(t, "prometheus", c.Services["prometheus"])
	if pb["/etc/prometheus/prometheus.yml"] != "./prometheus.yml" {
		t.Fatalf("prometheus mounts %v", pb)
	}
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus.yml", &prom)
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %s", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if !slices.Equal(targets, []string{"exchange-1:8080", "exchange-2:8080"}) {
		t.Errorf("Prometheus scrapes %v, want both nodes", targets)
	}
	if pb["/etc/prometheus/rules/onevisit.yaml"] != "../prometheus/rules.yaml" {
		t.Errorf("the rules are not mounted: %v", pb)
	}
	loaded := false
	for _, g := range prom.RuleFiles {
		if ok, _ := path.Match(g, "/etc/prometheus/rules/onevisit.yaml"); ok {
			loaded = true
		}
	}
	if !loaded {
		t.Errorf("rule_files %v do not load /etc/prometheus/rules/onevisit.yaml", prom.RuleFiles)
	}

	gb, _ := mounts(t, "grafana", c.Services["grafana"])
	if gb["/etc/grafana/provisioning"] != "./grafana/provisioning" {
		t.Fatalf("grafana mounts %v", gb)
	}
	var ds struct {
		Datasources []struct {
			Type, URL string
			IsDefault bool `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" || !ds.Datasources[0].IsDefault {
		t.Errorf("Grafana data sources %+v: want the prometheus service as the default", ds.Datasources)
	}
	var dash struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/onevisit.yaml", &dash)
	if len(dash.Providers) != 1 || dash.Providers[0].Type != "file" || gb[dash.Providers[0].Options.Path] != "../grafana" {
		t.Errorf("dashboard providers %+v: want a file provider at the mount of deploy/grafana (mounts %v)", dash.Providers, gb)
	}
	if _, err := os.Stat("../grafana/onevisit.json"); err != nil {
		t.Error(err)
	}
}

// TestComposeEnv: every variable compose.yaml needs is in env.example,
// and env.example holds nothing else; the files the steps make are
// ignored by git.
func TestComposeEnv(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)`).FindAllStringSubmatch(string(b), -1) {
		used[m[1]] = true
	}
	e, err := os.ReadFile("env.example")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(e), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			listed[k] = true
			if k != "ONEVISIT_UID" && !regexp.MustCompile(`^[A-Za-z0-9]+$`).MatchString(v) {
				t.Errorf("env.example: %s: letters and digits only (start.sh splices passwords into JAAS)", k)
			}
		}
	}
	if u, l := slices.Sorted(maps.Keys(used)), slices.Sorted(maps.Keys(listed)); !slices.Equal(u, l) {
		t.Errorf("compose.yaml uses %v; env.example lists %v", u, l)
	}
	ig, err := os.ReadFile(".gitignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".env", ".run/"} {
		if !slices.Contains(strings.Split(string(ig), "\n"), want) {
			t.Errorf(".gitignore does not ignore %s", want)
		}
	}
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
