package view_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs/errorfs"

	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/view/viewtest"
)

const topic = "onevisit.accepted.household"

// TestStoreResumesFromCheckpoint: a view on disk keeps its entries, its
// live count and each partition's checkpoint (written in the same batch as
// the entry) across a close and reopen, so a node resumes reading the log
// where it stopped.
func TestStoreResumesFromCheckpoint(t *testing.T) {
	p := newPublisher(t)
	dir := t.TempDir()
	v, err := view.Open(dir, testKey, view.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Resume(topic, 0); ok {
		t.Fatal("a fresh store has a checkpoint")
	}
	mustApply(t, v, logged("s1", p.entry(t, "r1", 100, record.Upsert).At(0), 0))
	mustApply(t, v, logged("s2", p.entry(t, "r2", 100, record.Upsert).At(1), 0))
	mustApply(t, v, logged("s2", p.entry(t, "r3", 90, record.Upsert).At(2), 0)) // stale: not applied, checkpoint still moves
	mustApply(t, v, logged("s3", p.entry(t, "r4", 100, record.Delete).At(0), 1))
	mustApply(t, v, view.Item{Topic: topic, Partition: 1, Next: 5}) // offsets 1..4 refused, say
	v.Apply("s4", p.entry(t, "own", 100, record.Upsert))            // own write, not read back yet
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}

	w := openDisk(t, dir)
	type cp struct {
		next int64
		ok   bool
	}
	for part, want := range map[int]cp{0: {3, true}, 1: {5, true}, 2: {0, false}} {
		if n, ok := w.Resume(topic, part); (cp{n, ok}) != want {
			t.Errorf("Resume(partition %d) = %d, %v; want %d, %v", part, n, ok, want.next, want.ok)
		}
	}
	got := map[string]state{}
	for _, s := range []string{"s1", "s2", "s3", "s4", "s5"} {
		got[s] = stateOf(w, s)
	}
	want := map[string]state{
		"s1": {true, true, "r1", false},
		"s2": {true, true, "r2", false},
		"s3": {true, false, "r4", true},
		"s4": {true, true, "own", false},
		"s5": {},
	}
	for s := range want {
		if got[s] != want[s] {
			t.Errorf("after reopen %s = %+v, want %+v", s, got[s], want[s])
		}
	}
	if n := w.Len(); n != 3 {
		t.Errorf("Len after reopen = %d, want 3", n)
	}
	if !w.Seen(issuer, dataset, "r3") || w.Seen(issuer, dataset, "r9") {
		t.Error("Seen after reopen: want r3 remembered and r9 not")
	}
	// The checkpoint never moves back.
	mustApply(t, w, logged("s1", p.entry(t, "r1", 100, record.Upsert).At(0), 0))
	if n, _ := w.Resume(topic, 0); n != 3 {
		t.Errorf("Resume after re-reading offset 0 = %d, want 3", n)
	}
}

// TestStoreDetectsCorruptEntries changes the store behind the view's back
// (a flipped byte, a value copied under another subject, a value cut
// short): none of them is served, each is counted, and a newer record
// replaces a corrupt one.
func TestStoreDetectsCorruptEntries(t *testing.T) {
	p := newPublisher(t)
	key := func(subject string) []byte { return []byte("e\x00" + dataset + "\x00" + subject) }
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *pebble.DB)
		bad    string // the subject whose entry must not be served
	}{
		{"flipped byte in the record", func(t *testing.T, db *pebble.DB) {
			val := get(t, db, key("victim"))
			i := bytes.Index(val, []byte("eyJ")) + 10
			val[i] ^= 1
			set(t, db, key("victim"), val)
		}, "victim"},
		{"entry copied under another subject", func(t *testing.T, db *pebble.DB) {
			set(t, db, key("other"), get(t, db, key("victim")))
		}, "other"},
		{"entry cut short", func(t *testing.T, db *pebble.DB) {
			val := get(t, db, key("victim"))
			set(t, db, key("victim"), val[:len(val)-40])
		}, "victim"},
		{"entry replaced by garbage", func(t *testing.T, db *pebble.DB) {
			set(t, db, key("victim"), []byte("x"))
		}, "victim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tampered(t, func(v *view.View) {
				mustApply(t, v, logged("victim", p.entry(t, "r1", 100, record.Upsert).At(0), 0))
			}, tt.tamper)
			if st := stateOf(w, tt.bad); st != (state{}) {
				t.Fatalf("tampered entry served: %+v", st)
			}
			if w.Corrupt() == 0 {
				t.Fatal("Corrupt() = 0 after reading a tampered entry")
			}
			// A newer record takes the corrupt entry's place.
			w.Apply(tt.bad, p.entry(t, "r2", 200, record.Upsert))
			if st, want := stateOf(w, tt.bad), (state{true, true, "r2", false}); st != want {
				t.Fatalf("after a newer record: %+v, want %+v", st, want)
			}
		})
	}
}

