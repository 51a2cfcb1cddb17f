// Package bench measures the exchange on this machine, in one run, so the
// figures can be compared with each other rather than with another
// machine's: raw Ed25519 verifications per second on all cores; ingest
// records per second through verify + schema + grant + route into Kafka,
// and its ratio to the raw verify rate; query answers per second with
// p50/p99 latency at a fixed concurrency with the audit write on; case
// bundles (POST /v1/cases, a five-item newborn registration) per second
// with p50/p99 latency, every item's audit write and the case's on; and
// the heap bytes one held record costs.
//
// The scale phase (scale.go) then fills a fresh node, its view and audit
// log on disk, with Options.Records records signed in parallel on every
// core (each signed, none reused: the subject is bound into the
// signature) and streamed into the pipeline, and reports the process's
// heap and RSS per record after forced collections (a signed difference,
// never below 0), the view store's disk bytes per record, the rate at
// which a new node rebuilds its replica from the accepted topics, and the
// query rate and p50/p99 over random subjects from disk, directly and
// through one loopback HTTP hop (the cost of forwarding to another node).
// The ingest and query phases use at most PhaseRecords records.
//
// Everything runs on loopback against the embedded broker (or the cluster
// named in Options.Kafka). Each phase is bounded in time or count and the
// run stops by itself. It is a benchmark, never a test: nothing here
// fails on a figure.
package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
)

// DefaultRecords is how many records a run ingests unless told otherwise.
const DefaultRecords = 20000

// Options bound a run.
type Options struct {
	Duration    time.Duration // per timed phase; default 5 s
	Records     int           // records ingested; default 20,000
	Concurrency int           // concurrent query clients; default 16
	// CaseConcurrency is the concurrent case clients; default 4 (each
	// bundle is five queries run concurrently).
	CaseConcurrency int
	// Kafka, when set, is a real cluster to measure beside the embedded
	// broker in the same run.
	Kafka *bus.Config
	Out   io.Writer
	// Profile, when set, is called as the ingest (pipeline) and the query
	// phase start, with "ingest" or "query" and the environment's index
	// (0: embedded broker); the function it returns is called as the
	// phase ends (`onevisit bench --phase-cpuprofile`).
	Profile func(phase string, env int) (stop func())
}

// Result holds the figures of one run.
type Result struct {
	CPUs int
	// VerifyPerSec is the raw Ed25519 rate on all cores, measured right
	// before and after the first ingest phase (their mean).
	VerifyPerSec float64
	Embedded     Figures  // against the embedded broker
	Kafka        *Figures // against Options.Kafka, when given
	// BytesPerRecord is the heap one record costs in a view kept in
	// memory (view.dir unset), measured alone.
	BytesPerRecord float64
	// Scale and KafkaScale are the scale phase's figures (scale.go).
	Scale, KafkaScale *Scale
	// ViewAlone is the view store alone at Options.Records (viewalone.go).
	ViewAlone *ViewAlone
	// CaseConcurrency is the concurrency the case figures were measured at.
	CaseConcurrency int
}

// PhaseRecords bounds the records of the ingest and query phases: a run
// with more (--records) measures the rest in the scale phase, which never
// holds its records in memory.
const PhaseRecords = DefaultRecords

