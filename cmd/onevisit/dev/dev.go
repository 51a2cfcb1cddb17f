// Package dev is OneVisit's embedded dev mode: everything in one process
// on one machine. It starts
//
//   - an embedded Kafka-protocol broker (github.com/twmb/franz-go/pkg/kfake)
//     on a loopback port, so outside Kafka clients (kcat) can attach; with a
//     data directory it keeps its log there, so a restart keeps every
//     accepted record. It compacts the accepted topics every 30 s;
//   - the exchange node (HTTP API, ingest, views, audit);
//   - the sample clients, whose keys are generated at first start and kept
//     under DIR/clients/<client>.json (0600; private keys: never commit
//     them), with the public halves in DIR/registry.json;
//   - the exchange's own keys, in a file keystore under DIR/keys;
//   - eight sample publisher connectors (household, tax, property, birth,
//     marriage, social insurance, business licences, death) and the sample
//     consent service (consent-service, role consent, which alone may
//     publish the consent dataset) that load the CSV files shipped in
//     connectors/samples through Kafka; the procedure services of the
//     seed procedure catalogue (policy/examples/procedures.yaml), whose
//     case bundles (POST /v1/cases, `onevisit case`) the banner shows; and
//     the three Tell-Us-Once subscribers the death record is delivered to
//     (pension-service, social-insurance-service, household-deregistration;
//     policy/examples/death.yaml, Env.Subscriber). Loading is idempotent, so a restart
//     republishes and the exchange answers "duplicate";
//   - the live-query example (live.go): the tax bureau's responder
//     answers the live dataset tax_certificate from the sample tax.csv
//     (Env.Live; StartResponder runs others). Start returns once
//     the samples are written to the ingest topics; it never waits for the
//     exchange to process them, so whatever else sits in an ingest topic
//     cannot keep dev mode from starting.
//
// It is not a production deployment: one broker, no replication, keys in
// files. `onevisit serve` runs a node against a real cluster.
//
// Dev mode is a composition root, like the CLI and the benchmark: it sits
// next to the binary and wires the exchange and the connectors together;
// nothing in exchange/, connectors/, schemas/ or policy/ imports it. Its
// tests are the end-to-end and attack suites (on kfake, and against a real
// cluster when ONEVISIT_KAFKA_BROKERS is set).
package dev

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/citizen"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Dev mode's own defaults (the node's are in package exchange).
const (
	// DefaultKafkaAddr is where the embedded broker listens (--kafka).
	DefaultKafkaAddr = "127.0.0.1:9092"
	// DefaultDataDir keeps the broker's log, keys and credentials (--data).
	DefaultDataDir = "./.onevisit"
)

// Options configure dev mode.
type Options struct {
	HTTPAddr  string // default exchange.DefaultHTTPAddr
	KafkaAddr string // default DefaultKafkaAddr
	DataDir   string // default DefaultDataDir; "" with Ephemeral keeps nothing on disk
	// Ephemeral keeps the broker's log in memory (tests).
	Ephemeral bool
	// Kafka, when set, is an outside cluster to use instead of the
	// embedded broker (see KafkaFromEnv); Topics lays out its topics.
	Kafka  *bus.Config
	Topics bus.TopicSpec
	// Keys, when set, keeps the exchange's own keys where it says (e.g.
	// Vault transit) instead of the file keystore under DataDir/keys.
	Keys *exchange.KeysConfig
	// PolicyApprovals is N, the officers a widening policy change needs
	// (0: 2).
	PolicyApprovals int
	// SkipSamples leaves the sample CSVs unpublished.
	SkipSamples bool
	Logger      *slog.Logger
	// Banner receives the start-up banner; nil prints nothing.
	Banner io.Writer

	// TLSCert and TLSKey, when set, make the node's listener HTTPS (as
	// http.tls_cert and http.tls_key do for serve); BaseURL is https.
	TLSCert, TLSKey string
}

