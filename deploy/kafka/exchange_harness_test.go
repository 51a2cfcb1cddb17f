package kafka_test

// The harness for the tests that run whole exchange nodes against the real cluster: TestMain builds the
// onevisit binary once; a world is one namespace on the cluster with its topics, SCRAM users and ACLs made by
// `onevisit kafka setup`, the sample clients' credentials from dev.Prepare, a shared file keystore, and
// exchange nodes run as `onevisit serve --config` subprocesses with the exchange user's credentials.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// onevisitBin is the onevisit binary TestMain builds when a cluster is configured.
var onevisitBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if os.Getenv("ONEVISIT_KAFKA_BROKERS") != "" {
		dir, err := os.MkdirTemp("", "onevisit-deploy-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "temp dir:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		onevisitBin = filepath.Join(dir, "onevisit")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", onevisitBin, "./cmd/onevisit")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build ./cmd/onevisit: %v\n%s", err, out)
			return 1
		}
		fmt.Fprintf(os.Stderr, "built %s in %v\n", onevisitBin, time.Since(start).Round(time.Millisecond))
	}
	code := m.Run()
	deletePublisherUsers()
	return code
}

// The sample publishers: `onevisit kafka setup` makes a SCRAM user for each publisher in the grants.
var samplePublishers = []string{"civil-affairs", "consent-service", "hospital", "market-regulation", "natural-resources", "public-security", "social-security", "tax-bureau"}

// The sample consumers: `onevisit kafka setup` makes a SCRAM user and a delivery topic for each consumer of the
// registry and each consumer a Subscription names (policy/examples/death.yaml): exchange.DeliveryConsumers.
var sampleSubscribers = []string{"company-registration", "death-registration", "employment-service", "household-deregistration", "marriage-registration",
	"medical-insurance", "newborn-registration", "pension-service", "property-transfer", "school-enrolment", "social-insurance-service"}

// sampleUsers are the SCRAM users setup makes besides the exchange's, in the order it reports them.
var sampleUsers = slices.Sorted(slices.Values(append(slices.Clone(samplePublishers), sampleSubscribers...)))

// publisherPasswords holds the passwords `kafka setup` handed over when it created the publishers' users. SCRAM
// users are cluster-wide (not namespaced), so the first world of a test run deletes stale ones left by an
// earlier run and lets setup create them anew; later worlds find them and reuse these passwords.
var publisherPasswords struct {
	sync.Mutex
	m       map[string]string
	cluster cluster
}

func deletePublisherUsers() {
	publisherPasswords.Lock()
	defer publisherPasswords.Unlock()
	if publisherPasswords.m == nil {
		return
	}
	c := publisherPasswords.cluster
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := deleteScramUsers(ctx, c.adminBus(""), sampleUsers...); err != nil {
		fmt.Fprintln(os.Stderr, "delete publisher users:", err)
	}
}

func deleteScramUsers(ctx context.Context, c bus.Config, users ...string) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	var del []kafka.UserScramCredentialsDeletion
	for _, u := range users {
		has, err := bus.HasUser(ctx, c, u)
		if err != nil {
			return err
		}
		if has {
			del = append(del, kafka.UserScramCredentialsDeletion{Name: u, Mechanism: kafka.ScramMechanismSha512})
		}
	}
	if len(del) == 0 {
		return nil
	}
	res, err := cl.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{Deletions: del})
	if err != nil {
		return fmt.Errorf("delete scram users: %w", err)
	}
	for _, r := range res.Results {
		if r.Error != nil {
			return fmt.Errorf("delete scram user %s: %w", r.User, r.Error)
		}
	}
	return nil
}

// adminBus is the admin's connection in namespace ns, as exchange/bus builds it.
func (c cluster) adminBus(ns string) bus.Config {
	return bus.Config{Brokers: c.brokers, Names: bus.Names(ns), SASLMechanism: "SCRAM-SHA-512", User: c.user, Password: c.password, ClientID: "onevisit-test-admin"}
}

// world is one namespace on the cluster, set up by `onevisit kafka setup`.
type world struct {
	t            *testing.T
	c            cluster
	ns           string
	names        bus.Names
	dir          string
	registry     string
	keysDir      string
	credsDir     string
	exchangeUser string
	passwords    map[string]string // SCRAM user -> password
	setupOutput  string            // what the first `kafka setup` printed
	schemas      *schemas.Registry
	datasets     []string
}

