package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/onevisit/onevisit/exchange/api"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/citizen"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/webui"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Parts are the loaded, validated pieces a node runs with. Config turns
// a config file into Parts; dev mode builds them directly.
type Parts struct {
	Node     string
	HTTPAddr string
	// Listener, when set, is used instead of listening on HTTPAddr (dev
	// mode listens first so PublicURL can name the real port).
	Listener  net.Listener
	PublicURL string // base URL clients use; the token endpoint is PublicURL+"/v1/token"
	Kafka     bus.Config
	Topics    bus.TopicSpec
	// CreateTopics makes the node create missing topics at start (dev mode,
	// tests). In production `onevisit kafka setup` does it.
	CreateTopics bool
	Schemas      *schemas.Registry
	Policy       *policy.Set
	Clients      *clients.Registry
	// Exchange keys: the token, receipt and audit signers, the pseudonym
	// HMAC, and the public key versions of the exchange's own keys.
	TokenSigner   keys.Signer
	ReceiptSigner keys.Signer
	AuditSigner   keys.Signer
	Pseudonyms    keys.HMACer
	ExchangeKeys  []keys.PublicKey
	// RefreshKeys re-reads the exchange's key versions every KeyRefresh
	// (default 30s); new versions join the key directory. While it fails,
	// the node goes on with what it has for KeyGrace, then fails closed
	// (0: no limit).
	RefreshKeys func(ctx context.Context) ([]keys.PublicKey, error)
	KeyRefresh  time.Duration
	KeyGrace    time.Duration
	Logger      *slog.Logger
	// PolicyApprovals is N, the distinct officers a widening policy
	// change needs (0: policy.DefaultApprovals, 2).
	PolicyApprovals int
	// FutureSkew is how far ahead of the node's clock a record's iat may
	// be (0: ingest.DefaultFutureSkew, 5 minutes).
	FutureSkew time.Duration
	// ViewDir, when set, keeps the view on disk there (config view.dir,
	// see ViewConfig).
	ViewDir string
	// AuditDir, when set, keeps the audit log on disk there (config
	// audit.dir, see AuditConfig).
	AuditDir string
	// LiveTimeout is how long a query of a live dataset waits for the
	// department's answer before source_timeout (0: DefaultLiveTimeout).
	LiveTimeout time.Duration

	// TLSCert and TLSKey, when set, make the listener HTTPS (config keys
	// http.tls_cert, http.tls_key).
	TLSCert, TLSKey string

	// Citizen is the OpenID Connect provider of the citizen page (config
	// key citizen); unset: the /v1/me routes answer 404.
	Citizen citizen.Config
	// DevSignIn, dev mode only, is the development sign-in provider,
	// served under /dev/ (exchange/citizen.DevProvider).
	DevSignIn http.Handler
}

// Node is one exchange node.
type Node struct {
	p                Parts
	metrics          *prometheus.Registry
	dir              *keys.Directory
	view             *view.View
	log              *audit.Log
	writer           *kafka.Writer
	auditWriter      *kafka.Writer // the audit group's (auditgroup.go)
	pipeline         *ingest.Pipeline
	server           *api.Server
	policy           atomic.Pointer[policy.Set]
	ready            atomic.Bool
	lag              prometheus.Gauge
	keyRefreshErrors prometheus.Counter
	keyEventsRefused *prometheus.CounterVec
	keyRefusalAudits refusalBudget
	addr             chan string
	stopped          chan struct{} // closed when Run returns; runErr is its error then
	runErr           error
	pseud            *pseudonym.Pseudonymizer
	keysOK           atomic.Int64  // unix nanos of the last successful key refresh
	applied          *applied      // offsets each tail has applied
	trail            *auditTrail   // the audit topic: writes, read-back, lookups
	gov              *governance   // the control topic: the policy ledger
	live             *liveQueries  // live datasets: request and reply topics
	clients          *clients.Live // the registry file plus the clients enrolled and disabled since
	keyHold          keyHold       // key events held back until the control topic is replayed

	deliver     *deliverer     // subscriptions: deliver.go
	corrections correctionBook // corrections.go

	viewRefused *prometheus.CounterVec
	viewReads   prometheus.Counter // accepted-topic messages read (viewstore.go)
	// sealer MACs every audit entry this node writes and checks those it
	// reads back; set in Run, before any read or write of the audit topic.
	sealer atomic.Pointer[audit.Sealer]
	// acceptedMAC does the same for accepted-topic messages.
	acceptedMAC atomic.Pointer[recordMAC]
	// out is the writer for everything but key events: it adds those MACs
	// on the way out.
	out *sealingWriter
}