// Client describes one sample client.
type Client struct {
	ID       string
	Role     string
	Name     string
	Datasets []string
	Purposes []string
}

// SampleClients are the clients dev mode creates.
var SampleClients = []Client{
	{ID: "public-security", Role: "publisher", Name: "Public Security Bureau (household registration)", Datasets: []string{"household"}},
	{ID: "tax-bureau", Role: "publisher", Name: "Tax Bureau", Datasets: []string{"tax"}},
	{ID: "natural-resources", Role: "publisher", Name: "Natural Resources Bureau (property registration)", Datasets: []string{"property"}},
	{ID: "school-enrolment", Role: "consumer", Name: "School enrolment service", Purposes: []string{"school_enrolment"}},
	{ID: "newborn-registration", Role: "consumer", Name: "Newborn registration service", Purposes: []string{"newborn_registration"}},
	{ID: "property-transfer", Role: "consumer", Name: "Property transfer service", Purposes: []string{"property_transfer"}},
	{ID: "security-officer", Role: "officer", Name: "Security officer"},
	{ID: "consent-service", Role: "consent", Name: "Citizen consent service", Datasets: []string{"consent"}},
	// A second officer: a widening policy change needs two.
	{ID: "security-reviewer", Role: "officer", Name: "Security reviewer"},
	// The departments and services of the reform's procedures
	// (policy/examples/departments.yaml, procedures.yaml), and of Tell Us
	// Once (policy/examples/death.yaml: civil affairs also registers
	// deaths, and the pension service also ends pensions at death).
	{ID: "hospital", Role: "publisher", Name: "Hospital (medical birth certificates)", Datasets: []string{"birth"}},
	{ID: "civil-affairs", Role: "publisher", Name: "Civil Affairs Bureau (marriage and death registration)", Datasets: []string{"marriage", "death"}},
	{ID: "social-security", Role: "publisher", Name: "Human Resources and Social Security Bureau (social insurance)", Datasets: []string{"social_insurance"}},
	{ID: "market-regulation", Role: "publisher", Name: "Market Regulation Bureau (business licences)", Datasets: []string{"business_licence"}},
	{ID: "marriage-registration", Role: "consumer", Name: "Marriage registration service", Purposes: []string{"marriage_registration"}},
	{ID: "employment-service", Role: "consumer", Name: "Employment and social insurance enrolment service", Purposes: []string{"employment"}},
	{ID: "medical-insurance", Role: "consumer", Name: "Medical insurance reimbursement service", Purposes: []string{"medical_insurance_reimbursement"}},
	{ID: "pension-service", Role: "consumer", Name: "Pension service (claims; ending a pension at death)", Purposes: []string{"pension_claim", "pension_termination"}},
	{ID: "company-registration", Role: "consumer", Name: "Company establishment and cancellation service", Purposes: []string{"company_establishment", "company_cancellation"}},
	{ID: "death-registration", Role: "consumer", Name: "Death registration and funeral service", Purposes: []string{"death_registration"}},
	{ID: "social-insurance-service", Role: "consumer", Name: "Social insurance service (closing an enrolment at death)", Purposes: []string{"social_insurance_termination"}},
	{ID: "household-deregistration", Role: "consumer", Name: "Household deregistration (public security)", Purposes: []string{"household_deregistration"}},
}

// Env is a running dev environment.
type Env struct {
	Cluster *bus.Embedded
	Node    *exchange.Node
	DataDir string
	Brokers []string
	BaseURL string
	Kafka   bus.Config
	Schemas *schemas.Registry
	// Live is the live-query example's responder (live.go), running
	// unless SkipSamples.
	Live      *Responder
	done      chan error
	cancel    context.CancelFunc
	closeKeys func()
	ownsData  bool
	keys      exchange.KeysConfig
	topics    bus.TopicSpec
	approvals int
	logger    *slog.Logger
	signIn    *citizen.DevProvider // the development sign-in provider (signin.go)
}

