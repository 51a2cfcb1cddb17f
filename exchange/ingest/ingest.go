// Package ingest is the exchange's acceptance pipeline. A submitted record
// is accepted only when, in this order:
//
//  1. it is at most record.MaxSize bytes and parses as a OneVisit record;
//  2. its signature verifies with a record key owned by its issuer
//     (record.Verify), and that key version was not revoked before now;
//  3. its dataset claim names the topic or URL it came through, and an
//     authenticated HTTP publisher is its issuer;
//  4. a PublisherGrant lets the issuer publish the dataset;
//  5. its record id is a plain token (letters, digits, . _ : -; at most
//     128; no identity number or credit code anywhere inside, valid check
//     character or not: schemas.ContainsIdentity; a refused id is never
//     echoed in the result, dead letter or audit entry), its iat is at
//     most Deps.FutureSkew (default 5 minutes) ahead of the exchange's
//     clock (iat_in_future), the schema it names is a version of its
//     dataset (schema_not_of_dataset), and its fields validate against
//     that schema version; its sub_field claim names the dataset's subject
//     field (the subject binding); a delete discloses exactly the subject
//     field;
//  6. it is not a replay (the same issuer, dataset and record id: record
//     ids are the publisher's own, so another department's record with
//     the same id is another record) and not issued in an earlier second
//     than what the view holds for the subject. Of two records issued in
//     the same second, the later one in the log wins (see package view).
//
// Accepted records go to the dataset's compacted accepted topic keyed by
// the subject's pseudonym (a keyed HMAC, never the identity number; the
// node's writer adds its MAC, see package exchange);
// rejected ones go to the dead-letter topic with a stable code; every
// decision goes to the audit topic, under the party that authenticated
// (the HTTP publisher, or the issuer whose signature verified): input
// whose signature does not verify is audited with no actor and no record
// id, never under the issuer it claims. Process returns only when all of that
// is durably written (acks from all in-sync replicas), so "accepted" means
// written. One bad record never sinks the batch: its result says why and
// the others go on.
//
// A dead letter is the JSON of the wire.Result plus dataset, publisher (HTTP
// only), received_at, and of the submission: record_bytes (its size),
// record_sha256 (hex), record (its first DeadLetterHead bytes, 4 KiB) and
// record_truncated (true when record is not all of it). It never carries
// more, so junk of any size cannot make the dead letter itself too large
// to write; the digest matches it to the department's copy.
//
// Deliver is the retry loop of a consumer. A batch whose outcome a broker
// refuses for what it holds (too large, corrupt, invalid) is split after
// WriteAttempts, and a single submission whose outcome cannot be written
// even alone is dead-lettered without its body (code unwritable) and
// audited, so ingest always moves on; each such record counts in
// onevisit_ingest_unwritable_total: alert on any increase. Any other
// failure is an outage (brokers, replicas, the key service away): Deliver
// waits it out and never skips or dead-letters a record for it.
//
// Consumer is a node's ingest loop over its consumer group (consume.go):
// it fetches batches of up to 512 messages, keeps two in flight (one
// verified while the other is written), hands each to Deliver, and
// commits a batch's offsets only after Deliver reports its outcome
// durably written, strictly in fetch order; a batch not written when the
// context ends is never committed, so it is redelivered (and deduplicated)
// later.
//
// Metrics (on the registry passed in):
//
//	onevisit_ingest_records_total{dataset,result}   result: accepted|duplicate|rejected
//	onevisit_ingest_verify_seconds                  signature verification latency
//	onevisit_ingest_unwritable_total{dataset}       submissions dead-lettered without body because their outcome could not be written
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Submission is one raw record and where it came from.
type Submission struct {
	Raw string
	// Dataset is the dataset of the topic or URL the record came through.
	Dataset string
	// Publisher is the authenticated client for HTTP submissions. It is
	// empty for records read from an ingest topic, whose writers Kafka's
	// ACLs already restrict.
	Publisher string
}