// newWorld makes a fresh namespace, writes the sample clients' credentials and the exchange's file keys, and
// runs `onevisit kafka setup` as the admin. Cleanup deletes the namespace's topics, ACLs and exchange user.
func newWorld(t *testing.T) *world {
	t.Helper()
	c := clusterFromEnv(t)
	if onevisitBin == "" {
		t.Fatal("TestMain did not build the onevisit binary")
	}
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	ns := "ovt-" + randomHex(t, 4)
	dir := t.TempDir()
	w := &world{
		t: t, c: c, ns: ns, names: bus.Names(ns), dir: dir,
		registry: filepath.Join(dir, "registry.json"), keysDir: filepath.Join(dir, "keys"), credsDir: filepath.Join(dir, "kafka-credentials"),
		exchangeUser: "onevisit-exchange-" + strings.TrimPrefix(ns, "ovt-"), passwords: map[string]string{},
		schemas: reg, datasets: reg.Datasets(),
	}
	if _, err := dev.Prepare(dir); err != nil {
		t.Fatalf("dev.Prepare: %v", err)
	}
	// Make the exchange's keys once, before any node starts, so nodes sharing keys.dir never race to create them.
	kb, err := exchange.FileKeys(exchange.KeysConfig{Backend: "file", Dir: w.keysDir, TokenKey: "exchange-token", ReceiptKey: "exchange-receipt", AuditKey: "exchange-audit", PseudonymKey: "exchange-pseudonym"})
	if err != nil {
		t.Fatalf("exchange file keys: %v", err)
	}
	kb.Close()

	publisherPasswords.Lock()
	defer publisherPasswords.Unlock()
	if publisherPasswords.m == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := deleteScramUsers(ctx, c.adminBus(""), sampleUsers...); err != nil {
			t.Fatalf("delete stale publisher users: %v", err)
		}
		publisherPasswords.m = map[string]string{}
		publisherPasswords.cluster = c
	}
	t.Cleanup(w.cleanup)
	w.setupOutput = w.setup()
	for _, u := range append([]string{w.exchangeUser}, sampleUsers...) {
		b, err := os.ReadFile(filepath.Join(w.credsDir, u+".password"))
		switch {
		case err == nil:
			w.passwords[u] = strings.TrimSpace(string(b))
			if u != w.exchangeUser {
				publisherPasswords.m[u] = w.passwords[u]
			}
		case errors.Is(err, os.ErrNotExist) && publisherPasswords.m[u] != "":
			w.passwords[u] = publisherPasswords.m[u]
		default:
			t.Fatalf("no password for SCRAM user %s (setup printed:\n%s): %v", u, w.setupOutput, err)
		}
	}
	// A new SCRAM credential reaches each broker through the metadata log a moment after setup returns, and a
	// node that cannot log in at start exits: wait until every user logs in to every broker alone.
	w.waitLogins(t, "after setup")
	return w
}

// waitLogins waits until every user of the world logs in to every broker alone.
func (w *world) waitLogins(t *testing.T, when string) {
	t.Helper()
	c := w.c
	for user, pw := range w.passwords {
		for _, b := range c.brokers {
			err := eventually(t.Context(), 30*time.Second, func(ctx context.Context) error {
				_, err := c.client(t, user, pw, b).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{w.names.Audit()}})
				return err
			})
			if err != nil {
				t.Fatalf("SCRAM user %s cannot log in to %s %s: %v", user, b, when, err)
			}
		}
	}
}

// refreshCredentials sets every user's SCRAM credential again (same password) and waits until each logs in to
// every broker. Kafka 4.4 here sometimes brings a broker back on its storage without the SCRAM credentials it
// had (every login to it then fails with "invalid credentials" until the cluster is wiped; seen after runs that
// create and delete users). A fresh credential record reaches the restarted broker through the metadata log and
// it accepts the user again. The tests do this after every broker restart, as an operator would; run.sh does the
// same for the admin.
func (w *world) refreshCredentials(t *testing.T) {
	t.Helper()
	for user, pw := range w.passwords {
		if err := bus.SetUser(t.Context(), w.c.adminBus(w.ns), user, pw); err != nil {
			t.Fatalf("refresh SCRAM credential of %s: %v", user, err)
		}
	}
	w.waitLogins(t, "after a broker restart")
}