// TestStoreUnderAnotherKeyStartsEmpty: a store written under another MAC
// key (the key backend changed) cannot be checked, so Open empties it and
// the node rebuilds from the log (no checkpoint).
func TestStoreUnderAnotherKeyStartsEmpty(t *testing.T) {
	p := newPublisher(t)
	dir := t.TempDir()
	v := openDisk(t, dir)
	mustApply(t, v, logged("s1", p.entry(t, "r1", 100, record.Upsert).At(0), 0))
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := view.Open(dir, bytes.Repeat([]byte{8}, 32), view.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, ok := w.Resume(topic, 0); ok {
		t.Error("checkpoint kept under another key")
	}
	if st := stateOf(w, "s1"); st != (state{}) || w.Len() != 0 {
		t.Errorf("entry kept under another key: %+v, Len %d", st, w.Len())
	}
}

func get(t *testing.T, db *pebble.DB, k []byte) []byte {
	t.Helper()
	v, c, err := db.Get(k)
	if err != nil {
		t.Fatalf("get %q: %v", k, err)
	}
	defer c.Close()
	return append([]byte(nil), v...)
}

func set(t *testing.T, db *pebble.DB, k, v []byte) {
	t.Helper()
	if err := db.Set(k, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// silent drops Pebble's informational lines in this test's own opens.
type silent struct{}

func (silent) Infof(string, ...any)         {}
func (silent) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// TestStoreReadsDuringClose: queries still running when the node closes
// its store (a request that outlived the HTTP server's shutdown) get
// "absent", never a read of the closed database, which Pebble answers
// with a panic. Run with -race it also checks that the reads and Close
// share no unguarded state.
func TestStoreReadsDuringClose(t *testing.T) {
	p := newPublisher(t)
	v := openDisk(t, t.TempDir())
	e := p.entry(t, "r1", 100, record.Upsert)
	mustApply(t, v, logged("s1", e.At(0), 0))
	start := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				select {
				case <-done:
					return
				default:
				}
				v.Get(e.Dataset, "s1")
				v.Current(e.Dataset, "s1")
				v.Seen(e.Issuer, e.Dataset, e.ID)
				v.DiskBytes()
			}
		}()
	}
	close(start)
	if got, ok := v.Get(e.Dataset, "s1"); !ok || got.ID != "r1" {
		t.Fatalf("before Close: Get = %+v, %v", got, ok)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Get(e.Dataset, "s1"); ok {
		t.Error("Get after Close found the entry")
	}
	if v.Seen(e.Issuer, e.Dataset, e.ID) {
		t.Error("Seen after Close reports the id")
	}
	close(done)
	wg.Wait()
}

// TestStoreRefusesForgedCheckpoints: a checkpoint moved forward on disk
// would make a restarted node skip the records in between (a deletion, a
// newer version) and go on serving what they replaced. A checkpoint whose
// MAC does not verify is not resumed at (the partition is read from the
// start) and is counted; the untouched partition keeps its checkpoint.
func TestStoreRefusesForgedCheckpoints(t *testing.T) {
	p := newPublisher(t)
	ckpt := func(partition int) []byte { return []byte("o\x00" + topic + "\x00" + strconv.Itoa(partition)) }
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *pebble.DB)
	}{
		{"offset moved forward, MAC kept", func(t *testing.T, db *pebble.DB) {
			val := get(t, db, ckpt(0))
			binary.BigEndian.PutUint64(val[:8], 1000)
			set(t, db, ckpt(0), val)
		}},
		{"bare 8-byte offset", func(t *testing.T, db *pebble.DB) {
			set(t, db, ckpt(0), binary.BigEndian.AppendUint64(nil, 1000))
		}},
		{"other partition's checkpoint copied", func(t *testing.T, db *pebble.DB) {
			set(t, db, ckpt(0), get(t, db, ckpt(1)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tampered(t, func(v *view.View) {
				mustApply(t, v, logged("s1", p.entry(t, "r1", 100, record.Upsert).At(0), 0))
				mustApply(t, v, logged("s2", p.entry(t, "r2", 100, record.Upsert).At(9), 1))
			}, tt.tamper)
			if n, ok := w.Resume(topic, 0); ok {
				t.Errorf("forged checkpoint resumed at: %d", n)
			}
			if n, ok := w.Resume(topic, 1); !ok || n != 10 {
				t.Errorf("untouched checkpoint: Resume = %d, %v; want 10, true", n, ok)
			}
			if w.Corrupt() != 1 {
				t.Errorf("Corrupt() = %d, want 1", w.Corrupt())
			}
		})
	}
}

// TestStoreReadErrorKeepsCheckpoint: when the store cannot be read (a disk
// error, injected here through Pebble's errorfs on the store's table
// files), ApplyBatch reports it and neither the entry nor the partition's
// checkpoint moves, so the tail applies the record again instead of
// reading past it. Before the fix the record was lost: the read error
// counted as "keep what is there" and the checkpoint moved on.
func TestStoreReadErrorKeepsCheckpoint(t *testing.T) {
	p := newPublisher(t)
	dir := t.TempDir()
	v := openDisk(t, dir)
	mustApply(t, v, logged("s1", p.entry(t, "r1", 100, record.Upsert).At(0), 0))
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}

	w, failing := viewtest.OpenFailingReads(t, dir, testKey)
	failing.Store(true)
	newer := logged("s1", p.entry(t, "r2", 200, record.Upsert).At(1), 0)
	if err := w.ApplyBatch([]view.Item{newer}); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("ApplyBatch with the store unreadable = %v; want the read error", err)
	}
	if next, ok := w.Resume(topic, 0); next != 1 || !ok {
		t.Fatalf("checkpoint after the failed apply = %d, %v; want 1 (still before offset 1)", next, ok)
	}

	failing.Store(false)
	if got := stateOf(w, "s1"); got != (state{true, true, "r1", false}) {
		t.Fatalf("s1 after the failed apply: %+v; want r1 live, nothing written", got)
	}
	mustApply(t, w, newer)
	if next, _ := w.Resume(topic, 0); next != 2 {
		t.Fatalf("checkpoint after the retried apply = %d; want 2", next)
	}
	if got := stateOf(w, "s1"); got != (state{true, true, "r2", false}) {
		t.Fatalf("s1 after the retried apply: %+v; want r2 live", got)
	}
}

// logged is the item of e read from partition of the test topic.
func logged(subject string, e *view.Entry, partition int) view.Item {
	return view.Item{Subject: subject, Entry: e, Topic: topic, Partition: partition, Next: e.Pos}
}

// mustApply is ApplyBatch on a store that must not fail.
func mustApply(t *testing.T, v *view.View, items ...view.Item) {
	t.Helper()
	if err := v.ApplyBatch(items); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}
}

// tampered fills a fresh store with fill, changes its Pebble database
// behind the view's back with tamper, and opens it again.
func tampered(t *testing.T, fill func(*view.View), tamper func(*testing.T, *pebble.DB)) *view.View {
	t.Helper()
	dir := t.TempDir()
	v, err := view.Open(dir, testKey, view.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: silent{}})
	if err != nil {
		t.Fatal(err)
	}
	tamper(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return openDisk(t, dir)
}