// Start brings dev mode up and returns when the node answers queries and
// the samples are written to the ingest topics (not yet processed: the
// exchange takes them in as it goes; see the rejected topics if not).
func Start(ctx context.Context, o Options) (*Env, error) {
	if o.HTTPAddr == "" {
		o.HTTPAddr = exchange.DefaultHTTPAddr
	}
	if o.KafkaAddr == "" {
		o.KafkaAddr = DefaultKafkaAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	env := &Env{DataDir: o.DataDir, done: make(chan error, 1)}
	// Whatever fails below, everything started so far is released: the
	// node, the listener, the keys, the broker and an ephemeral data
	// directory (it holds private keys).
	var ln net.Listener
	ok := false
	defer func() {
		if !ok {
			if ln != nil && env.Node == nil {
				ln.Close()
			}
			env.Close()
		}
	}()
	if env.DataDir == "" {
		if !o.Ephemeral {
			env.DataDir = DefaultDataDir
		} else {
			d, err := os.MkdirTemp("", "onevisit-dev-")
			if err != nil {
				return nil, err
			}
			env.DataDir, env.ownsData = d, true
		}
	}
	if err := os.MkdirAll(env.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("dev: data dir: %w", err)
	}
	// The directory holds private keys and the broker's log (every
	// record's disclosures): close it to other users even if it existed.
	if err := os.Chmod(env.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("dev: data dir: %w", err)
	}
	if o.Kafka != nil {
		env.Kafka = *o.Kafka
		env.Brokers = env.Kafka.Brokers
	} else if err := env.startBroker(o); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("dev: --http %s: %w", o.HTTPAddr, err)
	}
	kc := exchange.KeysConfig{Dir: filepath.Join(env.DataDir, "keys")}
	if o.Keys != nil {
		kc = *o.Keys
	}
	kc = kc.WithDefaults()
	env.keys, env.topics, env.logger, env.approvals = kc, o.Topics, o.Logger, o.PolicyApprovals
	kb, err := exchange.OpenKeys(ctx, kc, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("dev: keys: %w", err)
	}
	env.closeKeys = kb.Close
	parts, err := Parts(env.DataDir, env.Kafka, ln.Addr().String(), kb, o.Logger)
	if err != nil {
		return nil, err
	}
	parts.Listener = ln
	scheme := "http://"
	if o.TLSCert != "" || o.TLSKey != "" {
		parts.TLSCert, parts.TLSKey = o.TLSCert, o.TLSKey
		scheme = "https://"
		parts.PublicURL = scheme + ln.Addr().String()
	}
	parts.KeyRefresh, parts.KeyGrace = kc.Refresh, kc.Grace
	parts.Topics, parts.PolicyApprovals = o.Topics, o.PolicyApprovals
	// The view lives on disk beside the broker's log and lasts as long as
	// it: an ephemeral broker starts empty, so its view does too.
	parts.ViewDir = filepath.Join(env.DataDir, "view")
	parts.AuditDir = filepath.Join(env.DataDir, "audit-log") // emptied at every start
	if o.Ephemeral {
		if err := os.RemoveAll(parts.ViewDir); err != nil {
			return nil, fmt.Errorf("dev: view dir: %w", err)
		}
	}
	if env.signIn, err = devSignIn(&parts); err != nil {
		return nil, err
	}
	env.Schemas = parts.Schemas
	node, err := exchange.New(parts)
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	env.Node = node
	runCtx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	go func() { env.done <- env.Node.Run(runCtx) }()
	addr, err := env.Node.Addr(ctx)
	if err != nil {
		return nil, err
	}
	env.BaseURL = scheme + addr
	if err := env.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := env.writeCredentialsURLs(); err != nil {
		return nil, err
	}
	if !o.SkipSamples {
		if err := env.PublishSamples(ctx); err != nil {
			return nil, err
		}
		if err := env.startLive(); err != nil {
			return nil, err
		}
	}
	if o.Banner != nil {
		env.banner(o.Banner)
		if env.Live != nil {
			env.liveBanner(o.Banner)
		}
	}
	ok = true
	return env, nil
}