// config writes a node config for `onevisit serve` / `onevisit kafka setup` and returns its path.
func (w *world) config(name, user, passwordEnv, httpAddr string) string {
	w.t.Helper()
	brokers := make([]string, len(w.c.brokers))
	for i, b := range w.c.brokers {
		brokers[i] = fmt.Sprintf("%q", b)
	}
	yaml := fmt.Sprintf(`# written by deploy/kafka's tests
node: %s
http:
  addr: %s
kafka:
  brokers: [%s]
  namespace: %s
  sasl_mechanism: SCRAM-SHA-512
  user: %s
  password_env: %s
  client_id: %s
topics:
  partitions: 3
  replication_factor: 3
  min_insync_replicas: 2
  create: false
clients: %s
policies: ""
keys:
  backend: file
  dir: %s
`, name, httpAddr, strings.Join(brokers, ", "), w.ns, user, passwordEnv, name, w.registry, w.keysDir)
	path := filepath.Join(w.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// setup runs `onevisit kafka setup` as the admin (password from ONEVISIT_KAFKA_PASSWORD) and returns its output.
func (w *world) setup() string {
	w.t.Helper()
	cfg := w.config("admin", w.c.user, "ONEVISIT_KAFKA_PASSWORD", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(w.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, onevisitBin, "kafka", "setup", "--config", cfg, "--exchange-user", w.exchangeUser, "--credentials-out", w.credsDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		w.t.Fatalf("onevisit kafka setup: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	w.t.Logf("onevisit kafka setup (namespace %s) took %v", w.ns, time.Since(start).Round(time.Millisecond))
	w.waitForTopics()
	return string(out)
}

// waitForTopics waits until this process's admin client sees every topic of the world. `kafka setup` made
// them in another process, and the Kafka transport this process shares per connection settings
// (exchange/bus) answers metadata requests from a cache it refreshes every few seconds.
func (w *world) waitForTopics() {
	w.t.Helper()
	admin, err := w.c.adminBus(w.ns).Client()
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for _, tc := range bus.Topics(w.names, w.datasets, bus.TopicSpec{Subscribers: sampleSubscribers, Publishers: samplePublishers}) {
		names = append(names, tc.Topic)
	}
	err = eventually(w.t.Context(), 30*time.Second, func(ctx context.Context) error {
		md, err := admin.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err != nil {
			return err
		}
		for _, t := range md.Topics {
			if t.Error != nil {
				return fmt.Errorf("metadata of %s: %w", t.Name, t.Error)
			}
		}
		if len(md.Topics) != len(names) {
			return fmt.Errorf("metadata lists %d of %d topics", len(md.Topics), len(names))
		}
		return nil
	})
	if err != nil {
		w.t.Fatalf("topics made by kafka setup not visible: %v", err)
	}
}

// acls is what setup should have bound in this world: the exchange user, the grants' publishers and the live
// grants' responders.
func (w *world) acls() []kafka.ACLEntry {
	w.t.Helper()
	pol, err := policy.Default(w.schemas)
	if err != nil {
		w.t.Fatal(err)
	}
	pubs, resp := map[string][]string{}, map[string][]string{}
	for _, p := range pol.Policies() {
		switch {
		case p.Kind == policy.KindPublisherGrant && p.Mode == policy.ModeLive:
			resp[p.Publisher] = append(resp[p.Publisher], p.Datasets...)
		case p.Kind == policy.KindPublisherGrant:
			pubs[p.Publisher] = append(pubs[p.Publisher], p.Datasets...)
		}
	}
	if got := slices.Sorted(maps.Keys(pubs)); !slices.Equal(got, samplePublishers) {
		w.t.Fatalf("the built-in grants name publishers %v, the tests expect %v", got, samplePublishers)
	}
	reg, err := clients.Load(w.registry)
	if err != nil {
		w.t.Fatal(err)
	}
	if got := exchange.DeliveryConsumers(pol, reg); !slices.Equal(got, sampleSubscribers) {
		w.t.Fatalf("the sample clients and subscriptions name consumers %v, the tests expect %v", got, sampleSubscribers)
	}
	return bus.ACLs(bus.Principals{Names: w.names, Exchange: w.exchangeUser, Publishers: pubs, Responders: resp, Subscribers: sampleSubscribers}, w.datasets)
}

// cleanup removes what setup made in this world (not the publishers' users, which other worlds share).
func (w *world) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := w.c.adminBus(w.ns)
	cl, err := admin.Client()
	if err != nil {
		w.t.Logf("cleanup: %v", err)
		return
	}
	var filters []kafka.DeleteACLsFilter
	for _, a := range w.acls() {
		filters = append(filters, kafka.DeleteACLsFilter{
			ResourceTypeFilter: a.ResourceType, ResourceNameFilter: a.ResourceName, ResourcePatternTypeFilter: a.ResourcePatternType,
			PrincipalFilter: a.Principal, HostFilter: a.Host, Operation: a.Operation, PermissionType: a.PermissionType,
		})
	}
	if _, err := cl.DeleteACLs(ctx, &kafka.DeleteACLsRequest{Filters: filters}); err != nil {
		w.t.Logf("cleanup: delete acls of %s: %v", w.ns, err)
	}
	var topics []string
	for _, tc := range bus.Topics(w.names, w.datasets, bus.TopicSpec{Subscribers: sampleSubscribers, Publishers: samplePublishers}) {
		topics = append(topics, tc.Topic)
	}
	if _, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics}); err != nil {
		w.t.Logf("cleanup: delete topics of %s: %v", w.ns, err)
	}
	if err := deleteScramUsers(ctx, admin, w.exchangeUser); err != nil {
		w.t.Logf("cleanup: %v", err)
	}
}

// userBus is a connection as one of this world's SCRAM users, with the exchange's production settings.
func (w *world) userBus(user string) bus.Config {
	w.t.Helper()
	pw := w.passwords[user]
	if pw == "" {
		w.t.Fatalf("no password for %s", user)
	}
	return bus.Config{Brokers: w.c.brokers, Names: w.names, SASLMechanism: "SCRAM-SHA-512", User: user, Password: pw, ClientID: "onevisit-test-" + user}
}

// node is one `onevisit serve` subprocess. Like a service manager with restart-on-failure, the harness starts
// it again when it exits by itself (not killed or stopped by the test), and records each such exit: an exchange
// node is supposed to ride out a broker outage, so every one is a finding the tests report.
type node struct {
	w       *world
	name    string
	addr    string
	config  string
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	expected bool // the test killed or stopped the process
	stopping bool
	exits    []nodeExit
}

// nodeExit is an exit the test did not cause.
type nodeExit struct {
	at   time.Time
	err  error
	last string // the last line the process logged
}

// startNode starts an exchange node as a subprocess and waits until /healthz says it has caught up.
func (w *world) startNode(name string) *node {
	w.t.Helper()
	n := &node{w: w, name: name, addr: freeAddr(w.t), logPath: filepath.Join(w.dir, name+".log")}
	n.config = w.config(name, w.exchangeUser, "ONEVISIT_EXCHANGE_KAFKA_PASSWORD", n.addr)
	n.start()
	w.t.Cleanup(func() {
		n.stop()
		for _, e := range n.unexpectedExits() {
			w.t.Errorf("exchange node %s exited by itself at %s (%v) and was started again; its last line: %s", n.name, e.at.Format("15:04:05.000"), e.err, e.last)
		}
	})
	return n
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the node's process and waits until it is ready.
func (n *node) start() {
	t := n.w.t
	t.Helper()
	if err := n.launch(); err != nil {
		t.Fatal(err)
	}
	if err := n.waitReady(90 * time.Second); err != nil {
		t.Fatalf("node %s: %v\n%s", n.name, err, n.logTail(30))
	}
}

// launch starts the process; the environment has the exchange user's password and none of the admin's. A
// goroutine waits for it and launches it again after an exit the test did not cause.
func (n *node) launch() error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(onevisitBin, "serve", "--config", n.config)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ONEVISIT_KAFKA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ONEVISIT_EXCHANGE_KAFKA_PASSWORD="+n.w.passwords[n.w.exchangeUser])
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start node %s: %w", n.name, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.err, n.expected = cmd, done, nil, false
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.err = err
		respawn := !n.expected && !n.stopping
		if respawn {
			n.exits = append(n.exits, nodeExit{at: time.Now(), err: err, last: lastLine(n.logPath)})
		}
		n.mu.Unlock()
		close(done)
		if respawn {
			time.Sleep(time.Second)
			n.mu.Lock()
			stopping := n.stopping
			n.mu.Unlock()
			if !stopping {
				_ = n.launch()
			}
		}
	}()
	return nil
}

// unexpectedExits returns the exits the test did not cause.
func (n *node) unexpectedExits() []nodeExit {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.exits)
}