// New builds a node; it does no I/O.
func New(p Parts) (*Node, error) {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Node == "" {
		p.Node = DefaultNode
	}
	if err := p.Kafka.Validate(); err != nil {
		return nil, err
	}
	if p.Schemas != nil {
		p.Schemas = p.Schemas.Clone() // this node's own: approved versions are added to it at runtime
	}
	var err error
	n := &Node{p: p, metrics: prometheus.NewRegistry(), dir: keys.NewDirectory(), view: view.New(0), log: audit.NewLog(), addr: make(chan string, 1), stopped: make(chan struct{}), applied: newApplied()}
	n.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	n.keyRefreshErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "onevisit_keys_refresh_errors_total", Help: "Failed refreshes of the exchange's key versions from the key backend."})
	n.metrics.MustRegister(n.keyRefreshErrors)
	n.keyEventsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_keys_events_refused_total", Help: "Key events in the keys topic that were skipped: unsigned, badly signed, naming an exchange key, or moving a status backwards."}, []string{"reason"})
	n.metrics.MustRegister(n.keyEventsRefused)
	n.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "onevisit_keys_refresh_age_seconds", Help: "Seconds since the key backend last answered a refresh of the exchange's key versions; 0 on a node that does not refresh."}, n.keysRefreshAge))
	n.viewRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_view_records_refused_total", Help: "Records read back from an accepted topic that did not verify and were kept out of the view, by dataset and code."}, []string{"dataset", "code"})
	n.metrics.MustRegister(n.viewRefused)
	n.registerViewMetrics()
	auditRefused := prometheus.NewCounter(prometheus.CounterOpts{Name: "onevisit_audit_entries_refused_total", Help: "Messages in the audit topic without a valid node MAC, kept out of the audit log."})
	n.metrics.MustRegister(auditRefused)
	n.lag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "onevisit_ingest_consumer_lag", Help: "Messages in the ingest topics not yet fetched by this node."})
	n.metrics.MustRegister(n.lag)
	n.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "onevisit_view_records", Help: "Live records held for queries."}, func() float64 { return float64(n.view.Len()) }))
	n.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "onevisit_audit_entries", Help: "Entries in this node's copy of the audit log."}, func() float64 { return float64(n.log.Size()) }))
	n.policy.Store(p.Policy)
	n.clients = clients.NewLive(p.Clients)
	if n.gov, err = newGovernance(n.metrics, p.PolicyApprovals); err != nil {
		return nil, err
	}
	if n.deliver, err = newDeliverer(n.metrics); err != nil {
		return nil, err
	}
	n.corrections.byID, n.corrections.changed, n.corrections.tailed = map[string]*correctionState{}, make(chan struct{}), map[string]bool{}
	for _, k := range append(p.Clients.PublicKeys(), p.ExchangeKeys...) {
		if err := n.dir.Add(k); err != nil {
			return nil, fmt.Errorf("exchange: key directory: %w", err)
		}
	}
	// The exchange signs only with versions its directory lists as active.
	p.TokenSigner = activeOnly(p.TokenSigner, n.dir)
	p.ReceiptSigner = activeOnly(p.ReceiptSigner, n.dir)
	p.AuditSigner = activeOnly(p.AuditSigner, n.dir)
	n.p = p
	w, err := p.Kafka.Writer()
	if err != nil {
		return nil, err
	}
	n.writer = w
	n.out = &sealingWriter{w: w, names: p.Kafka.Names, audit: &n.sealer, accepted: &n.acceptedMAC}
	n.trail = &auditTrail{
		names: p.Kafka.Names, out: n.out, log: n.log, signer: p.AuditSigner, dir: n.dir, applied: n.applied,
		sealer: &n.sealer, refused: auditRefused, failed: newAuditWriteErrors(n.metrics), logger: p.Logger,
	}
	// Requests' audit entries go through a group commit (auditgroup.go).
	if n.trail.group, n.auditWriter, err = newAuditGroup(p.Kafka, n.out); err != nil {
		return nil, err
	}
	n.keysOK.Store(time.Now().UnixNano())
	pseud := pseudonym.New(p.Pseudonyms)
	n.pseud = pseud
	n.pipeline, err = ingest.New(ingest.Deps{
		Keys: n.dir, Schemas: p.Schemas, Policy: n.policy.Load, Pseudonym: pseud, View: n.view,
		Writer: n.out, Names: p.Kafka.Names, Node: p.Node, Registry: n.metrics, Fresh: n.keysFresh,
		FutureSkew: p.FutureSkew,
	})
	if err != nil {
		return nil, err
	}
	if n.live, err = newLiveQueries(p, w, p.ReceiptSigner, n.dir, n.metrics); err != nil {
		return nil, err
	}
	issuer, err := auth.NewIssuer(auth.IssuerConfig{
		Issuer: "onevisit", TokenURL: p.PublicURL + "/v1/token", Audience: "onevisit-api",
		Signer: p.TokenSigner, Keys: n.dir, Clients: n.clients,
	})
	if err != nil {
		return nil, err
	}
	var citizens api.Citizens
	if p.Citizen.Enabled() {
		v, err := citizen.NewVerifier(p.Citizen, nil)
		if err != nil {
			return nil, fmt.Errorf("exchange: %w", err)
		}
		citizens = v
	}
	n.server, err = api.New(api.Deps{
		Citizens: citizens,
		Auth:     issuer, Policy: n.policy.Load, Schemas: p.Schemas, View: n.view, Pseudonym: pseud,
		Ingest: n.pipeline, Audit: n.trail, AuditLog: n.trail, Receipts: p.ReceiptSigner, Keys: n.dir, KeyLog: n, Clients: n.clients, Governance: n,
		Metrics: n.metrics, Logger: p.Logger, Node: p.Node, Ready: n.readyErr, Fresh: n.keysFresh, Live: n.live,
		Corrections: n,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Handler is the node's HTTP handler: the API, /metrics, the officer
// console and the citizen page (exchange/webui), and in dev mode the
// development sign-in provider under /dev/.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", n.server.Handler())
	ui := webui.Handler()
	for _, p := range webui.Paths {
		mux.Handle(p, ui)
	}
	if n.p.DevSignIn != nil {
		mux.Handle("/dev/", n.p.DevSignIn)
	}
	return mux
}

// Directory is the node's key directory.
func (n *Node) Directory() *keys.Directory { return n.dir }

// View is the node's materialised view.
func (n *Node) View() *view.View { return n.view }

// AuditLog is the node's copy of the audit log.
func (n *Node) AuditLog() *audit.Log { return n.log }

// Metrics is the node's private Prometheus registry.
func (n *Node) Metrics() *prometheus.Registry { return n.metrics }

// Pseudonym returns the pseudonym the node keys subject by.
func (n *Node) Pseudonym(ctx context.Context, subject string) (string, error) {
	return n.pseud.Of(ctx, subject)
}

// Pipeline is the node's ingest pipeline.
func (n *Node) Pipeline() *ingest.Pipeline { return n.pipeline }

// Addr waits for the HTTP listener and returns its address. A Run that
// ends before it listens (topics it cannot create, keys it cannot read,
// a view it cannot open) ends the wait with Run's error, not with ctx's.
func (n *Node) Addr(ctx context.Context) (string, error) {
	select {
	case a := <-n.addr:
		n.addr <- a
		return a, nil
	case <-n.stopped:
		return "", fmt.Errorf("exchange: node stopped before it listened: %w", n.runErr)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// CatchingUp lists the partitions a node that is not ready yet has still
// to read up to where they ended when it started, as "topic/partition
// next/end": what a start that takes too long is waiting for.
func (n *Node) CatchingUp() []string { return n.applied.behindStart() }

// Ready reports whether the node has caught up with the accepted and
// audit topics.
func (n *Node) Ready() bool { return n.ready.Load() }

func (n *Node) readyErr() error {
	if !n.ready.Load() {
		return errors.New("still reading the accepted topics")
	}
	return nil
}

// Run starts the node and blocks until ctx ends. It reads the accepted
// and audit topics to the end before it consumes ingest topics, so its
// duplicate checks see every record accepted before it started.
func (n *Node) Run(ctx context.Context) (err error) {
	defer func() { n.runErr = err; close(n.stopped) }()
	defer n.writer.Close()
	defer n.auditWriter.Close()
	lg := n.p.Logger
	datasets := n.p.Schemas.Datasets()
	if n.p.CreateTopics {
		spec := n.p.Topics
		// Delivery topics (deliver.go) and correction inboxes (corrections.go).
		spec.Subscribers = append(spec.Subscribers, DeliveryConsumers(n.p.Policy, n.p.Clients)...)
		spec.Publishers = append(spec.Publishers, n.p.Policy.AllPublishers()...)
		if err := bus.EnsureTopics(ctx, n.p.Kafka, datasets, spec); err != nil {
			return err
		}
	}
	// The MAC keys, before the audit and accepted topics are read or
	// written.
	sealer, err := audit.NewSealer(ctx, n.p.Pseudonyms)
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	n.sealer.Store(sealer)
	am, err := newRecordMAC(ctx, n.p.Pseudonyms)
	if err != nil {
		return err
	}
	n.acceptedMAC.Store(am)
	if err := n.openViewStore(ctx); err != nil {
		return err
	}
	defer n.view.Close()
	if err := n.openAuditStore(); err != nil {
		return err
	}
	defer n.log.Close()
	ln := n.p.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", n.p.HTTPAddr); err != nil {
			return fmt.Errorf("exchange: listen %s: %w", n.p.HTTPAddr, err)
		}
	}
	if n.p.TLSCert != "" || n.p.TLSKey != "" {
		tln, err := tlsListener(ln, n.p.TLSCert, n.p.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("exchange: %w", err)
		}
		ln = tln
	}
	n.addr <- ln.Addr().String()
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(lg.Handler(), slog.LevelWarn)} // TLS handshake and connection errors, in the node's log format
	// The node's loops run in one group: the first that fails stops the
	// others (and Run returns its error); when ctx ends they all return
	// nil. A tail or the ingest loop that loses the brokers reopens after
	// a backoff: that is not a failure of the group.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	n.live.start(gctx)
	goRun := func(name string, fn func(context.Context) error) {
		g.Go(func() error {
			if err := fn(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	goRun("http", func(context.Context) error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(shutCtx)
		return nil
	})
	caught, err := n.startTails(gctx, g, datasets)
	if err != nil {
		cancel()
		_ = g.Wait()
		return err
	}
	n.tailCorrections(gctx)
	if n.p.RefreshKeys != nil {
		goRun("key refresh", n.refreshKeys)
	}
	goRun("delivery", func(ctx context.Context) error { return n.runDelivery(ctx, caught, datasets) })
	goRun("ingest", func(ctx context.Context) error {
		select {
		case <-caught:
		case <-ctx.Done():
			return nil
		}
		n.ready.Store(true)
		lg.Info("caught up", "node", n.p.Node, "records", n.view.Len(), "audit_entries", n.log.Size())
		// The ingest loop outlives broker failures too: it rejoins the
		// group (resuming at the committed offsets) after a backoff.
		for attempt := 0; ctx.Err() == nil; attempt++ {
			err := n.consume(ctx, datasets)
			if ctx.Err() != nil {
				return nil
			}
			lg.Warn("ingest loop interrupted; rejoining the group", "err", err)
			backoff(ctx, attempt)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		lg.Error("node stopping", "err", err)
		return err
	}
	return nil
}

// consume opens a consumer-group reader on the ingest topics of datasets
// and runs the ingest loop on it (ingest.Consumer) until it fails or ctx
// ends.
func (n *Node) consume(ctx context.Context, datasets []string) error {
	topics := make([]string, len(datasets))
	for i, d := range datasets {
		topics[i] = n.p.Kafka.Names.Ingest(d)
	}
	r, err := n.p.Kafka.GroupReader(n.p.Kafka.Names.Group(), topics)
	if err != nil {
		return err
	}
	defer r.Close()
	c := &ingest.Consumer{Pipeline: n.pipeline, Reader: r, Lag: n.lag, Logger: n.p.Logger}
	return c.Run(ctx)
}
