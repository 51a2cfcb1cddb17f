package exchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/api"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
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
	// FutureSkew is how far ahead of the node's clock a record's iat may
	// be (0: ingest.DefaultFutureSkew, 5 minutes).
	FutureSkew time.Duration
}

// Node is one exchange node.
type Node struct {
	p                Parts
	metrics          *prometheus.Registry
	dir              *keys.Directory
	view             *view.View
	log              *audit.Log
	writer           *kafka.Writer
	pipeline         *ingest.Pipeline
	server           *api.Server
	policy           atomic.Pointer[policy.Set]
	ready            atomic.Bool
	lag              prometheus.Gauge
	keyRefreshErrors prometheus.Counter
	keyEventsRefused *prometheus.CounterVec
	keyRefusalAudits refusalBudget
	addr             chan string
	pseud            *pseudonym.Pseudonymizer
	keysOK           atomic.Int64 // unix nanos of the last successful key refresh
	cpMu             sync.Mutex
	cpCache          string
	cpSize           uint64
	applied          *applied                     // offsets each tail has applied
	client           atomic.Pointer[kafka.Client] // set by Run before the tails start

	viewRefused  *prometheus.CounterVec
	auditRefused prometheus.Counter
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
	n := &Node{p: p, metrics: prometheus.NewRegistry(), dir: keys.NewDirectory(), view: view.New(0), log: audit.NewLog(), addr: make(chan string, 1), applied: newApplied()}
	n.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.keyRefreshErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "onevisit_keys_refresh_errors_total", Help: "Failed refreshes of the exchange's key versions from the key backend."})
	n.metrics.MustRegister(n.keyRefreshErrors)
	n.keyEventsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_keys_events_refused_total", Help: "Key events in the keys topic that were skipped: unsigned, badly signed, naming an exchange key, or moving a status backwards."}, []string{"reason"})
	n.metrics.MustRegister(n.keyEventsRefused)
	n.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "onevisit_keys_refresh_age_seconds", Help: "Seconds since the exchange's key versions were last refreshed."}, func() float64 {
		return time.Since(time.Unix(0, n.keysOK.Load())).Seconds()
	}))
	n.viewRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onevisit_view_records_refused_total", Help: "Records read back from an accepted topic that did not verify and were kept out of the view, by dataset and code."}, []string{"dataset", "code"})
	n.metrics.MustRegister(n.viewRefused)
	n.auditRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "onevisit_audit_entries_refused_total", Help: "Messages in the audit topic without a valid node MAC, kept out of the audit log."})
	n.metrics.MustRegister(n.auditRefused)
	n.lag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "onevisit_ingest_consumer_lag", Help: "Messages in the ingest topics not yet fetched by this node."})
	n.metrics.MustRegister(n.lag)
	n.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "onevisit_view_records", Help: "Live records held for queries."}, func() float64 { return float64(n.view.Len()) }))
	n.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "onevisit_audit_entries", Help: "Entries in this node's copy of the audit log."}, func() float64 { return float64(n.log.Size()) }))
	n.policy.Store(p.Policy)
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
	issuer, err := auth.NewIssuer(auth.IssuerConfig{
		Issuer: "onevisit", TokenURL: p.PublicURL + "/v1/token", Audience: "onevisit-api",
		Signer: p.TokenSigner, Keys: n.dir, Clients: p.Clients,
	})
	if err != nil {
		return nil, err
	}
	n.server, err = api.New(api.Deps{
		Auth: issuer, Policy: n.policy.Load, Schemas: p.Schemas, View: n.view, Pseudonym: pseud,
		Ingest: n.pipeline, Audit: n, AuditLog: n, Receipts: p.ReceiptSigner, Keys: n.dir, KeyLog: n, Clients: p.Clients,
		Metrics: n.metrics, Logger: p.Logger, Node: p.Node, Ready: n.readyErr, Fresh: n.keysFresh,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Handler is the node's HTTP handler (API and /metrics).
func (n *Node) Handler() http.Handler { return n.server.Handler() }

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

// Addr waits for the HTTP listener and returns its address.
func (n *Node) Addr(ctx context.Context) (string, error) {
	select {
	case a := <-n.addr:
		n.addr <- a
		return a, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Ready reports whether the node has caught up with the accepted and
// audit topics.
func (n *Node) Ready() bool { return n.ready.Load() }

func (n *Node) readyErr() error {
	if !n.ready.Load() {
		return errors.New("still reading the accepted topics")
	}
	return nil
}

// Write durably appends audit entries (api.Auditor), each with this
// node's MAC.
func (n *Node) Write(ctx context.Context, entries ...audit.Entry) error {
	msgs := make([]kafka.Message, len(entries))
	for i, e := range entries {
		msgs[i] = kafka.Message{Topic: n.p.Kafka.Names.Audit(), Value: e.MarshalCanonical()}
	}
	return n.out.WriteMessages(ctx, msgs...)
}

// Checkpoint signs the audit log's current tree head (api.AuditLog). A
// head is signed once per size.
func (n *Node) Checkpoint(ctx context.Context) (string, error) {
	n.cpMu.Lock()
	defer n.cpMu.Unlock()
	size := n.log.Size()
	if n.cpCache != "" && n.cpSize == size {
		return n.cpCache, nil
	}
	cp := n.log.Checkpoint("onevisit/audit", time.Now())
	tok, err := audit.SignCheckpoint(ctx, n.p.AuditSigner, cp)
	if err != nil {
		return "", err
	}
	n.cpCache, n.cpSize = tok, cp.Size
	return tok, nil
}

// BySubject lists the audit entries about one pseudonym (api.AuditLog).
func (n *Node) BySubject(p string) []audit.IndexedEntry { return n.log.BySubject(p) }

// catchUpLimit bounds how long a request waits for this node's copy of
// the audit log to reach what was durably written before it.
const catchUpLimit = 5 * time.Second

// CatchUp waits until this node has applied every audit entry that was
// durably written before the call (api.AuditLog): it reads the audit
// topic's end offsets (an acknowledged acks=all write lies below them)
// and waits for the tails to reach them. It fails with
// codes.ErrUnavailable after catchUpLimit, or if the node has not
// started its tails.
func (n *Node) CatchUp(ctx context.Context) error {
	cl := n.client.Load()
	if cl == nil {
		return fmt.Errorf("audit catch-up: node not started: %w", codes.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpLimit)
	defer cancel()
	topic := n.p.Kafka.Names.Audit()
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		if err == nil && len(meta.Topics) == 1 {
			err = meta.Topics[0].Error
		}
		return fmt.Errorf("audit catch-up: metadata of %s: %v: %w", topic, err, codes.ErrUnavailable)
	}
	req := make([]kafka.OffsetRequest, 0, len(meta.Topics[0].Partitions))
	for _, p := range meta.Topics[0].Partitions {
		req = append(req, kafka.LastOffsetOf(p.ID))
	}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return fmt.Errorf("audit catch-up: end offsets of %s: %v: %w", topic, err, codes.ErrUnavailable)
	}
	ends := map[int]int64{}
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			return fmt.Errorf("audit catch-up: end offset of %s/%d: %v: %w", topic, po.Partition, po.Error, codes.ErrUnavailable)
		}
		ends[po.Partition] = po.LastOffset
	}
	if len(ends) != len(req) {
		return fmt.Errorf("audit catch-up: %d of %d end offsets of %s: %w", len(ends), len(req), topic, codes.ErrUnavailable)
	}
	return n.applied.wait(ctx, topic, ends)
}

// Run starts the node and blocks until ctx ends. It reads the accepted
// and audit topics to the end before it consumes ingest topics, so its
// duplicate checks see every record accepted before it started.
func (n *Node) Run(ctx context.Context) error {
	defer n.writer.Close()
	lg := n.p.Logger
	datasets := n.p.Schemas.Datasets()
	if n.p.CreateTopics {
		if err := bus.EnsureTopics(ctx, n.p.Kafka, datasets, n.p.Topics); err != nil {
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
	ln := n.p.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", n.p.HTTPAddr); err != nil {
			return fmt.Errorf("exchange: listen %s: %w", n.p.HTTPAddr, err)
		}
	}
	n.addr <- ln.Addr().String()
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	goRun := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	goRun("http", func(context.Context) error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	caught, err := n.startTails(ctx, datasets, goRun)
	if err != nil {
		srv.Close()
		return err
	}
	if n.p.RefreshKeys != nil {
		goRun("key refresh", n.refreshKeys)
	}
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
	select {
	case <-ctx.Done():
	case err = <-errc:
		lg.Error("node stopping", "err", err)
	}
	cancel()
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shutCtx)
	wg.Wait()
	return err
}

// startTails starts one reader per partition of every accepted topic and
// of the audit topic. caught closes when each has reached the end offset
// it had at start.
func (n *Node) startTails(ctx context.Context, datasets []string, goRun func(string, func(context.Context) error)) (<-chan struct{}, error) {
	cl, err := n.p.Kafka.Client()
	if err != nil {
		return nil, err
	}
	n.client.Store(cl)
	names := n.p.Kafka.Names
	topics := []string{names.Audit(), names.Keys()}
	for _, d := range datasets {
		topics = append(topics, names.Accepted(d))
	}
	offs, err := n.endOffsets(ctx, cl, topics)
	if err != nil {
		return nil, err
	}
	var pending sync.WaitGroup
	for topic, parts := range offs {
		for _, po := range parts {
			end := po.LastOffset
			pending.Add(1)
			var once sync.Once
			done := func() { once.Do(pending.Done) }
			if end <= 0 {
				done()
			}
			partition := po.Partition
			apply := func(m kafka.Message) { n.applyAccepted(ctx, m) }
			switch topic {
			case names.Audit():
				apply = n.applyAudit
			case names.Keys():
				// Refusals of events the node read before it started were
				// audited when they were first read.
				apply = func(m kafka.Message) { n.applyKeyEvent(m, m.Offset >= end) }
			}
			goRun("tail "+topic, func(ctx context.Context) error {
				// A tail outlives broker failures: on an error it reopens
				// its reader at the next offset after a backoff.
				next := kafka.FirstOffset
				for attempt := 0; ctx.Err() == nil; attempt++ {
					r, err := n.p.Kafka.PartitionReader(topic, partition, next)
					if err == nil {
						for {
							var m kafka.Message
							if m, err = r.FetchMessage(ctx); err != nil {
								break
							}
							attempt = 0
							apply(m)
							next = m.Offset + 1
							n.applied.advance(topic, partition, next)
							if next >= end {
								done()
							}
						}
						r.Close()
					}
					if ctx.Err() != nil {
						return nil
					}
					n.p.Logger.Warn("tail interrupted; reopening", "topic", topic, "partition", partition, "next_offset", next, "err", err)
					backoff(ctx, attempt)
				}
				return nil
			})
		}
	}
	caught := make(chan struct{})
	go func() { pending.Wait(); close(caught) }()
	return caught, nil
}

// applyAccepted verifies a record read back from an accepted topic and
// installs it in the view. Anyone with a broker credential can write to
// that topic, so nothing in the message is trusted but what verifies: the
// node MAC over topic, key, acceptance time and record; the record's
// signature with a record key its issuer owns (as of that acceptance
// time); its dataset against the topic; the issuer's publisher grant; and
// its subject binding. The view is keyed by the pseudonym of the subject
// the verified record names, never by the message key. A record that fails
// is skipped, counted in onevisit_view_records_refused_total and logged by
// position and code only (its contents may carry identity numbers).
func (n *Node) applyAccepted(ctx context.Context, m kafka.Message) {
	ds, ok := n.p.Kafka.Names.DatasetOf(m.Topic)
	if !ok || m.Value == nil {
		return
	}
	raw := string(m.Value)
	id := string(header(m, "onevisit-record-id"))
	// The value the node MAC covers (the last such header).
	at, _ := strconv.ParseInt(string(header(m, "onevisit-accepted-at")), 10, 64)
	// The view already holds exactly this record under this key: it was
	// verified when it went in (by this tail or this node's pipeline). If
	// it went in as this node's own write, the view learns where it sits
	// in the log (view.Entry.Pos), which orders same-second updates.
	if cur, ok := n.view.Current(ds, string(m.Key)); ok && cur.ID == id && cur.Same(raw) {
		if cur.Pos == 0 && n.acceptedMAC.Load().check(m) {
			n.view.Apply(string(m.Key), cur.At(m.Offset))
		}
		return
	}
	refuse := func(err error) {
		c := codes.Of(err).Name
		if err == errNoNodeMAC {
			c = "no_node_mac"
		}
		n.viewRefused.WithLabelValues(ds, c).Inc()
		n.p.Logger.Warn("record in accepted topic refused; not in the view", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "code", c)
	}
	// Only a node writes accepted topics: its MAC covers the topic, the
	// key, the acceptance time and the record, so nothing produced with a
	// broker credential alone, nor a genuine record replayed under another
	// key or with a back-dated acceptance time, gets further.
	if !n.acceptedMAC.Load().check(m) {
		refuse(errNoNodeMAC)
		return
	}
	if at <= 0 {
		refuse(fmt.Errorf("exchange: accepted record without its acceptance time: %w", record.ErrMalformed))
		return
	}
	sd, _ := n.p.Schemas.Dataset(ds)
	var entry *view.Entry
	var subject string
	if e, ok := n.pipeline.Writing(string(header(m, "onevisit-issuer")), ds, id); ok && e.Same(raw) {
		// This node's pipeline verified these very bytes (signature,
		// dataset, grant, binding) and is writing them now: the subject is
		// in its verified subject disclosure.
		entry, subject = e.At(m.Offset), entrySubject(e, sd.Subject)
	}
	if subject == "" {
		rec, err := record.Verify(raw, keys.AcceptedBefore(n.dir, time.UnixMilli(at)))
		switch {
		case err != nil:
		case rec.Dataset != ds:
			err = fmt.Errorf("exchange: record of %s in the topic of %s: %w", rec.Dataset, ds, codes.ErrDatasetMismatch)
		case !n.policy.Load().MayPublish(rec.Issuer, rec.Dataset).Allowed:
			err = fmt.Errorf("exchange: issuer may not publish %s: %w", ds, codes.ErrNoGrant)
		case rec.SubjectField != sd.Subject:
			err = fmt.Errorf("exchange: sub_field is not %s: %w", sd.Subject, record.ErrNoSubjectBinding)
		default:
			_, subject, err = rec.Subject()
		}
		if err != nil {
			refuse(err)
			return
		}
		entry = view.FromRecord(rec, at).At(m.Offset)
	}
	// The pseudonym key may be unreachable for a while: the record waits
	// (and the tail with it); it is never keyed otherwise.
	for attempt := 0; ; attempt++ {
		pseud, err := n.pseud.Of(ctx, subject)
		if err == nil {
			n.view.Apply(pseud, entry)
			return
		}
		if ctx.Err() != nil {
			return
		}
		n.p.Logger.Warn("pseudonym unavailable; accepted-topic tail waiting", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		backoff(ctx, attempt)
	}
}

// entrySubject is the identifier in the disclosure of field, of an entry
// this node verified; "" if there is none.
func entrySubject(e *view.Entry, field string) string {
	for _, d := range e.Disclosure {
		if d.Name != field {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(d.Encoded)
		var arr []any
		if err != nil || json.Unmarshal(b, &arr) != nil || len(arr) != 3 {
			return ""
		}
		id, _ := arr[2].(string)
		return id
	}
	return ""
}

// applyAudit appends an audit-topic message to the log if an exchange
// node wrote it: its MAC header must match its bytes. Anything else (a
// forged or altered entry produced with a broker credential) never becomes
// a leaf; it is counted in onevisit_audit_entries_refused_total and logged
// by position only.
func (n *Node) applyAudit(m kafka.Message) {
	if err := n.sealer.Load().Check(m.Value, header(m, audit.MACHeader)); err != nil {
		n.auditRefused.Inc()
		n.p.Logger.Warn("message in the audit topic not written by an exchange node; not in the log", "partition", m.Partition, "offset", m.Offset, "err", err)
		return
	}
	n.log.Append(m.Value)
}

// keysFresh fails closed once the key backend has been unreachable for
// longer than the grace period.
func (n *Node) keysFresh() error {
	if n.p.KeyGrace <= 0 {
		return nil
	}
	since := time.Since(time.Unix(0, n.keysOK.Load()))
	if since > n.p.KeyGrace {
		return fmt.Errorf("exchange: key versions last refreshed %s ago, grace %s: %w", since.Round(time.Second), n.p.KeyGrace, codes.ErrKeysStale)
	}
	return nil
}

// refreshKeys re-reads the exchange's key versions on a timer.
func (n *Node) refreshKeys(ctx context.Context) error {
	every := n.p.KeyRefresh
	if every <= 0 {
		every = DefaultKeyRefresh
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ks, err := n.p.RefreshKeys(ctx)
		if err != nil {
			n.keyRefreshErrors.Inc()
			n.p.Logger.Warn("key refresh failed; verifying with cached versions", "err", err, "grace", n.p.KeyGrace)
			continue
		}
		n.applyBackendKeys(ks, time.Now())
		n.keysOK.Store(time.Now().UnixNano())
	}
}

// endOffsets returns the end offset of every partition of topics. Fresh
// topics, elections and broker restarts make Kafka answer with retriable
// errors for a while (no leader yet): those are retried for up to a
// minute; anything else (a missing topic) fails at once.
func (n *Node) endOffsets(ctx context.Context, cl *kafka.Client, topics []string) (map[string][]kafka.PartitionOffsets, error) {
	// Brokers coming back from a restart also answer UNKNOWN_SERVER_ERROR
	// for a moment; that is worth waiting out here too.
	retriable := func(err error) bool { return bus.Retriable(err) || errors.Is(err, kafka.Unknown) }
	var last error
	for attempt := 0; attempt < 30; attempt++ {
		if attempt > 0 {
			n.p.Logger.Warn("end offsets not available yet; retrying", "err", last)
			backoff(ctx, attempt)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			if last = fmt.Errorf("exchange: metadata: %w", err); retriable(err) {
				continue
			}
			return nil, last
		}
		req := map[string][]kafka.OffsetRequest{}
		retry := false
		for _, t := range meta.Topics {
			if t.Error != nil {
				if last = fmt.Errorf("exchange: topic %s: %w (run `onevisit kafka setup`)", t.Name, t.Error); retriable(t.Error) {
					retry = true
					continue
				}
				return nil, last
			}
			for _, p := range t.Partitions {
				req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
			}
		}
		if retry {
			continue
		}
		offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
		if err != nil {
			if last = fmt.Errorf("exchange: list offsets: %w", err); retriable(err) {
				continue
			}
			return nil, last
		}
		for topic, parts := range offs.Topics {
			for _, po := range parts {
				if po.Error != nil {
					last = fmt.Errorf("exchange: offsets of %s/%d: %w", topic, po.Partition, po.Error)
					if !retriable(po.Error) {
						return nil, last
					}
					retry = true
				}
			}
		}
		if !retry {
			return offs.Topics, nil
		}
	}
	return nil, last
}

// consume is the ingest loop: fetch a batch, run it through the pipeline,
// and commit its offsets only after the outcome is durably written. Two
// batches are in flight at once, so one is verified while the other is
// written; offsets are committed strictly in fetch order. A failed write
// is retried with backoff and never skipped; only a batch the brokers
// refuse for its content is split, down to the one record whose outcome
// is dead-lettered without its body (ingest.Pipeline.Deliver).
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
	type inflight struct {
		msgs []kafka.Message
		done chan bool // true when durably processed
	}
	const maxBatch, depth = 512, 2
	queue := make(chan *inflight, depth-1)
	commitErr := make(chan error, 1)
	go func() {
		defer close(commitErr)
		for f := range queue {
			if !<-f.done {
				return // ctx ended before the batch was written: commit nothing more
			}
			// A failed commit (a rebalance moved the partition) only means
			// the batch is redelivered to the partition's next owner, whose
			// duplicate check makes that harmless.
			if err := r.CommitMessages(ctx, f.msgs...); err != nil && ctx.Err() == nil {
				n.p.Logger.Warn("offset commit failed; the batch will be redelivered and deduplicated", "records", len(f.msgs), "err", err)
			}
			n.lag.Set(float64(r.Stats().Lag))
		}
	}()
	defer func() {
		close(queue)
		for range commitErr {
		}
	}()
	for {
		first, err := r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		batch := []kafka.Message{first}
		for len(batch) < maxBatch {
			fctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			m, err := r.FetchMessage(fctx)
			cancel()
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		f := &inflight{msgs: batch, done: make(chan bool, 1)}
		go func() { f.done <- n.processUntilWritten(ctx, batch) }()
		select {
		case queue <- f:
		case err := <-commitErr:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// backoff sleeps 200ms, 400ms, ... up to 5s, or until ctx ends.
func backoff(ctx context.Context, attempt int) {
	select {
	case <-time.After(min(time.Duration(1<<min(attempt, 5))*200*time.Millisecond, 5*time.Second)):
	case <-ctx.Done():
	}
}

// processUntilWritten runs one fetched batch through the pipeline until
// the outcome of every record is durably written (ingest.Pipeline.Deliver:
// outages are waited out, a batch that cannot be written otherwise is
// split and its unwritable record dead-lettered without its body), or ctx
// ends.
func (n *Node) processUntilWritten(ctx context.Context, batch []kafka.Message) bool {
	subs := make([]ingest.Submission, len(batch))
	for i, m := range batch {
		d, _ := n.p.Kafka.Names.DatasetOf(m.Topic)
		subs[i] = ingest.Submission{Raw: string(m.Value), Dataset: d}
	}
	return n.pipeline.Deliver(ctx, subs, n.p.Logger)
}