// waitReady polls GET /healthz until it answers 200.
func (n *node) waitReady(timeout time.Duration) error {
	ctx := n.w.t.Context()
	start := time.Now()
	err := eventually(ctx, timeout, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "GET", n.url()+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET /healthz: %s", resp.Status)
		}
		return nil
	})
	if err == nil {
		n.w.t.Logf("node %s (%s) ready in %v", n.name, n.addr, time.Since(start).Round(10*time.Millisecond))
	}
	return err
}

func (n *node) url() string { return "http://" + n.addr }

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.expected = true
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop sends SIGTERM (a clean leave of the consumer group), then SIGKILL after 20 s, and ends supervision.
func (n *node) stop() {
	n.mu.Lock()
	n.stopping, n.expected = true, true
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		n.w.t.Logf("node %s did not stop within 20 s of SIGTERM: SIGKILL", n.name)
		n.kill()
	}
}

func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func (n *node) logTail(lines int) string {
	f, err := os.Open(n.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var all []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		all = append(all, s.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return fmt.Sprintf("--- last lines of %s:\n%s", n.logPath, strings.Join(all, "\n"))
}

var httpClient = &http.Client{Timeout: 40 * time.Second}

// credentials loads a sample client's credentials written by dev.Prepare.
func (w *world) credentials(client string) *connectors.Credentials {
	w.t.Helper()
	c, err := connectors.LoadCredentials(filepath.Join(w.dir, "clients", client+".json"))
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// apiClient is an authenticated HTTP client of node n acting as a sample client.
func (w *world) apiClient(client string, n *node) *connectors.Client {
	w.t.Helper()
	s, err := w.credentials(client).AuthSigner()
	if err != nil {
		w.t.Fatal(err)
	}
	return &connectors.Client{BaseURL: n.url(), ClientID: client, Auth: s, HTTP: httpClient}
}

// publisher signs household records as public-security (or another publisher) and sends them through sink.
func (w *world) publisher(client, dataset string, sink connectors.Sink) *connectors.Publisher {
	w.t.Helper()
	s, err := w.credentials(client).RecordSigner()
	if err != nil {
		w.t.Fatal(err)
	}
	ds, ok := w.schemas.Dataset(dataset)
	if !ok {
		w.t.Fatalf("no dataset %s", dataset)
	}
	return &connectors.Publisher{Issuer: client, Dataset: dataset, Schema: ds.Latest, SubjectField: ds.Subject, Signer: s, Sink: sink}
}

// kafkaPublisher publishes through the dataset's ingest topic with the publisher's own SCRAM user and the
// production writer (acks from all in-sync replicas). Close the writer when done.
func (w *world) kafkaPublisher(client, dataset string) (*connectors.Publisher, *kafka.Writer) {
	w.t.Helper()
	wr, err := w.userBus(client).Writer()
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { wr.Close() })
	// The writer's transport is the process's one for this user (exchange/bus), which may have cached the
	// cluster's metadata before `kafka setup` made this world's topics: wait until it knows the ingest topic.
	cl := &kafka.Client{Addr: wr.Addr, Transport: wr.Transport, Timeout: 10 * time.Second}
	topic := w.names.Ingest(dataset)
	err = eventually(w.t.Context(), 30*time.Second, func(ctx context.Context) error {
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		if len(md.Topics) != 1 || md.Topics[0].Error != nil {
			return fmt.Errorf("metadata of %s as %s: %v", topic, client, md.Topics)
		}
		return nil
	})
	if err != nil {
		w.t.Fatalf("publisher %s does not see %s: %v", client, topic, err)
	}
	return w.publisher(client, dataset, connectors.KafkaSink{Writer: wr, Names: w.names}), wr
}

// residentID is the i-th valid resident identity number of a test run: Hangzhou Xihu district, a birth date
// from 1950 on, a sequence number, and the ISO 7064 MOD 11-2 check character.
func residentID(i int) string {
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/900)
	prefix := fmt.Sprintf("330106%s%03d", birth.Format("20060102"), 100+i%900)
	return prefix + string(schemas.ResidentIDCheck(prefix))
}

// householdItem is a valid household record for subject i with the given record id.
func householdItem(id string, i int) connectors.Item {
	rid := residentID(i)
	birth, _ := time.Parse("20060102", rid[6:14])
	return connectors.Item{ID: id, Fields: map[string]any{
		"resident_id": rid, "name": fmt.Sprintf("测试居民%d", i), "gender": []string{"male", "female"}[i%2],
		"birth_date": birth.Format("2006-01-02"), "ethnicity": "汉族", "household_id": fmt.Sprintf("330106-T%05d", i),
		"relation_to_head": "head", "address": fmt.Sprintf("浙江省杭州市西湖区测试路%d号", i), "registration_date": "2021-05-01",
	}}
}

// readTopic reads every message of topic from the start to its end offsets at the time of the call, as the
// admin, partition by partition.
func (w *world) readTopic(ctx context.Context, topic string) ([]kafka.Message, error) {
	// One bounded attempt: right after brokers come back a partition reader can wait on a stale leader, and a
	// caller that polls does better with a fresh one.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	admin := w.c.adminBus(w.ns)
	cl, err := admin.Client()
	if err != nil {
		return nil, err
	}
	parts, err := partitionsOf(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, p := range parts {
		req[topic] = append(req[topic], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("read %s: list offsets: %w", topic, err)
	}
	var out []kafka.Message
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("read %s/%d: offsets: %w", topic, po.Partition, po.Error)
		}
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r, err := admin.PartitionReader(topic, po.Partition, po.FirstOffset)
		if err != nil {
			return nil, err
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("read %s/%d at %d of %d: %w", topic, po.Partition, len(out), po.LastOffset, err)
			}
			out = append(out, m)
			if m.Offset+1 >= po.LastOffset {
				break
			}
		}
		r.Close()
	}
	return out, nil
}