// Report is the machine-readable form of a Result (`onevisit bench
// --json`). Its field names are a contract: they keep their names across
// releases, and a figure not measured by this version is null.
type Report struct {
	CPUs               int      `json:"cpus"`
	Records            int      `json:"records"`
	RawVerifyPerSec    float64  `json:"raw_verify_per_s"`
	IngestPerSec       float64  `json:"ingest_per_s"`
	IngestRatio        float64  `json:"ingest_ratio"`
	IngestTopicPerSec  float64  `json:"ingest_topic_per_s"`
	QueryPerSec        float64  `json:"query_per_s"`
	QueryP50Ms         float64  `json:"query_p50_ms"`
	QueryP99Ms         float64  `json:"query_p99_ms"`
	QueryErrors        int64    `json:"query_errors"`
	HeapBytesPerRecord float64  `json:"heap_bytes_per_record"`
	DiskBytesPerRecord *float64 `json:"disk_bytes_per_record"` // null: views are in memory
	RebuildPerSec      *float64 `json:"rebuild_per_s"`         // null: not measured yet
	// Case bundles: a five-item newborn registration (POST /v1/cases).
	CasePerSec      float64 `json:"case_per_s"`
	CaseP50Ms       float64 `json:"case_p50_ms"`
	CaseP99Ms       float64 `json:"case_p99_ms"`
	CaseErrors      int64   `json:"case_errors"`
	CaseItems       int     `json:"case_items"`
	CaseConcurrency int     `json:"case_concurrency"`
	// Figures of the scale phase (records held by one node, view on
	// disk); heap_bytes_per_record is then that node's whole process
	// (view, audit log, in-process broker) after a forced collection.
	RSSBytesPerRecord        *float64 `json:"rss_bytes_per_record"`
	MemoryViewBytesPerRecord float64  `json:"memory_view_heap_bytes_per_record"` // a view in memory, alone
	NodeRecords              *int     `json:"node_records"`                      // records the scale phase's node held (at most NodeRecords)
	ScaleQueryPerSec         *float64 `json:"scale_query_per_s"`
	ScaleQueryP50Ms          *float64 `json:"scale_query_p50_ms"`
	ScaleQueryP99Ms          *float64 `json:"scale_query_p99_ms"`
	ForwardQueryP50Ms        *float64 `json:"forward_query_p50_ms"` // the same load through one loopback HTTP hop
	ForwardQueryP99Ms        *float64 `json:"forward_query_p99_ms"`
	// The view store alone at records entries (ViewAlone).
	ViewDiskBytesPerRecord *float64 `json:"view_disk_bytes_per_record"`
	ViewHeapBytesPerRecord *float64 `json:"view_heap_bytes_per_record"`
	ViewApplyPerSec        *float64 `json:"view_apply_per_s"`
	ViewGetP99Ms           *float64 `json:"view_get_p99_ms"`
	JoinQueryErrors        *int64   `json:"join_query_errors"` // queries failed while a new node caught up
	JoinQueryP99Ms         *float64 `json:"join_query_p99_ms"` // their worst one-second p99
	// Kafka holds the same figures against Options.Kafka, when given.
	Kafka *Report `json:"kafka,omitempty"`
}