// startBroker starts the embedded Kafka-protocol broker.
func (e *Env) startBroker(o Options) error {
	_, portStr, err := net.SplitHostPort(o.KafkaAddr)
	if err != nil {
		return fmt.Errorf("dev: --kafka %q: %w", o.KafkaAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("dev: --kafka %q: bad port", o.KafkaAddr)
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1), kfake.Ports(port), kfake.ClusterID("onevisit-dev"),
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": "30000"}),
	}
	if !o.Ephemeral {
		kopts = append(kopts, kfake.DataDir(filepath.Join(e.DataDir, "kafka")))
	}
	if e.Cluster, err = bus.StartEmbedded(kopts...); err != nil {
		return fmt.Errorf("dev: embedded broker on %s: %w", o.KafkaAddr, err)
	}
	e.Brokers = e.Cluster.Brokers()
	e.Kafka = bus.Config{Brokers: e.Brokers, ClientID: "onevisit-dev"}
	return nil
}

// KafkaFromEnv returns an outside cluster from ONEVISIT_KAFKA_BROKERS
// (comma separated), ONEVISIT_KAFKA_SASL_MECHANISM, ONEVISIT_KAFKA_USER
// and ONEVISIT_KAFKA_PASSWORD, with topics in namespace ns, and the topic
// layout for it (replication min(3, brokers)). ok is false when
// ONEVISIT_KAFKA_BROKERS is unset: use the embedded broker.
func KafkaFromEnv(ns string) (c *bus.Config, spec bus.TopicSpec, ok bool) {
	brokers := bus.BrokersFromEnv()
	if len(brokers) == 0 {
		return nil, spec, false
	}
	kc := bus.FromEnv(brokers, "onevisit-test")
	kc.Names = bus.Names(ns)
	spec.ReplicationFactor = min(3, len(brokers))
	return &kc, spec, true
}

