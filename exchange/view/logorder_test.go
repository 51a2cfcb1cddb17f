package view_test

import (
	"slices"
	"testing"

	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
)

// TestSameSecondFollowsTheLog: of two records of one subject issued in
// the same second, the later one in the accepted topic's log wins, never
// the greater record id, and a node that applies its own writes as soon
// as they are acknowledged, interleaved with what it reads back from the
// log, ends with the record a node that only reads the log holds.
func TestSameSecondFollowsTheLog(t *testing.T) {
	p := newPublisher(t)
	// step: apply record id as this node's own acknowledged write (pos 0)
	// or as read from the log at pos.
	type step struct {
		id  string
		pos int64
	}
	tests := []struct {
		name  string
		steps []step
		want  string
	}{
		{"log only: the later position wins over the greater id",
			[]step{{"z", 1}, {"a", 2}}, "a"},
		{"log only, read in position order with the ids reversed",
			[]step{{"a", 1}, {"z", 2}}, "z"},
		{"own write, then another node's record read before the own copy comes back",
			[]step{{"own", 0}, {"other", 5}, {"own", 6}}, "own"},
		{"own write read back through the log first, then another node's later record, then the acknowledgement",
			[]step{{"own", 5}, {"other", 6}, {"own", 0}}, "other"},
		{"own write after a record read from the log",
			[]step{{"other", 3}, {"own", 0}, {"own", 7}}, "own"},
		{"two own writes in turn",
			[]step{{"b-own", 0}, {"a-own", 0}, {"b-own", 4}, {"a-own", 5}}, "a-own"},
		{"a later duplicate write of a record puts it last again",
			[]step{{"e", 1}, {"x", 2}, {"e", 3}}, "e"},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				entries := map[string]*view.Entry{}
				entry := func(id string) *view.Entry {
					if e, ok := entries[id]; ok {
						return e
					}
					e := p.entry(t, id, 100, record.Upsert)
					entries[id] = e
					return e
				}
				v := k.open(t)
				var log []step
				for _, s := range tt.steps {
					e := entry(s.id)
					if s.pos > 0 {
						e = e.At(s.pos - 1)
						log = append(log, s)
					}
					v.Apply("subject-a", e)
				}
				if got := stateOf(v, "subject-a").ID; got != tt.want {
					t.Errorf("node holds %q, want %q", got, tt.want)
				}
				// A node that only reads the log, in log order.
				slices.SortFunc(log, func(a, b step) int { return int(a.pos - b.pos) })
				w := k.open(t)
				for _, s := range log {
					w.Apply("subject-a", entry(s.id).At(s.pos-1))
				}
				if got, want := stateOf(w, "subject-a").ID, stateOf(v, "subject-a").ID; got != want {
					t.Errorf("a node reading only the log holds %q, this node %q", got, want)
				}
			})
		}
	}
}

// TestOlder is ingest's staleness rule: only an earlier second is stale.
func TestOlder(t *testing.T) {
	p := newPublisher(t)
	held := p.entry(t, "m", 100, record.Upsert)
	tests := []struct {
		name string
		id   string
		iat  int64
		want bool
	}{
		{"earlier second", "z", 99, true},
		{"same second, smaller id", "a", 100, false},
		{"same second, greater id", "z", 100, false},
		{"later second", "a", 101, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.entry(t, tt.id, tt.iat, record.Upsert).Older(held); got != tt.want {
				t.Errorf("Older = %v, want %v", got, tt.want)
			}
		})
	}
}