// Writer is the part of a kafka.Writer the pipeline uses.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Deps are what the pipeline needs. All are required.
type Deps struct {
	Keys      keys.Resolver
	Schemas   *schemas.Registry
	Policy    func() *policy.Set
	Pseudonym *pseudonym.Pseudonymizer
	View      *view.View
	Writer    Writer
	Names     bus.Names
	Node      string
	Registry  prometheus.Registerer
	Now       func() time.Time
	// Fresh, when set, is asked before every batch; an error (key
	// versions too stale to trust) fails the whole batch closed, unwritten,
	// so it is retried later rather than dead-lettered.
	Fresh func() error
	// FutureSkew is how far ahead of Now a record's iat may be; 0 means
	// DefaultFutureSkew.
	FutureSkew time.Duration
}

// DefaultFutureSkew is how far ahead of the exchange's clock a record's
// iat may be when Deps.FutureSkew is 0: publishers' clocks drift, but a
// record from the future would make every later correction stale.
const DefaultFutureSkew = 5 * time.Minute

// DeadLetterHead is the most bytes of a submission its dead letter keeps.
const DeadLetterHead = 4 << 10

// Pipeline is safe for concurrent use.
type Pipeline struct {
	d          Deps
	records    *prometheus.CounterVec
	verify     prometheus.Histogram
	unwritable *prometheus.CounterVec
	// turn serialises the order-dependent step and the write of each
	// batch; it is a channel so a caller whose context ends stops waiting.
	turn    chan struct{}
	workers int
	// writing holds the view entries of accepted records whose write is
	// under way, by view.Key, so the node's accepted-topic tail can apply
	// them without parsing the record again (see Writing).
	writing sync.Map
}

// Writing returns the view entry of an accepted record whose write is
// under way. A record read back from the accepted topic is durable
// whatever its writer later reports, so the tail may apply it.
func (p *Pipeline) Writing(issuer, dataset, id string) (*view.Entry, bool) {
	e, ok := p.writing.Load(view.Key{Issuer: issuer, Dataset: dataset, ID: id})
	if !ok {
		return nil, false
	}
	return e.(*view.Entry), true
}

// New builds a pipeline; it does no I/O.
func New(d Deps) (*Pipeline, error) {
	if d.Keys == nil || d.Schemas == nil || d.Policy == nil || d.Pseudonym == nil || d.View == nil || d.Writer == nil {
		return nil, fmt.Errorf("ingest: missing dependency")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.FutureSkew <= 0 {
		d.FutureSkew = DefaultFutureSkew
	}
	p := &Pipeline{
		d: d,
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onevisit_ingest_records_total",
			Help: "Records submitted to the exchange, by dataset and result.",
		}, []string{"dataset", "result"}),
		verify: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "onevisit_ingest_verify_seconds",
			Help:    "Time to parse and verify one record's signature and disclosures.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 12),
		}),
		unwritable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onevisit_ingest_unwritable_total",
			Help: "Submissions whose outcome could not be written even alone, dead-lettered without their body.",
		}, []string{"dataset"}),
		workers: runtime.GOMAXPROCS(0),
		turn:    make(chan struct{}, 1),
	}
	if d.Registry != nil {
		for _, c := range []prometheus.Collector{p.records, p.verify, p.unwritable} {
			if err := d.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: %w", err)
			}
		}
	}
	return p, nil
}

// checked is one submission after the order-independent checks.
type checked struct {
	rec      *record.Record
	verified bool   // rec's signature verified with a key its issuer owns
	subject  string // pseudonym
	err      error
}