func (e *Env) waitReady(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !e.Node.Ready() {
		select {
		case err := <-e.done:
			e.done <- err
			return fmt.Errorf("dev: node stopped: %w", err)
		case <-ctx.Done():
			return notReady(e.Node, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// notReady is the error of a start that ended before node was ready: it
// names the partitions the node was still reading.
func notReady(node *exchange.Node, err error) error {
	return fmt.Errorf("dev: node not ready, still reading %v: %w", node.CatchingUp(), err)
}

// Done delivers the node's exit error.
func (e *Env) Done() <-chan error { return e.done }

// Close stops the node and the broker. Safe to call twice.
func (e *Env) Close() {
	if e.Live != nil {
		e.Live.Stop()
	}
	if e.cancel != nil {
		e.cancel()
		e.done <- <-e.done // keep the exit error for Done
		e.cancel = nil
	}
	if e.closeKeys != nil {
		e.closeKeys()
		e.closeKeys = nil
	}
	if e.Cluster != nil {
		e.Cluster.Close()
		e.Cluster = nil
	}
	if e.ownsData {
		os.RemoveAll(e.DataDir)
		e.ownsData = false
	}
}

// Credentials loads a sample client's credentials.
func (e *Env) Credentials(client string) (*connectors.Credentials, error) {
	return connectors.LoadCredentials(filepath.Join(e.DataDir, "clients", client+".json"))
}

// Client returns an authenticated HTTP client acting as a sample client.
func (e *Env) Client(client string) (*connectors.Client, error) {
	c, err := e.Credentials(client)
	if err != nil {
		return nil, err
	}
	s, err := c.AuthSigner()
	if err != nil {
		return nil, err
	}
	return &connectors.Client{BaseURL: e.BaseURL, ClientID: c.ClientID, Auth: s}, nil
}

// Publisher returns a sample publisher's connector for dataset, sending
// through Kafka (via "kafka") or the HTTP API (via "http").
func (e *Env) Publisher(client, dataset, via string) (*connectors.Publisher, func(), error) {
	c, err := e.Credentials(client)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.RecordSigner()
	if err != nil {
		return nil, nil, err
	}
	ds, ok := e.Schemas.Dataset(dataset)
	if !ok {
		return nil, nil, fmt.Errorf("dev: unknown dataset %q", dataset)
	}
	p := &connectors.Publisher{Issuer: c.ClientID, Dataset: dataset, Schema: ds.Latest, SubjectField: ds.Subject, Signer: s}
	switch via {
	case "kafka":
		w, err := e.Kafka.Writer()
		if err != nil {
			return nil, nil, err
		}
		p.Sink = connectors.KafkaSink{Writer: w, Names: e.Kafka.Names}
		return p, func() { w.Close() }, nil
	case "http":
		cl, err := e.Client(client)
		if err != nil {
			return nil, nil, err
		}
		p.Sink = connectors.HTTPSink{Client: cl}
		return p, func() {}, nil
	}
	return nil, nil, fmt.Errorf("dev: via %q: want kafka or http", via)
}

// SampleItems reads a dataset's sample CSV (the live example's dataset:
// the file its responder answers from).
func (e *Env) SampleItems(dataset string) ([]connectors.Item, error) {
	name := dataset + ".csv"
	if dataset == LiveDataset {
		name = liveSample
	}
	f, err := samples.FS.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ds, _ := e.Schemas.Dataset(dataset)
	return connectors.ReadCSV(f, e.Schemas, ds.Latest)
}

// PublishSamples loads every sample CSV through Kafka, as its department
// would. It returns when the records are durably in the ingest topics and
// does not wait for the exchange to process them: one bad message ahead
// of them must not keep dev mode from starting.
func (e *Env) PublishSamples(ctx context.Context) error {
	for _, c := range SampleClients {
		for _, d := range c.Datasets {
			if _, err := e.publishSample(ctx, c.ID, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// PublishSampleDatasets publishes the sample CSVs of datasets through
// Kafka as PublishSamples does, each by the sample client that holds it,
// and returns how many records it published. It does not wait for the
// exchange to process them either.
func (e *Env) PublishSampleDatasets(ctx context.Context, datasets ...string) (int, error) {
	n := 0
	for _, d := range datasets {
		i := slices.IndexFunc(SampleClients, func(c Client) bool { return slices.Contains(c.Datasets, d) })
		if i < 0 {
			return n, fmt.Errorf("dev: no sample client publishes %s", d)
		}
		k, err := e.publishSample(ctx, SampleClients[i].ID, d)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// publishSample publishes the sample CSV of dataset as client and returns
// how many records it published.
func (e *Env) publishSample(ctx context.Context, client, dataset string) (int, error) {
	items, err := e.SampleItems(dataset)
	if err != nil {
		return 0, fmt.Errorf("dev: samples %s: %w", dataset, err)
	}
	p, closeFn, err := e.Publisher(client, dataset, "kafka")
	if err != nil {
		return 0, err
	}
	_, _, err = p.Publish(ctx, items)
	closeFn()
	if err != nil {
		return 0, fmt.Errorf("dev: publish samples %s: %w", dataset, err)
	}
	return len(items), nil
}

func (e *Env) banner(w io.Writer) {
	child := samples.ChildResidentID
	fmt.Fprintf(w, `
OneVisit dev mode is running.
  Embedded Kafka-protocol broker (kfake, in this process; not a production cluster): %s
  Exchange HTTP API: %s   (OpenAPI: %s/openapi.json, metrics: %s/metrics)
  Data directory: %s   (client credentials in %s/clients/*.json — private keys, never commit)

Try it (a school-enrolment service asks for a child's household record):
  go run ./cmd/onevisit query --credentials %s/clients/school-enrolment.json \
      --dataset household --subject %s --purpose school_enrolment --case-id SE-2026-0001

Or with curl:
  TOKEN=$(go run ./cmd/onevisit token --credentials %s/clients/school-enrolment.json)
  curl -s %s/v1/query -H "Authorization: Bearer $TOKEN" \
      -d '{"dataset":"household","subject":"%s","purpose":"school_enrolment","case_id":"SE-2026-0001"}'

One call per procedure (procedures: %s/v1/procedures): a newborn registration gathers the
child's birth certificate and both parents' households and marriage records, each verified:
  go run ./cmd/onevisit case --credentials %s/clients/newborn-registration.json \
      --procedure newborn_registration --case-id NB-2026-0001 \
      --subject child=%s --subject father=%s --subject mother=%s
A company establishment, keyed by the company's unified social credit code:
  go run ./cmd/onevisit case --credentials %s/clients/company-registration.json \
      --procedure company_establishment --case-id CE-2026-0001 \
      --subject company=%s --subject legal_representative=%s

In the browser:
  Officer console: %s/console/   (go run ./cmd/onevisit console --credentials %s/clients/security-officer.json)
  Citizen page:    %s/me/        (development sign-in for the sample residents: %s%s/)

Press Ctrl-C to stop.
`, e.Brokers[0], e.BaseURL, e.BaseURL, e.BaseURL, e.DataDir, e.DataDir, e.DataDir, child, e.DataDir, e.BaseURL, child,
		e.BaseURL, e.DataDir, child, samples.GuardianResidentID, samples.MotherResidentID,
		e.DataDir, samples.NewCompanyCreditCode, samples.MotherResidentID,
		e.BaseURL, e.DataDir, e.BaseURL, e.BaseURL, DevSignInPath)
}

// Parts builds a node's parts for dev mode from the data directory and
// the exchange's keys, creating the sample clients at first start.
func Parts(dataDir string, kc bus.Config, httpAddr string, kb exchange.KeyBackend, lg *slog.Logger) (exchange.Parts, error) {
	reg, err := schemas.Default()
	if err != nil {
		return exchange.Parts{}, err
	}
	pol, err := policy.Default(reg)
	if err != nil {
		return exchange.Parts{}, err
	}
	cl, err := ensureClients(dataDir)
	if err != nil {
		return exchange.Parts{}, err
	}
	return exchange.Parts{
		Node: "dev-1", HTTPAddr: httpAddr, PublicURL: "http://" + httpAddr, Kafka: kc, CreateTopics: true,
		Schemas: reg, Policy: pol, Clients: cl,
		TokenSigner: kb.Token, ReceiptSigner: kb.Receipt, AuditSigner: kb.Audit, Pseudonyms: kb.Pseudonyms, ExchangeKeys: kb.Public,
		RefreshKeys: kb.Refresh, Logger: lg,
	}, nil
}

// Prepare creates, under dataDir, the sample clients' credentials
// (clients/<client>.json, 0600) and the public registry (registry.json)
// that `onevisit serve` names in its config, without starting anything.
// Existing credentials are kept.
func Prepare(dataDir string) (*clients.Registry, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return ensureClients(dataDir)
}

// ensureClients creates missing sample credentials and (re)writes the
// public registry.
func ensureClients(dataDir string) (*clients.Registry, error) {
	dir := filepath.Join(dataDir, "clients")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var cs []clients.Client
	var pub []keys.PublicKey
	for _, sc := range SampleClients {
		path := filepath.Join(dir, sc.ID+".json")
		cred, err := connectors.LoadCredentials(path)
		if errors.Is(err, fs.ErrNotExist) {
			cred, err = newCredentials(sc)
			if err == nil {
				err = writeJSON(path, cred)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("dev: client %s: %w", sc.ID, err)
		}
		cs = append(cs, clients.Client{ID: sc.ID, Role: sc.Role, Name: sc.Name, Datasets: sc.Datasets, Purposes: sc.Purposes})
		for use, jwk := range map[keys.Use]json.RawMessage{keys.UseAuth: cred.AuthKey, keys.UseRecord: cred.SigningKey} {
			if len(jwk) == 0 {
				continue
			}
			kid, k, err := connectors.PublicKey(jwk)
			if err != nil {
				return nil, fmt.Errorf("dev: client %s: %w", sc.ID, err)
			}
			pub = append(pub, keys.PublicKey{KID: kid, Owner: sc.ID, Use: use, Key: k, Status: keys.Active})
		}
	}
	b, err := clients.Marshal(cs, pub)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, "registry.json"), b, 0o600); err != nil {
		return nil, err
	}
	return clients.Parse(b)
}

func newCredentials(sc Client) (*connectors.Credentials, error) {
	c := &connectors.Credentials{ClientID: sc.ID, Role: sc.Role, Name: sc.Name, Datasets: sc.Datasets, Purposes: sc.Purposes}
	var err error
	if c.AuthKey, err = newJWK(sc.ID + "-auth#1"); err != nil {
		return nil, err
	}
	if sc.Role == "publisher" || sc.Role == "consent" {
		if c.SigningKey, err = newJWK(sc.ID + "-record#1"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func newJWK(kid string) (json.RawMessage, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return keys.MarshalPrivateJWK(kid, k)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// writeCredentialsURLs records where this dev run listens in every
// credentials file, so the CLI finds the exchange from a file alone.
func (e *Env) writeCredentialsURLs() error {
	for _, sc := range SampleClients {
		path := filepath.Join(e.DataDir, "clients", sc.ID+".json")
		c, err := connectors.LoadCredentials(path)
		if err != nil {
			return err
		}
		c.ExchangeURL, c.KafkaBrokers = e.BaseURL, e.Brokers
		if err := writeJSON(path, c); err != nil {
			return err
		}
	}
	return nil
}

// Node is one more exchange node of a dev environment (StartNode).
type Node struct {
	*exchange.Node
	BaseURL string
	cancel  context.CancelFunc
	done    chan error
	close   func()
}

// Close stops the node. Safe to call twice.
func (n *Node) Close() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.close()
		n.cancel = nil
	}
}

// StartNode starts another exchange node named name on the same broker,
// keys and clients, listening on a free loopback port, and returns when
// it has caught up: a second node for tests of what every node must
// agree on (the control plane).
func (e *Env) StartNode(ctx context.Context, name string) (*Node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	kb, err := exchange.OpenKeys(ctx, e.keys, e.logger)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("dev: keys: %w", err)
	}
	parts, err := Parts(e.DataDir, e.Kafka, ln.Addr().String(), kb, e.logger)
	if err != nil {
		ln.Close()
		kb.Close()
		return nil, err
	}
	parts.Node, parts.Listener, parts.Topics, parts.PolicyApprovals = name, ln, e.topics, e.approvals
	// A node of its own has a view of its own, built from the log.
	parts.ViewDir = filepath.Join(e.DataDir, "view-"+name)
	parts.AuditDir = filepath.Join(e.DataDir, "audit-log-"+name)
	if err := os.RemoveAll(parts.ViewDir); err != nil {
		ln.Close()
		kb.Close()
		return nil, fmt.Errorf("dev: view dir: %w", err)
	}
	parts.KeyRefresh, parts.KeyGrace = e.keys.Refresh, e.keys.Grace
	if _, err := devSignIn(&parts); err != nil {
		ln.Close()
		kb.Close()
		return nil, err
	}
	node, err := exchange.New(parts)
	if err != nil {
		ln.Close()
		kb.Close()
		return nil, fmt.Errorf("dev: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n := &Node{Node: node, BaseURL: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1), close: kb.Close}
	go func() { n.done <- node.Run(runCtx) }()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !node.Ready() {
		select {
		case err := <-n.done:
			cancel()
			kb.Close()
			return nil, fmt.Errorf("dev: node %s stopped: %w", name, err)
		case <-ctx.Done():
			err := notReady(node, ctx.Err())
			n.Close()
			return nil, err
		case <-t.C:
		}
	}
	return n, nil
}
