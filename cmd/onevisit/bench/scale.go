package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// Scale holds the figures of the scale phase: one node (view on disk)
// holding Options.Records records, what it costs and how it answers.
type Scale struct {
	Records int
	// FillPerSec is records signed (in parallel on every core) and
	// ingested per second while the node was filled: signing and ingest
	// share the cores, so it is not the ingest figure.
	FillPerSec float64
	// Heap and RSS of the whole process after a forced collection, before
	// and after the fill; per record is the signed difference over
	// Records, never below 0.
	HeapBefore, HeapAfter, RSSBefore, RSSAfter int64
	HeapPerRecord, RSSPerRecord                float64
	// ViewDisk is the view store's size on disk, flushed and compacted.
	ViewDisk      uint64
	DiskPerRecord float64
	AuditEntries  uint64
	AuditDisk     uint64 // the audit log store's size on disk
	// RebuildPerSec is records per second a new node reads from the
	// accepted topics (verifying each) into its own store until ready.
	RebuildPerSec float64
	Rebuild       time.Duration
	// Query load over subjects drawn at random from all Records, direct
	// and through one loopback HTTP hop (what forwarding to the owning
	// node would add).
	QueryPerSec, HopQueryPerSec float64
	QueryP50, QueryP99          time.Duration
	HopP50, HopP99              time.Duration
	QueryErrors, HopErrors      int64
	// JoinQueries and JoinErrors count the queries the first node
	// answered, and failed, while the new node caught up; JoinWorstP99
	// is the worst p99 of any one-second window then.
	JoinQueries, JoinErrors int64
	JoinWorstP99            time.Duration
}

// subjectAt is the i-th subject of Subjects, without holding them all.
func subjectAt(i int) string {
	day := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/900)
	body := fmt.Sprintf("330106%s%03d", day.Format("20060102"), i%900+100)
	return body + string(CheckChar(body))
}

// memory is the process's heap and resident set after a forced
// collection that also returns freed memory to the system.
func memory() (heap, rss int64) {
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), residentBytes()
}

// residentBytes reads the resident set size from /proc (0 elsewhere).
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// perRecord is (after - before) / n as a signed difference, 0 if the
// process shrank.
func perRecord(before, after int64, n int) float64 {
	if n <= 0 {
		return 0
	}
	return max(0, float64(after-before)/float64(n))
}

// NodeRecords bounds the records the scale phase puts in a node: the
// in-process broker keeps every message of every topic in its heap (about
// 18 GiB at 1,000,000 records on this machine, where it stopped answering
// in time), so a larger --records measures the view store alone beyond it
// (ViewAlone).
const NodeRecords = 300_000