// Process runs every submission through the pipeline and writes the
// outcome. Its error is non-nil only when the outcome could not be
// written durably, or the view could not be read to order the batch;
// then nothing was acknowledged and the caller retries the whole batch
// (record ids make the retry idempotent).
func (p *Pipeline) Process(ctx context.Context, subs []Submission) ([]wire.Result, error) {
	if p.d.Fresh != nil {
		if err := p.d.Fresh(); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	now := p.d.Now()
	pol := p.d.Policy()
	checks := make([]checked, len(subs))
	p.parallel(len(subs), func(i int) { checks[i] = p.check(ctx, subs[i], pol, now) })

	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ingest: waiting for the batch before: %w", ctx.Err())
	}
	defer func() { <-p.turn }()
	results := make([]wire.Result, len(subs))
	var msgs []kafka.Message
	var accepted []int
	var entries []*view.Entry
	inBatch := map[view.Key]bool{}
	newest := map[[2]string]*view.Entry{} // per (dataset, subject), accepted in this batch
	nowMillis := now.UnixMilli()
	// What the view holds for every record that passed the checks, read
	// in one pass: the batch before this one is in the view already.
	var qs []view.Query
	at := make([]int, len(checks))
	for i, c := range checks {
		if c.err == nil {
			at[i] = len(qs)
			qs = append(qs, view.Query{Key: view.Key{Issuer: c.rec.Issuer, Dataset: c.rec.Dataset, ID: c.rec.ID}, Subject: c.subject})
		}
	}
	held, err := p.d.View.Lookup(qs)
	if err != nil {
		// Nothing is written or acknowledged: the caller retries the
		// batch, as after a failed write.
		return nil, fmt.Errorf("ingest: read the view to order the batch: %w", err)
	}
	for i, c := range checks {
		res := wire.Result{Index: i}
		if c.rec != nil && plainRecordID(c.rec.ID) {
			res.RecordID = c.rec.ID // never a bad id: it would reach keys and the audit log
		}
		err := c.err
		var entry *view.Entry
		if err == nil {
			entry = view.FromRecord(c.rec, nowMillis)
			err = p.order(c, entry, held[at[i]], inBatch, newest)
		}
		switch {
		case err == nil:
			res.Status = wire.Accepted
			inBatch[entry.Key()] = true
			newest[[2]string{c.rec.Dataset, c.subject}] = entry
			accepted = append(accepted, i)
			entries = append(entries, entry)
			msgs = append(msgs, kafka.Message{
				Topic: p.d.Names.Accepted(c.rec.Dataset),
				Key:   []byte(c.subject),
				Value: []byte(subs[i].Raw),
				Headers: []kafka.Header{
					{Key: "onevisit-accepted-at", Value: []byte(fmt.Sprint(nowMillis))},
					{Key: "onevisit-record-id", Value: []byte(c.rec.ID)},
					{Key: "onevisit-issuer", Value: []byte(c.rec.Issuer)},
					{Key: "onevisit-node", Value: []byte(p.d.Node)},
				},
			})
		case err == errDuplicate:
			res.Status = wire.Duplicate
			res.Code = "duplicate"
			res.Message = "record already accepted; not delivered again"
		default:
			res.Status = wire.Rejected
			c := wire.Of(err)
			res.Code, res.Message, res.Pointer = c.Name, c.Message, wire.Pointer(err)
			if m, ok := p.deadLetter(subs[i], res, now, DeadLetterHead); ok {
				msgs = append(msgs, m)
			}
		}
		msgs = append(msgs, p.auditMessage(subs[i], c, res, now))
		results[i] = res
	}
	for _, e := range entries {
		p.writing.Store(e.Key(), e)
	}
	defer func() {
		for _, e := range entries {
			p.writing.Delete(e.Key())
		}
	}()
	if err := p.d.Writer.WriteMessages(ctx, msgs...); err != nil {
		return nil, fmt.Errorf("ingest: write outcome: %w", err)
	}
	// One write for the batch. A store that cannot be written leaves the
	// view as it was: the accepted-topic tail applies these records when it
	// reads them back.
	items := make([]view.Item, len(accepted))
	for k, i := range accepted {
		items[k] = view.Item{Subject: checks[i].subject, Entry: entries[k]}
	}
	_ = p.d.View.ApplyBatch(items)
	for i, r := range results {
		p.records.WithLabelValues(datasetLabel(p.d.Schemas, subs[i].Dataset), string(r.Status)).Inc()
	}
	return results, nil
}

var errDuplicate = fmt.Errorf("duplicate record")

// recordID is what a record id may look like. An id that is or contains
// an identity number or credit code (schemas.ContainsIdentity) is refused
// too: ids travel in message keys, headers and audit entries, where
// identity numbers never go.
var recordID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

func plainRecordID(id string) bool {
	return recordID.MatchString(id) && !schemas.ContainsIdentity(id)
}

