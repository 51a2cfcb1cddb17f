package view_test

import (
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"testing"

	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
)

// TestApplyBatchEqualsOneByOne: ApplyBatch over any split of a sequence
// of items leaves a view on disk exactly as applying them one by one does,
// and as the view in memory does: the same
// entry for every subject, the same live count, the same checkpoints,
// and after a reopen the same again; and Lookup, the batched read,
// answers as Seen and Current do. The sequences mix what a batch of the
// view applier holds: several records of one subject (a later one must
// see what an earlier one decided), a record id twice (a replay), deletes,
// same-second updates, this node's own writes (no position) and messages
// that change nothing (a refused record: only the checkpoint moves).
func TestApplyBatchEqualsOneByOne(t *testing.T) {
	p := newPublisher(t)
	subjects := []string{"s0", "s1", "s2", "s3", "s4"}
	type rec struct {
		e    *view.Entry
		subj string
	}
	var recs []rec
	for i := 0; i < 80; i++ {
		op := record.Upsert
		if i%5 == 4 {
			op = record.Delete
		}
		recs = append(recs, rec{p.entry(t, fmt.Sprint("r", i), 100+int64(i%2), op), subjects[i%len(subjects)]})
	}
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rnd := mrand.New(mrand.NewPCG(seed, 7))
			next := map[int]int64{}
			var items []view.Item
			for len(items) < 300 {
				r := recs[rnd.IntN(len(recs))]
				part := rnd.IntN(3)
				switch k := rnd.IntN(10); {
				case k <= 1: // this node's own write, not read back yet
					items = append(items, view.Item{Subject: r.subj, Entry: r.e})
				case k == 2: // a message that changes nothing
					next[part]++
					items = append(items, view.Item{Topic: topic, Partition: part, Next: next[part]})
				default:
					e := r.e.At(next[part])
					next[part]++
					items = append(items, view.Item{Subject: r.subj, Entry: e, Topic: topic, Partition: part, Next: e.Pos})
				}
			}
			oneDir, batchDir := t.TempDir(), t.TempDir()
			one, batched, mem := openDisk(t, oneDir), openDisk(t, batchDir), view.New(1<<10)
			for _, it := range items {
				mustApply(t, one, it)
				if it.Entry != nil {
					mem.Apply(it.Subject, it.Entry)
				}
			}
			for rest := items; len(rest) > 0; {
				n := 1 + rnd.IntN(min(len(rest), 60))
				if err := batched.ApplyBatch(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			compare := func(when string, got *view.View) {
				t.Helper()
				for _, s := range subjects {
					want, _ := one.Current(dataset, s)
					have, _ := got.Current(dataset, s)
					if !reflect.DeepEqual(have, want) {
						t.Errorf("%s: subject %s: batched holds %s, one by one %s", when, s, brief(have), brief(want))
					}
					if m := stateOf(mem, s); m != stateOf(got, s) {
						t.Errorf("%s: subject %s: batched %+v, in memory %+v", when, s, stateOf(got, s), m)
					}
				}
				// Lookup answers as Seen and Current do, one by one.
				qs := make([]view.Query, len(recs))
				for i, r := range recs {
					qs[i] = view.Query{Key: r.e.Key(), Subject: r.subj}
				}
				for _, v := range []*view.View{got, mem} {
					held, err := v.Lookup(qs)
					if err != nil {
						t.Fatalf("%s: Lookup: %v", when, err)
					}
					for i, h := range held {
						k := qs[i].Key
						cur, _ := v.Current(dataset, qs[i].Subject)
						if h.Seen != v.Seen(k.Issuer, k.Dataset, k.ID) || !reflect.DeepEqual(h.Current, cur) {
							t.Errorf("%s: Lookup(%s, %s) = seen %v, %s; Seen %v, Current %s", when, k.ID, qs[i].Subject, h.Seen, brief(h.Current), v.Seen(k.Issuer, k.Dataset, k.ID), brief(cur))
						}
					}
				}
				if got.Len() != one.Len() || got.Len() != mem.Len() {
					t.Errorf("%s: Len: batched %d, one by one %d, in memory %d", when, got.Len(), one.Len(), mem.Len())
				}
				for part := 0; part < 3; part++ {
					w, wok := one.Resume(topic, part)
					g, gok := got.Resume(topic, part)
					if w != g || wok != gok || (next[part] > 0 && w != next[part]) {
						t.Errorf("%s: partition %d: batched resumes at %d (%v), one by one at %d (%v), log read to %d", when, part, g, gok, w, wok, next[part])
					}
				}
			}
			compare("open", batched)
			if err := batched.Close(); err != nil {
				t.Fatal(err)
			}
			compare("reopened", openDisk(t, batchDir))
		})
	}
}

// brief names an entry by what decides order: id, iat, position, deleted.
func brief(e *view.Entry) string {
	if e == nil {
		return "nothing"
	}
	return fmt.Sprintf("%s (iat %d, pos %d, deleted %v)", e.ID, e.IssuedAt, e.Pos, e.Deleted)
}