// scale runs the scale phase in a fresh environment made by opts, and
// prints each figure as soon as it is measured.
func scale(ctx context.Context, opts dev.Options, o Options, envIndex int, say func(string, ...any)) (Scale, error) {
	o.Records = min(o.Records, NodeRecords)
	s := Scale{Records: o.Records}
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	env, err := dev.Start(ctx, opts)
	if err != nil {
		return s, err
	}
	defer env.Close()
	if !env.Node.View().OnDisk() {
		return s, fmt.Errorf("bench: the scale phase needs the view on disk")
	}
	s.HeapBefore, s.RSSBefore = memory()
	start := time.Now()
	if err := fill(ctx, env, o.Records); err != nil {
		return s, err
	}
	s.FillPerSec = float64(o.Records) / time.Since(start).Seconds()
	s.HeapAfter, s.RSSAfter = memory()
	s.HeapPerRecord = perRecord(s.HeapBefore, s.HeapAfter, o.Records)
	s.RSSPerRecord = perRecord(s.RSSBefore, s.RSSAfter, o.Records)
	if err := env.Node.View().Compact(); err != nil {
		return s, err
	}
	s.ViewDisk = env.Node.View().DiskBytes()
	s.DiskPerRecord = float64(s.ViewDisk) / float64(o.Records)
	s.AuditEntries, s.AuditDisk = env.Node.AuditLog().Size(), env.Node.AuditLog().DiskBytes()
	say("  fill (sign on all cores + ingest): %8.0f records/s, %d records", s.FillPerSec, s.Records)
	brokers := "in-process broker in memory"
	if opts.Kafka != nil {
		brokers = "brokers in their own processes"
	}
	say("  process heap after GC:  %8.1f MiB -> %8.1f MiB  = %6.0f bytes/record (view and audit log on disk, %s)", mb(s.HeapBefore), mb(s.HeapAfter), s.HeapPerRecord, brokers)
	say("  process RSS after GC:   %8.1f MiB -> %8.1f MiB  = %6.0f bytes/record", mb(s.RSSBefore), mb(s.RSSAfter), s.RSSPerRecord)
	say("  view store on disk:     %8.1f MiB  = %6.0f bytes/record (compacted)", mb(int64(s.ViewDisk)), s.DiskPerRecord)
	say("  audit log on disk:      %8d entries, %.1f MiB", s.AuditEntries, mb(int64(s.AuditDisk)))

	rng := rand.New(rand.NewPCG(uint64(o.Records), 11))
	sample := make([]string, min(o.Records, 100_000))
	for i := range sample {
		sample[i] = subjectAt(rng.IntN(o.Records))
	}
	// A new node on the same topics: time until it has caught up, while
	// the first node keeps answering queries.
	joined := make(chan struct{})
	joinDone := make(chan struct{})
	go func() {
		defer close(joinDone)
		w := o
		w.Duration = time.Second
		for {
			select {
			case <-joined:
				return
			default:
			}
			qps, _, p99, errs, err := queryLoadAt(ctx, env, env.BaseURL, sample, w)
			s.JoinQueries += int64(qps * w.Duration.Seconds())
			s.JoinErrors += errs
			if err != nil && errs == 0 {
				s.JoinErrors++
			}
			s.JoinWorstP99 = max(s.JoinWorstP99, p99)
		}
	}()
	stopProfile := func() {}
	if o.Profile != nil {
		stopProfile = o.Profile("rebuild", envIndex)
	}
	start = time.Now()
	n2, err := env.StartNode(ctx, "bench-rebuild")
	s.Rebuild = time.Since(start)
	stopProfile()
	close(joined)
	<-joinDone
	if err != nil {
		return s, fmt.Errorf("bench: rebuild node: %w", err)
	}
	held := n2.Node.View().Len()
	n2.Close()
	if held != o.Records {
		return s, fmt.Errorf("bench: the rebuilt node holds %d records, want %d", held, o.Records)
	}
	s.RebuildPerSec = float64(o.Records) / s.Rebuild.Seconds()
	say("  rebuild (new node):     %8.0f records/s  (%s for %d)", s.RebuildPerSec, s.Rebuild.Round(time.Millisecond), s.Records)
	say("  queries meanwhile:      %8d answered, %d errors, worst 1-s p99 %s (first node, while the new one caught up)", s.JoinQueries, s.JoinErrors, s.JoinWorstP99.Round(10*time.Microsecond))

	// Queries over subjects spread over the whole store, so the block
	// cache does not hold them all.
	s.QueryPerSec, s.QueryP50, s.QueryP99, s.QueryErrors, err = queryLoadAt(ctx, env, env.BaseURL, sample, o)
	if err != nil {
		return s, err
	}
	say("  query from disk:        %8.0f answers/s  p50 %s  p99 %s  errors %d  (concurrency %d, random subjects)", s.QueryPerSec, s.QueryP50.Round(10*time.Microsecond), s.QueryP99.Round(10*time.Microsecond), s.QueryErrors, o.Concurrency)
	// One forwarding hop: a reverse proxy on loopback in front of the
	// node, as a node that does not own a subject would forward to one
	// that does.
	target, _ := url.Parse(env.BaseURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: o.Concurrency * 2}
	proxy := httptest.NewServer(rp)
	defer proxy.Close()
	s.HopQueryPerSec, s.HopP50, s.HopP99, s.HopErrors, err = queryLoadAt(ctx, env, proxy.URL, sample, o)
	if err == nil {
		say("  + one forwarding hop:   %8.0f answers/s  p50 %s  p99 %s  errors %d  (loopback reverse proxy)", s.HopQueryPerSec, s.HopP50.Round(10*time.Microsecond), s.HopP99.Round(10*time.Microsecond), s.HopErrors)
	}
	return s, err
}

// fill signs n household records with distinct subjects, in parallel on
// every core (each record signed, none reused: the subject is bound into
// the signature), and ingests them through the node's pipeline as they
// come, so the benchmark never holds them all.
func fill(ctx context.Context, env *dev.Env, n int) error {
	cred, err := env.Credentials("public-security")
	if err != nil {
		return err
	}
	signer, err := cred.RecordSigner()
	if err != nil {
		return err
	}
	const batch = 512
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	los := make(chan int)
	signed := make(chan []string, 4)
	var once sync.Once
	var first error
	fail := func(err error) { once.Do(func() { first = err; cancel() }) }
	go func() {
		defer close(los)
		for lo := 0; lo < n; lo += batch {
			select {
			case los <- lo:
			case <-ctx.Done():
				return
			}
		}
	}()
	var signers sync.WaitGroup
	now := time.Now()
	for range runtime.GOMAXPROCS(0) {
		signers.Add(1)
		go func() {
			defer signers.Done()
			for lo := range los {
				hi := min(lo+batch, n)
				items := make([]record.Unsigned, hi-lo)
				for i := range items {
					f := householdFields(subjectAt(lo+i), lo+i)
					items[i] = record.Unsigned{Claims: record.Claims{Issuer: "public-security", Dataset: "household", Schema: "household/v1",
						ID: connectors.DeriveID("public-security", "household", record.Upsert, f), IssuedAt: now, Op: record.Upsert, SubjectField: "resident_id"}, Fields: f}
				}
				recs, errs, err := record.SignMany(ctx, signer, items)
				for _, e := range errs {
					if err == nil {
						err = e
					}
				}
				if err != nil {
					fail(err)
					return
				}
				select {
				case signed <- recs:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { signers.Wait(); close(signed) }()
	var ingesters sync.WaitGroup
	for range 2 {
		ingesters.Add(1)
		go func() {
			defer ingesters.Done()
			for recs := range signed {
				subs := make([]ingest.Submission, len(recs))
				for i, r := range recs {
					subs[i] = ingest.Submission{Raw: r, Dataset: "household"}
				}
				out, err := env.Node.Pipeline().Process(ctx, subs)
				for _, r := range out {
					if err == nil && r.Status != wire.Accepted {
						err = fmt.Errorf("bench: fill record %s %s", r.Status, r.Code)
					}
				}
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	ingesters.Wait()
	if first != nil {
		return first
	}
	if got := env.Node.View().Len(); got != n {
		return fmt.Errorf("bench: the view holds %d records after the fill, want %d", got, n)
	}
	return nil
}
