package view_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
)

const (
	issuer  = "public-security"
	kid     = "public-security-record#1"
	dataset = "household"
)

// publisher signs real records with an in-memory Ed25519 key and keeps
// the matching key directory, so tests can verify what the view returns.
type publisher struct {
	signer keys.Signer
	dir    *keys.Directory
}

func newPublisher(t testing.TB) *publisher {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := keys.NewDirectory()
	if err := dir.Add(keys.PublicKey{KID: kid, Owner: issuer, Use: keys.UseRecord, Key: pub, Status: keys.Active}); err != nil {
		t.Fatal(err)
	}
	return &publisher{signer: keys.NewLocalSigner(kid, priv), dir: dir}
}

// fields are a household row: Sign orders disclosures by field name.
func fields(subject string) map[string]any {
	return map[string]any{
		"resident_id":       subject,
		"name":              "陈子涵",
		"gender":            "male",
		"birth_date":        "2020-03-08",
		"ethnicity":         "汉族",
		"household_id":      "330106-00451",
		"relation_to_head":  "child",
		"address":           "浙江省杭州市西湖区文三路90号2幢501室",
		"registration_date": "2020-03-20",
	}
}

// sign returns the compact record and its parsed form.
func (p *publisher) sign(t testing.TB, id string, iat int64, op record.Op) (string, *record.Record) {
	t.Helper()
	c := record.Claims{Issuer: issuer, Dataset: dataset, Schema: "household/v1", ID: id, IssuedAt: time.Unix(iat, 0), Op: op}
	f := fields("330106202003080153")
	if op == record.Delete {
		f = map[string]any{"resident_id": "330106202003080153"}
	}
	compact, err := record.Sign(context.Background(), p.signer, c, f)
	if err != nil {
		t.Fatalf("sign %s: %v", id, err)
	}
	r, err := record.Parse(compact)
	if err != nil {
		t.Fatalf("parse %s: %v", id, err)
	}
	return compact, r
}

func (p *publisher) entry(t testing.TB, id string, iat int64, op record.Op) *view.Entry {
	t.Helper()
	_, r := p.sign(t, id, iat, op)
	return view.FromRecord(r, iat*1000)
}

// state is what a view shows of one subject, for whole comparisons.
type state struct {
	Present bool   // Current found something
	Live    bool   // Get found something
	ID      string // the record id held
	Deleted bool
}

func stateOf(v *view.View, subject string) state {
	var s state
	if e, ok := v.Current(dataset, subject); ok {
		s.Present, s.ID, s.Deleted = true, e.ID, e.Deleted
	}
	if e, ok := v.Get(dataset, subject); ok {
		s.Live = true
		if e.ID != s.ID {
			s.ID = "Get/Current disagree: " + e.ID + " vs " + s.ID
		}
	}
	return s
}

func TestApplyOrder(t *testing.T) {
	p := newPublisher(t)
	type step struct {
		id        string
		iat       int64
		op        record.Op
		wantApply bool
		want      state
		wantLen   int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"newer iat replaces", []step{
			{"r1", 100, record.Upsert, true, state{true, true, "r1", false}, 1},
			{"r2", 200, record.Upsert, true, state{true, true, "r2", false}, 1},
		}},
		{"older iat arriving later is ignored", []step{
			{"r2", 200, record.Upsert, true, state{true, true, "r2", false}, 1},
			{"r1", 100, record.Upsert, false, state{true, true, "r2", false}, 1},
		}},
		{"same iat: the later write wins, never the greater record id", []step{
			{"b", 100, record.Upsert, true, state{true, true, "b", false}, 1},
			{"a", 100, record.Upsert, true, state{true, true, "a", false}, 1},
			{"c", 100, record.Upsert, true, state{true, true, "c", false}, 1},
		}},
		{"the same record twice replaces nothing", []step{
			{"r1", 100, record.Upsert, true, state{true, true, "r1", false}, 1},
			{"r1", 100, record.Upsert, false, state{true, true, "r1", false}, 1},
		}},
		{"delete hides the subject", []step{
			{"r1", 100, record.Upsert, true, state{true, true, "r1", false}, 1},
			{"d1", 200, record.Delete, true, state{true, false, "d1", true}, 0},
		}},
		{"an older upsert after a delete cannot resurrect", []step{
			{"r1", 100, record.Upsert, true, state{true, true, "r1", false}, 1},
			{"d1", 200, record.Delete, true, state{true, false, "d1", true}, 0},
			{"r0", 150, record.Upsert, false, state{true, false, "d1", true}, 0},
			{"r9", 200, record.Upsert, true, state{true, true, "r9", false}, 1}, // same iat, written later: a true re-upsert
		}},
		{"a delete before any upsert is remembered", []step{
			{"d1", 200, record.Delete, true, state{true, false, "d1", true}, 0},
			{"r1", 100, record.Upsert, false, state{true, false, "d1", true}, 0},
		}},
		{"re-upsert after delete is live again", []step{
			{"r1", 100, record.Upsert, true, state{true, true, "r1", false}, 1},
			{"d1", 200, record.Delete, true, state{true, false, "d1", true}, 0},
			{"d2", 250, record.Delete, true, state{true, false, "d2", true}, 0},
			{"r3", 300, record.Upsert, true, state{true, true, "r3", false}, 1},
		}},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				v := k.open(t)
				for i, s := range tt.steps {
					got := v.Apply("subject-a", p.entry(t, s.id, s.iat, s.op))
					if got != s.wantApply {
						t.Errorf("step %d (%s): Apply = %v, want %v", i, s.id, got, s.wantApply)
					}
					if st := stateOf(v, "subject-a"); st != s.want {
						t.Errorf("step %d (%s): state = %+v, want %+v", i, s.id, st, s.want)
					}
					if n := v.Len(); n != s.wantLen {
						t.Errorf("step %d (%s): Len = %d, want %d", i, s.id, n, s.wantLen)
					}
				}
			})
		}
	}
}