// order applies the checks that depend on what was accepted before: in
// this batch and in the view (inView, read before the batch's first
// decision). A record must not be older, by the view's
// own rule, than anything held or accepted earlier in the batch for its
// subject; otherwise the accepted topic's last write for the subject
// would be an older record, which compaction would keep. One issued in
// the same second as the held record is written after it, so it is the
// later one in the log, which is the one the view keeps.
func (p *Pipeline) order(c checked, e *view.Entry, inView view.Held, inBatch map[view.Key]bool, newest map[[2]string]*view.Entry) error {
	if inBatch[e.Key()] || inView.Seen {
		return errDuplicate
	}
	held, ok := newest[[2]string{c.rec.Dataset, c.subject}]
	if !ok {
		held, ok = inView.Current, inView.Current != nil
	}
	if ok {
		if held.Key() == e.Key() {
			return errDuplicate
		}
		if e.Older(held) {
			return fmt.Errorf("ingest: record issued %s is not newer than the one held: %w", c.rec.IssuedAt.UTC().Format(time.RFC3339), ErrStale)
		}
	}
	return nil
}

// check runs the order-independent steps 1-5 and computes the pseudonym.
func (p *Pipeline) check(ctx context.Context, s Submission, pol *policy.Set, now time.Time) checked {
	if len(s.Raw) > record.MaxSize {
		return checked{err: record.ErrTooLarge}
	}
	start := time.Now()
	// A key version revoked at or before now is refused; one revoked
	// later (a scheduled revocation) still verifies until then.
	rec, err := record.Verify(s.Raw, keys.AcceptedBefore(p.d.Keys, now))
	p.verify.Observe(time.Since(start).Seconds())
	if err != nil {
		return checked{rec: partial(s.Raw), err: err}
	}
	out := checked{rec: rec, verified: true}
	if rec.Dataset != s.Dataset {
		out.err = fmt.Errorf("ingest: record names dataset %q, submitted to %q: %w", rec.Dataset, s.Dataset, ErrDatasetMismatch)
		return out
	}
	if s.Publisher != "" && rec.Issuer != s.Publisher {
		out.err = fmt.Errorf("ingest: record issued by %q, submitted by %q: %w", rec.Issuer, s.Publisher, ErrIssuerMismatch)
		return out
	}
	if d := pol.MayPublish(rec.Issuer, rec.Dataset); !d.Allowed {
		out.err = fmt.Errorf("ingest: %s may not publish %s: %w", rec.Issuer, rec.Dataset, ErrNoGrant)
		return out
	}
	ds, ok := p.d.Schemas.Dataset(rec.Dataset)
	if !ok {
		out.err = fmt.Errorf("ingest: dataset %q: %w", rec.Dataset, schemas.ErrUnknownDataset)
		return out
	}
	if !plainRecordID(rec.ID) {
		out.err = fmt.Errorf("ingest: record id: %w", ErrBadRecordID)
		return out
	}
	subj, err := CheckContent(p.d.Schemas, ds, rec, now, p.d.FutureSkew)
	if err != nil {
		out.err = err
		return out
	}
	out.subject, out.err = p.d.Pseudonym.Of(ctx, subj)
	return out
}

// CheckContent runs the checks of a verified record of dataset ds that
// depend on nothing but the record and the clock (step 5 of the package
// doc but the record id; the exchange checks a live reply with it too,
// exchange/livequery.go): iat at most skew ahead of now, its schema a
// version of its dataset, a delete disclosing exactly a valid subject, an
// upsert valid under its schema, and sub_field naming the dataset's
// subject field. It returns the subject's identifier.
func CheckContent(reg *schemas.Registry, ds schemas.Dataset, rec *record.Record, now time.Time, skew time.Duration) (string, error) {
	if limit := now.Add(skew); rec.IssuedAt.After(limit) {
		return "", fmt.Errorf("ingest: iat %s is more than %s ahead of the exchange's clock: %w", rec.IssuedAt.UTC().Format(time.RFC3339), skew, ErrIATInFuture)
	}
	if name, _, _ := strings.Cut(rec.Schema, "/"); name != rec.Dataset {
		return "", fmt.Errorf("ingest: schema %q is not a version of dataset %q: %w", rec.Schema, rec.Dataset, ErrSchemaNotOfDataset)
	}
	fields := rec.Fields()
	subj, _ := fields[ds.Subject].(string)
	if rec.Op == record.Delete {
		// A delete carries the subject and nothing else.
		if len(fields) != 1 || subj == "" {
			return "", fmt.Errorf("ingest: a delete discloses exactly its subject field %s: %w", ds.Subject, ErrBadDelete)
		}
		if err := reg.ValidSubject(rec.Dataset, subj); err != nil {
			return "", &schemas.ValidationError{Schema: rec.Schema, Pointer: "/" + ds.Subject, Keyword: "format", Reason: err.Error()}
		}
	} else if err := reg.Validate(rec.Schema, fields); err != nil {
		return "", err
	}
	if subj == "" {
		return "", fmt.Errorf("ingest: subject field %s missing: %w", ds.Subject, ErrNoSubject)
	}
	if rec.SubjectField != ds.Subject {
		// The binding the requester checks (see record's package doc).
		return "", fmt.Errorf("ingest: sub_field %q is not the subject field %s: %w", rec.SubjectField, ds.Subject, record.ErrNoSubjectBinding)
	}
	return subj, nil
}

