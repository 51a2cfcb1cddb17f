package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/onevisit/onevisit/exchange/view"
)

// ViewAlone holds the figures of the view store alone, without a node or
// a broker, at Options.Records entries.
type ViewAlone struct {
	Records int
	// ApplyPerSec is entries applied per second (one goroutine, as one
	// tail applies one partition).
	ApplyPerSec float64
	// Heap and RSS growth after a forced collection, per entry, and the
	// store's size on disk after a compaction, per entry.
	HeapPerRecord, RSSPerRecord, DiskPerRecord float64
	// Get latency over random subjects, two goroutines.
	GetP50, GetP99 time.Duration
}

// viewAlone fills a view store in a temporary folder with n entries of a
// household record's size and shape (a 760-character JWT and nine
// 60-character disclosures) and random content: the view never looks
// inside an entry, so nothing here is signed, and random content does not
// compress, so the disk figure is an upper bound. Subjects are
// pseudonym-like (hex of a hash), record ids distinct.
func viewAlone(ctx context.Context, n int, say func(string, ...any)) (ViewAlone, error) {
	a := ViewAlone{Records: n}
	dir, err := os.MkdirTemp("", "onevisit-bench-view-")
	if err != nil {
		return a, err
	}
	defer os.RemoveAll(dir)
	heap0, rss0 := memory()
	v, err := view.Open(dir, []byte("bench view store key, not secret"), view.Options{})
	if err != nil {
		return a, err
	}
	defer v.Close()
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	text := func(k int) string {
		b := make([]byte, k*3/4)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	names := []string{"address", "birth_date", "ethnicity", "gender", "household_id", "name", "registration_date", "relation_to_head", "resident_id"}
	now := time.Now().Unix()
	// Batches as a rebuilding node's view applier writes them (its
	// maximum, exchange.maxApplyBatch).
	const applyBatch = 512
	batch := make([]view.Item, 0, applyBatch)
	start := time.Now()
	for i := 0; i < n; i++ {
		if i%10_000 == 0 && ctx.Err() != nil {
			return a, ctx.Err()
		}
		e := &view.Entry{Dataset: "household", ID: "rec-" + strconv.Itoa(i), Issuer: "public-security", KID: "public-security-record#1",
			Schema: "household/v1", IssuedAt: now, AcceptedAt: now * 1000, Pos: int64(i/3 + 1), JWT: text(760)}
		for _, name := range names {
			e.Disclosure = append(e.Disclosure, view.Disclosure{Name: name, Encoded: text(60)})
		}
		batch = append(batch, view.Item{Subject: subjectPseudonym(i), Entry: e, Topic: "onevisit.accepted.household", Partition: i % 3, Next: e.Pos})
		if len(batch) == applyBatch || i == n-1 {
			if err := v.ApplyBatch(batch); err != nil {
				return a, fmt.Errorf("bench: view store: %w", err)
			}
			batch = batch[:0]
		}
	}
	a.ApplyPerSec = float64(n) / time.Since(start).Seconds()
	if err := v.Compact(); err != nil {
		return a, err
	}
	heap1, rss1 := memory()
	a.HeapPerRecord, a.RSSPerRecord = perRecord(heap0, heap1, n), perRecord(rss0, rss1, n)
	a.DiskPerRecord = float64(v.DiskBytes()) / float64(max(1, n))
	if v.Len() != n {
		return a, fmt.Errorf("the store holds %d entries, want %d", v.Len(), n)
	}
	say("  apply:                  %8.0f entries/s (one goroutine, batches of %d)", a.ApplyPerSec, applyBatch)
	say("  heap after GC:          %8.0f bytes/entry;  RSS %.0f bytes/entry", a.HeapPerRecord, a.RSSPerRecord)
	say("  on disk (compacted):    %8.0f bytes/entry (random content: an upper bound)", a.DiskPerRecord)

	// Gets of random held subjects, two goroutines, two seconds.
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	stop := time.Now().Add(2 * time.Second)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []time.Duration
			for time.Now().Before(stop) {
				s := subjectPseudonym(r.IntN(n))
				t0 := time.Now()
				_, ok := v.Get("household", s)
				d := time.Since(t0)
				if ok {
					mine = append(mine, d)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lat) == 0 {
		return a, fmt.Errorf("no Get found its entry")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	a.GetP50, a.GetP99 = lat[len(lat)/2], lat[len(lat)*99/100]
	say("  get (random subjects):  %8d in 2s, p50 %s  p99 %s", len(lat), a.GetP50.Round(time.Microsecond), a.GetP99.Round(time.Microsecond))
	return a, nil
}

// subjectPseudonym is a stand-in for the i-th subject's pseudonym: 64
// hex characters, spread over the key space as HMAC outputs are.
func subjectPseudonym(i int) string {
	h := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(h[:])
}