func TestLenCountsLiveRecordsAcrossSubjectsAndDatasets(t *testing.T) {
	forEachKind(t, testLenCounts)
}

func testLenCounts(t *testing.T, v *view.View) {
	p := newPublisher(t)
	steps := []struct {
		subject string
		id      string
		iat     int64
		op      record.Op
		wantLen int
	}{
		{"a", "a1", 1, record.Upsert, 1},
		{"b", "b1", 1, record.Upsert, 2},
		{"c", "c1", 1, record.Delete, 2},
		{"a", "a2", 2, record.Upsert, 2}, // replacing a live record keeps the count
		{"b", "b2", 2, record.Delete, 1},
		{"b", "b3", 3, record.Delete, 1}, // deleting a deleted subject changes nothing
		{"c", "c2", 2, record.Upsert, 2},
		{"a", "a0", 0, record.Delete, 2}, // stale delete is ignored
		{"b", "b4", 4, record.Upsert, 3},
	}
	for i, s := range steps {
		v.Apply(s.subject, p.entry(t, s.id, s.iat, s.op))
		if got := v.Len(); got != s.wantLen {
			t.Fatalf("step %d (%s %s): Len = %d, want %d", i, s.subject, s.id, got, s.wantLen)
		}
	}
	// The same subject pseudonym in another dataset is another record.
	e := p.entry(t, "other-ds", 1, record.Upsert)
	e.Dataset = "tax"
	v.Apply("a", e)
	if got := v.Len(); got != 4 {
		t.Fatalf("Len after another dataset = %d, want 4", got)
	}
	if got, _ := v.Get(dataset, "a"); got == nil || got.ID != "a2" {
		t.Fatalf("household/a = %v, want a2 untouched by tax/a", got)
	}
}

// TestApplyIsOrderIndependent is a property test: every permutation of a
// fixed set of entries read from the log (upserts and deletes, ties on
// iat) for a few subjects ends in the same view, the one a sort by (iat,
// log position) predicts.
func TestApplyIsOrderIndependent(t *testing.T) {
	p := newPublisher(t)
	type item struct {
		subject string
		e       *view.Entry
	}
	var items []item
	subjects := []string{"s1", "s2", "s3", "s4"}
	for si, s := range subjects {
		for k := range 6 {
			op := record.Upsert
			if (k+si)%3 == 2 {
				op = record.Delete
			}
			// iat repeats (k/2) so ties are broken by log position,
			// which runs against the record ids.
			id := fmt.Sprintf("%s-%c", s, 'a'+rune((k*5)%6))
			items = append(items, item{s, p.entry(t, id, int64(100+k/2), op).At(int64(100 - len(items)))})
		}
	}
	// What the order predicts: per subject the greatest (iat, position).
	want := map[string]state{}
	wantLen := 0
	for _, s := range subjects {
		var best *view.Entry
		for _, it := range items {
			if it.subject != s {
				continue
			}
			if best == nil || it.e.IssuedAt > best.IssuedAt || (it.e.IssuedAt == best.IssuedAt && it.e.Pos > best.Pos) {
				best = it.e
			}
		}
		want[s] = state{Present: true, Live: !best.Deleted, ID: best.ID, Deleted: best.Deleted}
		if !best.Deleted {
			wantLen++
		}
	}
	for _, k := range kinds {
		rng := mrand.New(mrand.NewPCG(1, 2))
		for run := range 200 {
			perm := slices.Clone(items)
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			v := k.open(t)
			for _, it := range perm {
				v.Apply(it.subject, it.e)
			}
			for _, s := range subjects {
				if got := stateOf(v, s); got != want[s] {
					t.Fatalf("%s run %d: subject %s = %+v, want %+v", k.name, run, s, got, want[s])
				}
			}
			if got := v.Len(); got != wantLen {
				t.Fatalf("%s run %d: Len = %d, want %d", k.name, run, got, wantLen)
			}
		}
	}
}