// partial recovers the record id of a record that failed verification,
// for the result and the dead letter only; nothing else is trusted.
func partial(raw string) *record.Record {
	r, err := record.Parse(raw)
	if err != nil {
		return nil
	}
	return &record.Record{Claims: record.Claims{ID: r.ID, Issuer: r.Issuer, Dataset: r.Dataset}}
}

func (p *Pipeline) parallel(n int, fn func(i int)) {
	w := p.workers
	if n < 2*w || w < 2 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// deadLetter is the rejected-topic message: the reason, and of the
// submission its size, its SHA-256 and its first keep bytes (at most
// DeadLetterHead), so an officer can see what a department sent and match
// it to the department's copy, while the dead letter stays small whatever
// was sent.
func (p *Pipeline) deadLetter(s Submission, res wire.Result, now time.Time, keep int) (kafka.Message, bool) {
	if _, ok := p.d.Schemas.Dataset(s.Dataset); !ok {
		return kafka.Message{}, false // no topic for a dataset that does not exist
	}
	sum := sha256.Sum256([]byte(s.Raw))
	// Junk that was never a record is copied as it came: mask identity
	// numbers in clear (a signed record's base64 has none).
	head := schemas.RedactIdentities(s.Raw[:min(len(s.Raw), keep, DeadLetterHead)])
	v, _ := json.Marshal(struct {
		wire.Result
		Dataset         string `json:"dataset"`
		Publisher       string `json:"publisher,omitempty"`
		ReceivedAt      string `json:"received_at"`
		Record          string `json:"record,omitempty"`
		RecordTruncated bool   `json:"record_truncated,omitempty"`
		RecordBytes     int    `json:"record_bytes"`
		RecordSHA256    string `json:"record_sha256"`
	}{res, s.Dataset, s.Publisher, now.UTC().Format(time.RFC3339Nano), head, len(head) < len(s.Raw), len(s.Raw), hex.EncodeToString(sum[:])})
	return kafka.Message{Topic: p.d.Names.Rejected(s.Dataset), Key: []byte(res.RecordID), Value: v}, true
}

// auditMessage is the audit entry of one decision. Its actor is who
// authenticated: the HTTP publisher whose token verified, or the issuer
// whose signature verified. Input from a topic whose signature did not
// verify is unauthenticated: no actor and no role, and no record id, since
// the issuer and id it claims are the sender's word (and an id could hold
// an identity number).
func (p *Pipeline) auditMessage(s Submission, c checked, res wire.Result, now time.Time) kafka.Message {
	e := audit.Entry{
		Time:     now.UTC(),
		Kind:     audit.KindAccept,
		Actor:    s.Publisher,
		Dataset:  s.Dataset,
		Subject:  c.subject,
		Decision: audit.Decision(res.Status),
		Code:     res.Code,
		Node:     p.d.Node,
	}
	if c.verified {
		e.RecordID = res.RecordID
		if e.Actor == "" {
			e.Actor = c.rec.Issuer
		}
	}
	if e.Actor != "" {
		e.Role = "publisher"
	}
	if res.Status == wire.Rejected {
		e.Kind = audit.KindReject
	}
	return kafka.Message{Topic: p.d.Names.Audit(), Value: e.MarshalCanonical()}
}

// datasetLabel bounds metric labels and dead-letter topics to known
// datasets: an unknown name from a URL never becomes a label or a topic.
func datasetLabel(reg *schemas.Registry, d string) string {
	if _, ok := reg.Dataset(d); ok {
		return d
	}
	return "unknown"
}