// acceptedIDs reads the dataset's accepted topic and counts each record id (the jti of the SD-JWT value).
func (w *world) acceptedIDs(ctx context.Context, dataset string) (map[string]int, error) {
	msgs, err := w.readTopic(ctx, w.names.Accepted(dataset))
	if err != nil {
		return nil, err
	}
	ids := map[string]int{}
	for _, m := range msgs {
		if m.Value == nil {
			continue
		}
		rec, err := record.Parse(string(m.Value))
		if err != nil {
			return nil, fmt.Errorf("accepted %s/%d@%d does not parse: %w", m.Topic, m.Partition, m.Offset, err)
		}
		ids[rec.ID]++
	}
	return ids, nil
}

// auditEntries reads the audit topic and parses every entry.
func (w *world) auditEntries(ctx context.Context) ([]audit.Entry, error) {
	msgs, err := w.readTopic(ctx, w.names.Audit())
	if err != nil {
		return nil, err
	}
	out := make([]audit.Entry, 0, len(msgs))
	for _, m := range msgs {
		e, err := audit.ParseEntry(m.Value)
		if err != nil {
			return nil, fmt.Errorf("audit entry at offset %d: %w", m.Offset, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// waitAccepted waits until every id in want is in the dataset's accepted topic and returns the last count.
func (w *world) waitAccepted(ctx context.Context, dataset string, want []string, timeout time.Duration) (map[string]int, error) {
	var ids map[string]int
	err := eventually(ctx, timeout, func(ctx context.Context) error {
		var err error
		if ids, err = w.acceptedIDs(ctx, dataset); err != nil {
			return err
		}
		missing := 0
		for _, id := range want {
			if ids[id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged records not in %s", missing, len(want), w.names.Accepted(dataset))
		}
		return nil
	})
	return ids, err
}