func TestSeenIsBounded(t *testing.T) {
	p := newPublisher(t)
	v := view.New(3)
	apply := func(id string) { v.Apply("subj-"+id, p.entry(t, id, 1, record.Upsert)) }
	seen := func() []string {
		var out []string
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			if v.Seen(issuer, dataset, id) {
				out = append(out, id)
			}
		}
		return out
	}
	steps := []struct {
		apply string
		want  []string
	}{
		{"a", []string{"a"}},
		{"b", []string{"a", "b"}},
		{"c", []string{"a", "b", "c"}},
		{"a", []string{"a", "b", "c"}}, // a repeat is not a new id: nothing forgotten
		{"d", []string{"b", "c", "d"}}, // past capacity the oldest (a) goes
		{"e", []string{"c", "d", "e"}},
	}
	for i, s := range steps {
		apply(s.apply)
		if got := seen(); !slices.Equal(got, s.want) {
			t.Fatalf("step %d (apply %s): seen %v, want %v", i, s.apply, got, s.want)
		}
	}
	// An id is remembered even when its record lost to a newer one.
	v.Apply("subj-e", p.entry(t, "old", 0, record.Upsert))
	if !v.Seen(issuer, dataset, "old") {
		t.Error("Seen(old) = false for an applied but superseded record")
	}
}

func TestProject(t *testing.T) {
	p := newPublisher(t)
	compact, r := p.sign(t, "r1", 100, record.Upsert)
	e := view.FromRecord(r, 1)
	// Sign orders disclosures by name; Project keeps that order whatever
	// order allowed is in.
	names := make([]string, len(e.Disclosure))
	for i, d := range e.Disclosure {
		names[i] = d.Name
	}
	wantNames := []string{"address", "birth_date", "ethnicity", "gender", "household_id", "name", "registration_date", "relation_to_head", "resident_id"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("disclosure order %v, want %v", names, wantNames)
	}
	enc := map[string]string{}
	for _, d := range r.Disclosures {
		enc[d.Name] = d.Encoded
	}
	tests := []struct {
		name    string
		allowed []string
		want    string
	}{
		{"nothing allowed", nil, r.JWT + "~"},
		{"empty list", []string{}, r.JWT + "~"},
		{"one field", []string{"name"}, r.JWT + "~" + enc["name"] + "~"},
		{"publisher order, not request order", []string{"relation_to_head", "address", "name"},
			r.JWT + "~" + enc["address"] + "~" + enc["name"] + "~" + enc["relation_to_head"] + "~"},
		{"unknown names are ignored", []string{"salary", "name", "NAME"}, r.JWT + "~" + enc["name"] + "~"},
		{"repeated names give one disclosure", []string{"gender", "gender"}, r.JWT + "~" + enc["gender"] + "~"},
		{"everything is the original", wantNames, compact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.Project(tt.allowed)
			if got != tt.want {
				t.Fatalf("Project(%v) =\n%s\nwant\n%s", tt.allowed, got, tt.want)
			}
			if rp := r.Project(tt.allowed); rp != got {
				t.Errorf("view and record projections differ:\n%s\n%s", got, rp)
			}
			// The projection still verifies against the publisher's key
			// and discloses exactly the allowed fields it has.
			v, err := record.Verify(got, p.dir)
			if err != nil {
				t.Fatalf("verify projection: %v", err)
			}
			var gotNames []string
			for _, d := range v.Disclosures {
				gotNames = append(gotNames, d.Name)
			}
			var wantDisclosed []string
			for _, n := range wantNames {
				if slices.Contains(tt.allowed, n) {
					wantDisclosed = append(wantDisclosed, n)
				}
			}
			if !slices.Equal(gotNames, wantDisclosed) {
				t.Errorf("disclosed %v, want %v", gotNames, wantDisclosed)
			}
		})
	}
}