// Report returns the run's figures in their machine-readable form.
func (r Result) Report(records int) Report {
	of := func(f Figures, sc *Scale) Report {
		rep := Report{
			CPUs: r.CPUs, Records: records, RawVerifyPerSec: r.VerifyPerSec,
			IngestPerSec: f.IngestPerSec, IngestRatio: f.IngestRatio, IngestTopicPerSec: f.IngestTopicPerSec,
			QueryPerSec: f.QueryPerSec, QueryP50Ms: ms(f.QueryP50), QueryP99Ms: ms(f.QueryP99), QueryErrors: f.QueryErrors,
			HeapBytesPerRecord: r.BytesPerRecord, MemoryViewBytesPerRecord: r.BytesPerRecord,
			CasePerSec: f.CasePerSec, CaseP50Ms: ms(f.CaseP50), CaseP99Ms: ms(f.CaseP99), CaseErrors: f.CaseErrors,
			CaseItems: CaseItems, CaseConcurrency: r.CaseConcurrency,
		}
		if sc != nil {
			p := func(v float64) *float64 { return &v }
			rep.HeapBytesPerRecord = sc.HeapPerRecord
			rep.DiskBytesPerRecord, rep.RebuildPerSec, rep.RSSBytesPerRecord = p(sc.DiskPerRecord), p(sc.RebuildPerSec), p(sc.RSSPerRecord)
			rep.NodeRecords = &sc.Records
			rep.ScaleQueryPerSec, rep.ScaleQueryP50Ms, rep.ScaleQueryP99Ms = p(sc.QueryPerSec), p(ms(sc.QueryP50)), p(ms(sc.QueryP99))
			rep.ForwardQueryP50Ms, rep.ForwardQueryP99Ms = p(ms(sc.HopP50)), p(ms(sc.HopP99))
			je := sc.JoinErrors
			rep.JoinQueryErrors, rep.JoinQueryP99Ms = &je, p(ms(sc.JoinWorstP99))
		}
		return rep
	}
	rep := of(r.Embedded, r.Scale)
	if va := r.ViewAlone; va != nil {
		get := ms(va.GetP99)
		rep.ViewDiskBytesPerRecord, rep.ViewHeapBytesPerRecord, rep.ViewApplyPerSec, rep.ViewGetP99Ms = &va.DiskPerRecord, &va.HeapPerRecord, &va.ApplyPerSec, &get
	}
	if r.Kafka != nil {
		k := of(*r.Kafka, r.KafkaScale)
		rep.Kafka = &k
	}
	return rep
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Figures are one environment's ingest and query figures.
type Figures struct {
	IngestPerSec       float64 // pipeline: verify+schema+grant+route+audit into Kafka
	IngestRatio        float64 // IngestPerSec / VerifyPerSec
	IngestTopicPerSec  float64 // end to end through the ingest topic and consumer group
	QueryPerSec        float64
	QueryP50, QueryP99 time.Duration
	QueryErrors        int64
	CasePerSec         float64 // five-item bundles per second
	CaseP50, CaseP99   time.Duration
	CaseErrors         int64
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Records <= 0 {
		o.Records = DefaultRecords
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.CaseConcurrency <= 0 {
		o.CaseConcurrency = 4
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// Run measures everything: on the embedded broker, then, with
// Options.Kafka, the same phases against that cluster in a namespace of
// its own.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	res := Result{CPUs: runtime.GOMAXPROCS(0), CaseConcurrency: o.CaseConcurrency}
	say := func(f string, a ...any) { fmt.Fprintf(o.Out, f+"\n", a...) }
	say("onevisit bench: %d CPUs, %s per timed phase, %d records, query concurrency %d", res.CPUs, o.Duration, o.Records, o.Concurrency)
	subjects := Subjects(min(o.Records, PhaseRecords))

	var recs []string
	envs := []struct {
		name  string
		opts  dev.Options
		dst   *Figures
		scale **Scale
	}{{"embedded broker", dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true}, &res.Embedded, &res.Scale}}
	if o.Kafka != nil {
		kc := *o.Kafka
		kc.Names = bus.Names(fmt.Sprintf("bench%d", time.Now().UnixNano()))
		res.Kafka = &Figures{}
		envs = append(envs, struct {
			name  string
			opts  dev.Options
			dst   *Figures
			scale **Scale
		}{"Kafka " + strings.Join(kc.Brokers, ","), dev.Options{HTTPAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true, Kafka: &kc, Topics: bus.TopicSpec{ReplicationFactor: min(3, len(kc.Brokers))}}, res.Kafka, &res.KafkaScale})
	}
	for i, e := range envs {
		env, err := dev.Start(ctx, e.opts)
		if err != nil {
			return res, fmt.Errorf("bench on %s: %w", e.name, err)
		}
		f, r, verify, err := phases(ctx, env, subjects, o, i)
		if recs == nil {
			recs = r
		}
		env.Close()
		if err != nil {
			return res, fmt.Errorf("bench on %s: %w", e.name, err)
		}
		if i == 0 {
			res.VerifyPerSec = verify
			say("raw Ed25519 verify:        %10.0f /s (all cores, mean of right before and right after the ingest phase)", res.VerifyPerSec)
		}
		f.IngestRatio = f.IngestPerSec / res.VerifyPerSec
		*e.dst = f
		say("[%s]", e.name)
		say("  ingest (pipeline):         %10.0f records/s  = %.2f x raw verify", f.IngestPerSec, f.IngestRatio)
		say("  ingest (via ingest topic): %10.0f records/s  (producer + consumer group + pipeline)", f.IngestTopicPerSec)
		say("  query:                     %10.0f answers/s  p50 %s  p99 %s  errors %d  (concurrency %d, audit on)", f.QueryPerSec, f.QueryP50.Round(10*time.Microsecond), f.QueryP99.Round(10*time.Microsecond), f.QueryErrors, o.Concurrency)
		say("  case (%d-item bundle):      %10.0f bundles/s  p50 %s  p99 %s  errors %d  (concurrency %d, audit on)", CaseItems, f.CasePerSec, f.CaseP50.Round(10*time.Microsecond), f.CaseP99.Round(10*time.Microsecond), f.CaseErrors, o.CaseConcurrency)
	}
	res.BytesPerRecord = memoryPerRecord(recs)
	say("memory per held record:      %10.0f bytes (a view in memory, alone)", res.BytesPerRecord)
	for i, e := range envs {
		opts := e.opts
		if opts.Kafka != nil {
			kc := *opts.Kafka
			kc.Names = bus.Names(fmt.Sprintf("benchscale%d", time.Now().UnixNano()))
			opts.Kafka = &kc
		}
		say("[%s, scale: %d records held by one node, view and audit log on disk]", e.name, min(o.Records, NodeRecords))
		sc, err := scale(ctx, opts, o, i, say)
		if err != nil {
			return res, fmt.Errorf("bench scale on %s: %w", e.name, err)
		}
		*e.scale = &sc
	}
	say("[view store alone: %d records]", o.Records)
	va, err := viewAlone(ctx, o.Records, say)
	if err != nil {
		return res, fmt.Errorf("bench view store alone: %w", err)
	}
	res.ViewAlone = &va
	return res, nil
}

// phases runs the ingest and query phases in env. With measureVerify it
// also measures the raw verify rate around the ingest phase.
func phases(ctx context.Context, env *dev.Env, subjects []string, o Options, envIndex int) (Figures, []string, float64, error) {
	measureVerify := envIndex == 0
	profile := func(phase string) func() {
		if o.Profile == nil {
			return func() {}
		}
		return o.Profile(phase, envIndex)
	}
	var f Figures
	// Each environment has its own keys: sign the records with this one's.
	recs, err := signHousehold(ctx, env, subjects)
	if err != nil {
		return f, nil, 0, err
	}
	// Ingest through the pipeline: parallel verify, schema, grant,
	// pseudonym, dedupe, and one durable Kafka write per batch, with two
	// batches in flight as the node's ingest loop runs them. The raw
	// verify rate is measured right before and right after, and the ratio
	// uses their mean, so both see the same machine.
	half := len(recs) / 2
	var before, after float64
	if measureVerify {
		before = verifyRate(time.Second)
	}
	stopProfile := profile("ingest")
	start := time.Now()
	const batch = 512
	batches := make(chan int)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range batches {
				hi := min(lo+batch, half)
				subs := make([]ingest.Submission, hi-lo)
				for i := range subs {
					subs[i] = ingest.Submission{Raw: recs[lo+i], Dataset: "household"}
				}
				out, err := env.Node.Pipeline().Process(ctx, subs)
				if err == nil {
					for _, r := range out {
						if r.Status != wire.Accepted {
							err = fmt.Errorf("bench: record %d %s %s", lo+r.Index, r.Status, r.Code)
							break
						}
					}
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for lo := 0; lo < half; lo += batch {
		batches <- lo
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errc:
		return f, nil, 0, err
	default:
	}
	f.IngestPerSec = float64(half) / time.Since(start).Seconds()
	stopProfile()
	if measureVerify {
		after = verifyRate(time.Second)
	}

	// End to end: write the other half to the ingest topic, time until the
	// consumer group has accepted them all.
	p, closeFn, err := env.Publisher("public-security", "household", "kafka")
	if err != nil {
		return f, nil, 0, err
	}
	held := env.Node.View().Len()
	start = time.Now()
	for lo := half; lo < len(recs); lo += 500 {
		hi := min(lo+500, len(recs))
		if _, err := p.Sink.Send(ctx, "household", recs[lo:hi]); err != nil {
			closeFn()
			return f, nil, 0, err
		}
	}
	closeFn()
	want := held + (len(recs) - half)
	deadline := time.Now().Add(2 * time.Minute)
	for env.Node.View().Len() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	f.IngestTopicPerSec = float64(len(recs)-half) / time.Since(start).Seconds()

	stopProfile = profile("query")
	f.QueryPerSec, f.QueryP50, f.QueryP99, f.QueryErrors, err = queryLoad(ctx, env, subjects, o)
	stopProfile()
	if err != nil {
		return f, recs, (before + after) / 2, err
	}
	f.CasePerSec, f.CaseP50, f.CaseP99, f.CaseErrors, err = caseLoad(ctx, env, o)
	return f, recs, (before + after) / 2, err
}

func verifyRate(d time.Duration) float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := bytes.Repeat([]byte("x"), 600)
	sig := ed25519.Sign(priv, msg)
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := 0
			for time.Now().Before(stop) {
				for i := 0; i < 64; i++ {
					if ed25519.Verify(pub, msg, sig) {
						local++
					}
				}
			}
			n.Add(int64(local))
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// Subjects returns n distinct valid resident identity numbers.
func Subjects(n int) []string {
	out := make([]string, n)
	base := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		day := base.AddDate(0, 0, i/900)
		body := fmt.Sprintf("330106%s%03d", day.Format("20060102"), i%900+100)
		out[i] = body + string(CheckChar(body))
	}
	return out
}

// CheckChar is the ISO 7064 MOD 11-2 check character of 17 digits.
func CheckChar(body string) byte {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(body[i]-'0') * weights[i]
	}
	return "10X98765432"[sum%11]
}

// householdFields is a valid household row for subject id.
func householdFields(id string, i int) map[string]any {
	return map[string]any{
		"resident_id": id, "name": fmt.Sprintf("测试居民%d", i), "gender": "female",
		"birth_date": id[6:10] + "-" + id[10:12] + "-" + id[12:14], "ethnicity": "汉族",
		"household_id": fmt.Sprintf("HH-3301-%08d", i/3), "relation_to_head": "head",
		"address": "浙江省杭州市西湖区文三路90号", "registration_date": "2010-05-01",
	}
}

func signHousehold(ctx context.Context, env *dev.Env, subjects []string) ([]string, error) {
	cred, err := env.Credentials("public-security")
	if err != nil {
		return nil, err
	}
	s, err := cred.RecordSigner()
	if err != nil {
		return nil, err
	}
	items := make([]record.Unsigned, len(subjects))
	now := time.Now()
	for i, id := range subjects {
		f := householdFields(id, i)
		items[i] = record.Unsigned{Claims: record.Claims{Issuer: "public-security", Dataset: "household", Schema: "household/v1",
			ID: connectors.DeriveID("public-security", "household", record.Upsert, f), IssuedAt: now, Op: record.Upsert, SubjectField: "resident_id"}, Fields: f}
	}
	recs, errs, err := record.SignMany(ctx, s, items)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return recs, nil
}

func queryLoad(ctx context.Context, env *dev.Env, subjects []string, o Options) (float64, time.Duration, time.Duration, int64, error) {
	return queryLoadAt(ctx, env, env.BaseURL, subjects, o)
}

// queryLoadAt is queryLoad against base, env's node or a proxy before it.
func queryLoadAt(ctx context.Context, env *dev.Env, base string, subjects []string, o Options) (float64, time.Duration, time.Duration, int64, error) {
	c, err := env.Client("school-enrolment")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	return closedLoop(ctx, o.Concurrency, o.Duration, "query", func(i int) *http.Request {
		body, _ := json.Marshal(map[string]string{"dataset": "household", "subject": subjects[i%len(subjects)], "purpose": "school_enrolment", "case_id": "SE-2026-0001"}) // in the purpose's case-id format
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/query", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	}, func(resp *http.Response) error {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// closedLoop runs conc workers for dur after a half-second warm-up, each
// sending request(i) for its next i (worker w takes w, w+conc, ...) and
// checking the answer with check, which closes the body. It returns the
// throughput, the median and 99th percentile latency of the successful
// requests after the warm-up, and the errors; what names a request in the
// error when none succeeded.
func closedLoop(ctx context.Context, conc int, dur time.Duration, what string, request func(i int) *http.Request, check func(*http.Response) error) (float64, time.Duration, time.Duration, int64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc * 2}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var errs atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	warm := time.Now().Add(500 * time.Millisecond)
	stop := warm.Add(dur)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(stop) && ctx.Err() == nil; i += conc {
				req := request(i)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					err = check(resp)
				}
				d := time.Since(t0)
				if t0.Before(warm) {
					continue
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], d)
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return 0, 0, 0, errs.Load(), fmt.Errorf("bench: no %s succeeded (%d errors)", what, errs.Load())
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return float64(len(all)) / dur.Seconds(), all[len(all)/2], all[len(all)*99/100], errs.Load(), nil
}

// memoryPerRecord is the heap growth per record of a fresh view holding
// recs, measured after forced collections on both sides. The difference
// is signed: a heap that shrank between the readings (other phases'
// garbage collected late) gives a small or negative figure, never a
// wrapped-around one, and a negative figure is reported as 0.
func memoryPerRecord(recs []string) float64 {
	if len(recs) == 0 {
		return 0
	}
	heap := func() int64 {
		runtime.GC()
		runtime.GC() // the first cycle may leave finalizer-held memory for the second
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	v := view.New(len(recs))
	for i := range recs {
		// Copy the compact string so the view owns it, as it does when it
		// reads the accepted topic.
		own, err := record.Parse(string(append([]byte(nil), recs[i]...)))
		if err != nil {
			continue
		}
		v.Apply(fmt.Sprintf("%064x", i), view.FromRecord(own, 0))
	}
	after := heap()
	runtime.KeepAlive(v)
	return max(0, float64(after-before)/float64(len(recs)))
}
