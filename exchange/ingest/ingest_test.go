package ingest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/view/viewtest"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// now is the pipeline's clock in every test: the golden file depends on it.
var now = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// pseudonymKey is the HMAC key of the tests' pseudonymizer. The HMACer is
// a real HMAC-SHA256 with a fixed key (the file store would pick a random
// one), so pseudonyms, audit entries and the golden file are stable.
var pseudonymKey = []byte("ingest-test-pseudonym-key-32byte")

type fixedHMAC struct{ key []byte }

func (h fixedHMAC) HMAC(ctx context.Context, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, h.key)
	m.Write(msg)
	return m.Sum(nil), nil
}

// cluster is one embedded kfake broker with the exchange's topics (one
// partition each, so every topic reads back in write order).
type cluster struct {
	cfg     bus.Config
	reg     *schemas.Registry
	pol     *policy.Set
	dir     *keys.Directory
	signers map[string]keys.Signer // by publisher client id
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	kc, err := bus.StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Default(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{cfg: bus.Config{Brokers: kc.ListenAddrs(), ClientID: "ingest-test"}, reg: reg, pol: pol, dir: keys.NewDirectory(), signers: map[string]keys.Signer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(ctx, c.cfg, reg.Datasets(), bus.TopicSpec{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"public-security", "tax-bureau"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		kid := p + "-record#1"
		if err := c.dir.Add(keys.PublicKey{KID: kid, Owner: p, Use: keys.UseRecord, Key: pub, Status: keys.Active}); err != nil {
			t.Fatal(err)
		}
		c.signers[p] = keys.NewLocalSigner(kid, priv)
	}
	return c
}

// pipeline builds a pipeline over the cluster with its own view, writing
// through w (the cluster's writer when nil).
func (c *cluster) pipeline(t *testing.T, w ingest.Writer, reg prometheus.Registerer) (*ingest.Pipeline, *view.View) {
	t.Helper()
	return c.pipelineOn(t, view.New(0), w, reg)
}

// pipelineOn is pipeline with the view v.
func (c *cluster) pipelineOn(t *testing.T, v *view.View, w ingest.Writer, reg prometheus.Registerer) (*ingest.Pipeline, *view.View) {
	t.Helper()
	if w == nil {
		kw, err := c.cfg.Writer()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kw.Close() })
		w = kw
	}
	p, err := ingest.New(ingest.Deps{
		Keys: c.dir, Schemas: c.reg, Policy: func() *policy.Set { return c.pol },
		Pseudonym: pseudonym.New(fixedHMAC{pseudonymKey}), View: v, Writer: w,
		Node: "test-1", Registry: reg, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, v
}

// household returns the sample household row of a resident.
func household(t *testing.T, residentID string) map[string]any {
	t.Helper()
	rows, err := samples.Rows(samples.HouseholdFile)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := schemas.Default()
	for _, row := range rows {
		if row["resident_id"] == residentID {
			fields, err := reg.Coerce("household/v1", row)
			if err != nil {
				t.Fatal(err)
			}
			return fields
		}
	}
	t.Fatalf("no sample household row for %s", residentID)
	return nil
}

func (c *cluster) sign(t *testing.T, issuer, ds, schema, id string, iat time.Time, op record.Op, fields map[string]any) string {
	t.Helper()
	r, err := record.Sign(context.Background(), c.signers[issuer], record.Claims{
		Issuer: issuer, Dataset: ds, Schema: schema, ID: id, IssuedAt: iat, Op: op, SubjectField: boundTo(fields),
	}, fields)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// boundTo is the sub_field a publisher writes: resident_id, the subject
// field of every dataset here, when fields has it as a non-empty string.
func boundTo(fields map[string]any) string {
	if v, _ := fields["resident_id"].(string); v != "" {
		return "resident_id"
	}
	return ""
}

func (c *cluster) hh(t *testing.T, issuer, id string, iat time.Time, subject string) string {
	return c.sign(t, issuer, "household", "household/v1", id, iat, record.Upsert, household(t, subject))
}

// residentIDs are every identity number in the sample files.
func residentIDs(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`\b\d{17}[\dX]\b`)
	seen := map[string]bool{}
	var out []string
	for _, name := range []string{samples.HouseholdFile, samples.TaxFile, samples.PropertyFile} {
		b, err := samples.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range re.FindAllString(string(b), -1) {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	if len(out) < 12 {
		t.Fatalf("found only %d resident ids in the samples", len(out))
	}
	return out
}

// readTopic returns every message of partition 0 of topic.
func (c *cluster) readTopic(t *testing.T, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", c.cfg.Brokers[0], topic, 0)
	if err != nil {
		t.Fatalf("dial %s: %v", topic, err)
	}
	last, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		t.Fatalf("last offset of %s: %v", topic, err)
	}
	if last == 0 {
		return nil
	}
	r, err := c.cfg.PartitionReader(topic, 0, kafka.FirstOffset)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []kafka.Message
	for int64(len(out)) < last {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s after %d of %d messages: %v", topic, len(out), last, err)
		}
		out = append(out, m)
	}
	return out
}

func of(t *testing.T, subject string) string {
	t.Helper()
	p, err := pseudonym.New(fixedHMAC{pseudonymKey}).Of(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProcessBatch runs one batch with every kind of outcome and compares
// the per-record results and everything written to the accepted,
// rejected and audit topics with a golden file.
func TestProcessBatch(t *testing.T) {
	c := newCluster(t)
	metrics := prometheus.NewRegistry()
	p, v := c.pipeline(t, nil, metrics)
	ctx := context.Background()
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

	const (
		child    = samples.ChildResidentID
		guardian = samples.GuardianResidentID
		spouse   = "330106198707210623"
		grand    = "330106195611040339"
		other    = "33010819900214028X"
	)
	// Batch 1: the exchange already holds a newer record of the spouse.
	held := c.hh(t, "public-security", "hh-spouse-2", t0.Add(100*time.Second), spouse)
	res, err := p.Process(ctx, []ingest.Submission{{Raw: held, Dataset: "household"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Status != wire.Accepted {
		t.Fatalf("batch 1 = %+v", res)
	}

	badID := household(t, child)
	badID["resident_id"] = "330106202003080154" // wrong check digit
	goodChild := c.hh(t, "public-security", "hh-child-1", t0, child)
	subs := []ingest.Submission{
		{Raw: goodChild, Dataset: "household"},
		{Raw: c.hh(t, "public-security", "hh-guardian-1", t0, guardian), Dataset: "household", Publisher: "public-security"},
		{Raw: goodChild, Dataset: "household"}, // the same record twice in one batch
		{Raw: c.hh(t, "public-security", "hh-spouse-1", t0, spouse), Dataset: "household"},
		{Raw: c.sign(t, "public-security", "tax", "tax/v1", "tax-claim-1", t0, record.Upsert, household(t, grand)), Dataset: "household"},
		{Raw: c.hh(t, "public-security", "hh-mismatch-1", t0, grand), Dataset: "household", Publisher: "tax-bureau"},
		{Raw: c.hh(t, "tax-bureau", "hh-nogrant-1", t0, other), Dataset: "household"},
		{Raw: c.sign(t, "public-security", "household", "household/v1", "hh-badid-1", t0, record.Upsert, badID), Dataset: "household"},
		{Raw: held, Dataset: "household"}, // a replay of batch 1
	}
	res, err = p.Process(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}

	// Exactly the expected statuses and codes, independent of the golden.
	want := []struct {
		status wire.Status
		code   string
	}{
		{wire.Accepted, ""}, {wire.Accepted, ""}, {wire.Duplicate, "duplicate"}, {wire.Rejected, "stale"},
		{wire.Rejected, "dataset_mismatch"}, {wire.Rejected, "issuer_mismatch"}, {wire.Rejected, "no_grant"},
		{wire.Rejected, "schema_violation"}, {wire.Duplicate, "duplicate"},
	}
	if len(res) != len(want) {
		t.Fatalf("%d results for %d submissions", len(res), len(want))
	}
	for i, w := range want {
		if res[i].Index != i || res[i].Status != w.status || res[i].Code != w.code {
			t.Errorf("result %d = %+v, want %s %s", i, res[i], w.status, w.code)
		}
	}

	names := map[string]string{of(t, child): "P(child)", of(t, guardian): "P(guardian)", of(t, spouse): "P(spouse)", of(t, grand): "P(grandfather)", of(t, other): "P(other)"}
	hide := func(s string) string {
		for hexp, name := range names {
			s = strings.ReplaceAll(s, hexp, name)
		}
		return s
	}
	rawIndex := map[string]string{held: "<batch 1 record>"}
	for i, s := range subs {
		if _, ok := rawIndex[s.Raw]; !ok {
			rawIndex[s.Raw] = fmt.Sprintf("<submission %d>", i)
		}
	}

	var out bytes.Buffer
	fmt.Fprintln(&out, "== results")
	for _, r := range res {
		b, _ := json.Marshal(r)
		fmt.Fprintln(&out, string(b))
	}

	ids := residentIDs(t)
	noIDs := func(where string, b []byte) {
		for _, id := range ids {
			if bytes.Contains(b, []byte(id)) {
				t.Errorf("%s carries resident id %s", where, id)
			}
		}
	}
	names2 := bus.Names("")
	accepted := c.readTopic(t, names2.Accepted("household"))
	fmt.Fprintln(&out, "== "+names2.Accepted("household"))
	wantKeys := []string{of(t, spouse), of(t, child), of(t, guardian)}
	if len(accepted) != len(wantKeys) {
		t.Fatalf("%d accepted messages, want %d", len(accepted), len(wantKeys))
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for i, m := range accepted {
		if !hex64.Match(m.Key) {
			t.Errorf("accepted key %q is not a 64-hex pseudonym", m.Key)
		}
		if string(m.Key) != wantKeys[i] {
			t.Errorf("accepted message %d key %s, want %s", i, m.Key, wantKeys[i])
		}
		noIDs("accepted key", m.Key)
		fmt.Fprintf(&out, "key=%s value=%s\n", hide(string(m.Key)), rawIndex[string(m.Value)])
		for _, h := range m.Headers {
			noIDs("accepted header "+h.Key, append([]byte(h.Key), h.Value...))
			fmt.Fprintf(&out, "  %s: %s\n", h.Key, h.Value)
		}
	}

	for _, ds := range c.reg.Datasets() {
		topic := names2.Rejected(ds)
		msgs := c.readTopic(t, topic)
		if len(msgs) == 0 {
			continue
		}
		fmt.Fprintln(&out, "== "+topic)
		for _, m := range msgs {
			noIDs("rejected key", m.Key)
			for _, h := range m.Headers {
				noIDs("rejected header "+h.Key, append([]byte(h.Key), h.Value...))
			}
			var val map[string]any
			if err := json.Unmarshal(m.Value, &val); err != nil {
				t.Fatalf("dead letter is not JSON: %v", err)
			}
			raw, _ := val["record"].(string)
			if _, ok := rawIndex[raw]; !ok {
				t.Errorf("dead letter %s does not carry the submitted record", m.Key)
			}
			val["record"] = rawIndex[raw]
			// The digest is of a record with random salts: check it, then
			// name it as the golden file cannot.
			if sum := sha256.Sum256([]byte(raw)); val["record_sha256"] != hex.EncodeToString(sum[:]) {
				t.Errorf("dead letter %s: record_sha256 %v is not the record's", m.Key, val["record_sha256"])
			}
			val["record_sha256"] = "<sha256 of " + rawIndex[raw] + ">"
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(val); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "key=%s headers=%d value=%s", m.Key, len(m.Headers), b.Bytes())
		}
	}

	auditMsgs := c.readTopic(t, names2.Audit())
	fmt.Fprintln(&out, "== "+names2.Audit())
	if len(auditMsgs) != 1+len(subs) {
		t.Fatalf("%d audit entries, want one per submitted record: %d", len(auditMsgs), 1+len(subs))
	}
	for i, m := range auditMsgs {
		noIDs("audit key", m.Key)
		noIDs("audit value", m.Value)
		for _, h := range m.Headers {
			noIDs("audit header "+h.Key, append([]byte(h.Key), h.Value...))
		}
		e, err := audit.ParseEntry(m.Value)
		if err != nil {
			t.Fatalf("audit entry %d: %v", i, err)
		}
		if i > 0 {
			r := res[i-1]
			if string(e.Decision) != string(r.Status) || e.RecordID != r.RecordID || e.Code != r.Code {
				t.Errorf("audit entry %d = %s/%s/%s, want result %+v", i, e.Decision, e.RecordID, e.Code, r)
			}
			wantKind := audit.KindAccept
			if r.Status == wire.Rejected {
				wantKind = audit.KindReject
			}
			if e.Kind != wantKind {
				t.Errorf("audit entry %d kind %s, want %s", i, e.Kind, wantKind)
			}
		}
		fmt.Fprintln(&out, hide(string(m.Value)))
	}
	testkit.Golden(t, filepath.Join("testdata", "batch.golden"), out.Bytes())

	// The view holds exactly the accepted records.
	for _, tt := range []struct {
		subject, wantID string
	}{{child, "hh-child-1"}, {guardian, "hh-guardian-1"}, {spouse, "hh-spouse-2"}, {grand, ""}, {other, ""}} {
		e, ok := v.Get("household", of(t, tt.subject))
		got := ""
		if ok {
			got = e.ID
		}
		if got != tt.wantID {
			t.Errorf("view holds %q for %s, want %q", got, names[of(t, tt.subject)], tt.wantID)
		}
	}
	if v.Len() != 3 {
		t.Errorf("view Len = %d, want 3", v.Len())
	}

	if got, want := counters(t, metrics, "onevisit_ingest_records_total"), `dataset="household",result="accepted" 3
dataset="household",result="duplicate" 2
dataset="household",result="rejected" 5
`; got != want {
		t.Errorf("onevisit_ingest_records_total:\n%s\nwant\n%s", got, want)
	}
}

// counters renders every series of one counter as `labels value` lines.
func counters(t *testing.T, g prometheus.Gatherer, name string) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			lines = append(lines, fmt.Sprintf("%s %v\n", strings.Join(ls, ","), m.GetCounter().GetValue()))
		}
	}
	return strings.Join(lines, "")
}

// TestProcessNothingAcceptedWithoutDurableWrite: when the outcome cannot
// be written, Process fails and the view is untouched.
func TestProcessNothingAcceptedWithoutDurableWrite(t *testing.T) {
	c := newCluster(t)
	w, err := bus.Config{Brokers: []string{"127.0.0.1:1"}}.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p, v := c.pipeline(t, w, nil)
	raw := c.hh(t, "public-security", "hh-child-1", now.Add(-time.Hour), samples.ChildResidentID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := p.Process(ctx, []ingest.Submission{{Raw: raw, Dataset: "household"}})
	if err == nil {
		t.Fatalf("Process with an unreachable broker = %+v, nil error", res)
	}
	if !strings.HasPrefix(err.Error(), "ingest: write outcome: ") {
		t.Errorf("error %q does not say what failed", err)
	}
	if res != nil {
		t.Errorf("results %+v returned with the error", res)
	}
	if v.Len() != 0 || v.Seen("public-security", "household", "hh-child-1") {
		t.Errorf("view changed without a durable write: Len %d, Seen %v", v.Len(), v.Seen("public-security", "household", "hh-child-1"))
	}
	if _, ok := v.Current("household", of(t, samples.ChildResidentID)); ok {
		t.Error("view holds the record")
	}
	if _, ok := p.Writing("public-security", "household", "hh-child-1"); ok {
		t.Error("the failed write is still listed as under way")
	}
	// The retry through a working writer accepts it: nothing was
	// remembered as seen by the failed attempt.
	p2, v3 := c.pipeline(t, nil, nil)
	res, err = p2.Process(context.Background(), []ingest.Submission{{Raw: raw, Dataset: "household"}})
	if err != nil || len(res) != 1 || res[0].Status != wire.Accepted {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	if v3.Len() != 1 {
		t.Errorf("view Len after retry = %d", v3.Len())
	}
}

// TestProcessFailsClosedWhenKeysStale: Fresh's error fails the batch
// before anything is checked or written.
func TestProcessFailsClosedWhenKeysStale(t *testing.T) {
	c := newCluster(t)
	kw, err := c.cfg.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	v := view.New(0)
	p, err := ingest.New(ingest.Deps{
		Keys: c.dir, Schemas: c.reg, Policy: func() *policy.Set { return c.pol },
		Pseudonym: pseudonym.New(fixedHMAC{pseudonymKey}), View: v, Writer: kw,
		Now: func() time.Time { return now }, Fresh: func() error { return codes.ErrKeysStale },
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := c.hh(t, "public-security", "hh-child-1", now.Add(-time.Hour), samples.ChildResidentID)
	res, err := p.Process(context.Background(), []ingest.Submission{{Raw: raw, Dataset: "household"}})
	if !errors.Is(err, codes.ErrKeysStale) || res != nil {
		t.Fatalf("Process = %+v, %v; want codes.ErrKeysStale", res, err)
	}
	if n := len(c.readTopic(t, bus.Names("").Audit())); n != 0 {
		t.Errorf("%d audit entries written for a batch that failed closed", n)
	}
	if v.Len() != 0 {
		t.Error("view changed")
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	c := newCluster(t)
	kw, _ := c.cfg.Writer()
	defer kw.Close()
	full := ingest.Deps{
		Keys: c.dir, Schemas: c.reg, Policy: func() *policy.Set { return c.pol },
		Pseudonym: pseudonym.New(fixedHMAC{pseudonymKey}), View: view.New(0), Writer: kw,
	}
	if _, err := ingest.New(full); err != nil {
		t.Fatalf("New with every dependency: %v", err)
	}
	for name, clear := range map[string]func(*ingest.Deps){
		"Keys":      func(d *ingest.Deps) { d.Keys = nil },
		"Schemas":   func(d *ingest.Deps) { d.Schemas = nil },
		"Policy":    func(d *ingest.Deps) { d.Policy = nil },
		"Pseudonym": func(d *ingest.Deps) { d.Pseudonym = nil },
		"View":      func(d *ingest.Deps) { d.View = nil },
		"Writer":    func(d *ingest.Deps) { d.Writer = nil },
	} {
		d := full
		clear(&d)
		if _, err := ingest.New(d); err == nil {
			t.Errorf("New without %s succeeded", name)
		}
	}
}

// TestOrderAgreesWithView: ingest must refuse as stale exactly what the
// view would not install, or the accepted topic (compacted by subject,
// keeping the last write) ends up holding a record the view ignored, and
// a node rebuilding its view from that topic serves the older record.
func TestOrderAgreesWithView(t *testing.T) {
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	subject := samples.ChildResidentID
	type sub struct {
		id  string
		iat time.Duration // after t0
		op  record.Op
	}
	tests := []struct {
		name   string
		before []sub // accepted in an earlier batch
		batch  []sub
		want   []string // status or code per batch record
		wantID string   // what the view holds afterwards
	}{
		{"older than held", []sub{{"b", 100, record.Upsert}}, []sub{{"a", 50, record.Upsert}}, []string{"stale"}, "b"},
		{"newer than held", []sub{{"b", 100, record.Upsert}}, []sub{{"a", 150, record.Upsert}}, []string{"accepted"}, "a"},
		{"same iat, greater id", []sub{{"b", 100, record.Upsert}}, []sub{{"c", 100, record.Upsert}}, []string{"accepted"}, "c"},
		{"older than a held delete", []sub{{"d", 100, record.Delete}}, []sub{{"a", 50, record.Upsert}}, []string{"stale"}, ""},
		{"newer and older in one batch, newer first", nil, []sub{{"b", 100, record.Upsert}, {"a", 50, record.Upsert}}, []string{"accepted", "stale"}, "b"},
		{"older and newer in one batch, older first", nil, []sub{{"a", 50, record.Upsert}, {"b", 100, record.Upsert}}, []string{"accepted", "accepted"}, "b"},
		{"same iat, smaller id than held: the later write wins", []sub{{"b", 100, record.Upsert}}, []sub{{"a", 100, record.Upsert}}, []string{"accepted"}, "a"},
		{"same iat twice in one batch: the later one wins", nil, []sub{{"b", 100, record.Upsert}, {"a", 100, record.Upsert}}, []string{"accepted", "accepted"}, "a"},
	}
	c := newCluster(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, v := c.pipeline(t, nil, nil)
			mk := func(s sub) ingest.Submission {
				// A delete discloses exactly its subject.
				fields := household(t, subject)
				if s.op == record.Delete {
					fields = map[string]any{"resident_id": subject}
				}
				// ids are unique per case: the cluster is shared.
				id := idSafe(t.Name()) + "-" + s.id
				raw := c.sign(t, "public-security", "household", "household/v1", id, t0.Add(s.iat*time.Second), s.op, fields)
				return ingest.Submission{Raw: raw, Dataset: "household"}
			}
			for _, s := range tt.before {
				if res, err := p.Process(context.Background(), []ingest.Submission{mk(s)}); err != nil || res[0].Status != wire.Accepted {
					t.Fatalf("setup %s: %+v, %v", s.id, res, err)
				}
			}
			var batch []ingest.Submission
			for _, s := range tt.batch {
				batch = append(batch, mk(s))
			}
			res, err := p.Process(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res {
				if r.Code != "" {
					got = append(got, r.Code)
				} else {
					got = append(got, string(r.Status))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("results %v, want %v", got, tt.want)
			}
			held := ""
			if e, ok := v.Get("household", of(t, subject)); ok {
				held = e.ID[strings.LastIndex(e.ID, "-")+1:]
			}
			if held != tt.wantID {
				t.Errorf("view holds %q, want %q", held, tt.wantID)
			}
			// Compaction keeps the last write per key: it must be the
			// record the view holds, or a restarted node serves another.
			prefix := idSafe(t.Name()) + "-"
			last := ""
			for _, m := range c.readTopic(t, bus.Names("").Accepted("household")) {
				for _, h := range m.Headers {
					if h.Key == "onevisit-record-id" && string(m.Key) == of(t, subject) && strings.HasPrefix(string(h.Value), prefix) {
						last = strings.TrimPrefix(string(h.Value), prefix)
					}
				}
			}
			if want := tt.wantID; want == "" {
				want = "d" // the tombstone
				if last != want {
					t.Errorf("last accepted write for the subject is %q, want %q", last, want)
				}
			} else if last != want {
				t.Errorf("last accepted write for the subject is %q but the view holds %q: compaction would keep %q", last, want, last)
			}
		})
	}
}

// idSafe turns a test name into a valid record id.
func idSafe(name string) string {
	return regexp.MustCompile(`[^A-Za-z0-9._:-]`).ReplaceAllString(name, "-")
}

// TestProcessWaitsForAnUnreadableView: the order step needs what the view
// holds. When the view store cannot be read (disk errors, injected here
// through Pebble's errorfs on its table files), Process fails before it
// writes anything, and the caller's retry orders the batch once the store
// reads again. Before, an unreadable store read as "nothing held", and a
// record older than the one held was accepted into the topic.
func TestProcessWaitsForAnUnreadableView(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	key := bytes.Repeat([]byte{9}, 32)
	v, err := view.Open(dir, key, view.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.pipelineOn(t, v, nil, nil)
	newer := c.hh(t, "public-security", "hh-child-new", now.Add(-time.Hour), samples.ChildResidentID)
	res, err := p.Process(context.Background(), []ingest.Submission{{Raw: newer, Dataset: "household"}})
	if err != nil || res[0].Status != wire.Accepted {
		t.Fatalf("Process(newer) = %+v, %v", res, err)
	}
	if err := v.Close(); err != nil { // flushed: what follows is read from the table files
		t.Fatal(err)
	}

	w, failing := viewtest.OpenFailingReads(t, dir, key)
	p, _ = c.pipelineOn(t, w, nil, nil)
	older := []ingest.Submission{{Raw: c.hh(t, "public-security", "hh-child-old", now.Add(-2*time.Hour), samples.ChildResidentID), Dataset: "household"}}

	failing.Store(true)
	res, err = p.Process(context.Background(), older)
	if !errors.Is(err, errorfs.ErrInjected) || res != nil {
		t.Fatalf("Process with the view unreadable = %+v, %v; want no results and the read error", res, err)
	}
	if !strings.HasPrefix(err.Error(), "ingest: read the view to order the batch: ") {
		t.Errorf("error %q does not say what failed", err)
	}

	failing.Store(false)
	res, err = p.Process(context.Background(), older)
	if err != nil || len(res) != 1 || res[0].Status != wire.Rejected || res[0].Code != "stale" {
		t.Fatalf("Process(older) with the view readable again = %+v, %v; want it rejected as stale", res, err)
	}
	if e, ok := w.Current("household", of(t, samples.ChildResidentID)); !ok || e.ID != "hh-child-new" {
		t.Errorf("view holds %+v, want hh-child-new", e)
	}
}