func TestFromRecord(t *testing.T) {
	p := newPublisher(t)
	_, r := p.sign(t, "rec-1", 1700000000, record.Upsert)
	e := view.FromRecord(r, 1700000000123)
	want := view.Entry{
		Dataset: dataset, ID: "rec-1", Issuer: issuer, KID: kid, Schema: "household/v1",
		IssuedAt: 1700000000, AcceptedAt: 1700000000123, Deleted: false, JWT: r.JWT,
	}
	got := *e
	got.Disclosure = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entry = %+v\nwant %+v", got, want)
	}
	if len(e.Disclosure) != len(r.Disclosures) {
		t.Fatalf("%d disclosures, want %d", len(e.Disclosure), len(r.Disclosures))
	}
	for i, d := range r.Disclosures {
		if e.Disclosure[i] != (view.Disclosure{Name: d.Name, Encoded: d.Encoded}) {
			t.Errorf("disclosure %d = %+v, want %s/%s", i, e.Disclosure[i], d.Name, d.Encoded)
		}
	}
	_, del := p.sign(t, "rec-2", 1700000001, record.Delete)
	if !view.FromRecord(del, 0).Deleted {
		t.Error("a delete record's entry is not Deleted")
	}
}

// TestFromRecordInternsNames checks that entries share one copy of each
// field name, and that none points into a record's own decode buffer
// (which would keep the whole buffer alive for as long as the view).
func TestFromRecordInternsNames(t *testing.T) {
	p := newPublisher(t)
	_, r1 := p.sign(t, "i1", 1, record.Upsert)
	_, r2 := p.sign(t, "i2", 2, record.Upsert)
	e1, e2 := view.FromRecord(r1, 0), view.FromRecord(r2, 0)
	if len(e1.Disclosure) != len(e2.Disclosure) {
		t.Fatal("records differ in field count")
	}
	for i := range e1.Disclosure {
		n1, n2 := e1.Disclosure[i].Name, e2.Disclosure[i].Name
		if n1 != n2 {
			t.Fatalf("disclosure %d: %q vs %q", i, n1, n2)
		}
		if unsafe.StringData(n1) != unsafe.StringData(n2) {
			t.Errorf("field %q: the two entries hold separate copies", n1)
		}
		if unsafe.StringData(n2) == unsafe.StringData(r2.Disclosures[i].Name) {
			t.Errorf("field %q: the entry aliases the record's decoded name", n2)
		}
	}
}

// TestConcurrentApplyGet runs writers and readers together; -race checks
// the locking, and the end state must be the (iat, log position) winner.
func TestConcurrentApplyGet(t *testing.T) {
	forEachKind(t, testConcurrentApplyGet)
}

func testConcurrentApplyGet(t *testing.T, v *view.View) {
	p := newPublisher(t)
	const writers, perWriter = 4, 25
	subjects := []string{"x", "y", "z"}
	entries := make([][]*view.Entry, writers)
	for w := range writers {
		for k := range perWriter {
			op := record.Upsert
			if k%7 == 3 {
				op = record.Delete
			}
			entries[w] = append(entries[w], p.entry(t, fmt.Sprintf("w%d-%03d", w, k), int64(k), op).At(int64(k*writers+(writers-1-w))))
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, e := range entries[w] {
				v.Apply(subjects[k%len(subjects)], e)
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, s := range subjects {
					if e, ok := v.Get(dataset, s); ok && (e.Deleted || e.JWT == "") {
						t.Errorf("Get(%s) returned a deleted or empty entry", s)
					}
					v.Current(dataset, s)
				}
				if n := v.Len(); n < 0 || n > len(subjects) {
					t.Errorf("Len = %d, outside 0..%d", n, len(subjects))
				}
				v.Seen(issuer, dataset, "w0-000")
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	live := 0
	for si, s := range subjects {
		var best *view.Entry
		for w := range writers {
			for k, e := range entries[w] {
				if k%len(subjects) != si {
					continue
				}
				if best == nil || e.IssuedAt > best.IssuedAt || (e.IssuedAt == best.IssuedAt && e.Pos > best.Pos) {
					best = e
				}
			}
		}
		want := state{Present: true, Live: !best.Deleted, ID: best.ID, Deleted: best.Deleted}
		if got := stateOf(v, s); got != want {
			t.Errorf("subject %s = %+v, want %+v", s, got, want)
		}
		if !best.Deleted {
			live++
		}
	}
	if got := v.Len(); got != live {
		t.Errorf("Len = %d, want %d", got, live)
	}
}
