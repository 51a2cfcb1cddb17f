package api

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/policy"
)

var limitCatalog = policy.StaticCatalog{"household": {"name"}}

func limitSet(t *testing.T, limits string) *policy.Set {
	t.Helper()
	doc := "kind: AccessPolicy\nmetadata: {name: p}\nspec:\n  consumer: c\n  dataset: household\n  purposes: [school_enrolment]\n  fields: [name]\n"
	if limits != "" {
		doc += "  limits: " + limits + "\n"
	}
	s, err := policy.Parse("p.yaml", []byte(doc), limitCatalog)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 23, 59, 0, 0, time.UTC)
	type step struct {
		at       time.Duration // after t0
		purpose  string
		wantOK   bool
		wantWait time.Duration // when refused
	}
	tests := []struct {
		name   string
		limits string
		steps  []step
	}{
		{"no limits declared", "", []step{{0, "school_enrolment", true, 0}, {0, "school_enrolment", true, 0}, {0, "x", true, 0}}},
		{"burst then refill", "{rate: 2/s, burst: 2}", []step{
			{0, "school_enrolment", true, 0}, {0, "school_enrolment", true, 0},
			{0, "school_enrolment", false, 500 * time.Millisecond},
			{500 * time.Millisecond, "school_enrolment", true, 0},
		}},
		{"unknown purposes share the consumer bucket", "{rate: 1/s, burst: 1}", []step{
			{0, "typo", true, 0}, {0, "other_typo", false, time.Second},
			{0, "school_enrolment", true, 0}, // its own bucket
		}},
		{"daily quota until the next UTC day", "{daily: 2}", []step{
			{0, "school_enrolment", true, 0}, {0, "school_enrolment", true, 0},
			{30 * time.Second, "school_enrolment", false, 30 * time.Second},
			{60 * time.Second, "school_enrolment", true, 0},
		}},
		{"refusals do not use the quota", "{rate: 1/s, burst: 1, daily: 2}", []step{
			{0, "school_enrolment", true, 0}, {0, "school_enrolment", false, time.Second},
			{0, "school_enrolment", false, time.Second},
			{time.Second, "school_enrolment", true, 0},
			{2 * time.Second, "school_enrolment", false, 58 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := limitSet(t, tt.limits)
			var l limiter
			for i, st := range tt.steps {
				wait, ok := l.allow(pol, "c", st.purpose, t0.Add(st.at))
				if ok != st.wantOK || (!ok && wait != st.wantWait) {
					t.Fatalf("step %d (%v, %s): ok %v wait %v, want %v %v", i, st.at, st.purpose, ok, wait, st.wantOK, st.wantWait)
				}
			}
		})
	}
}

func TestLimiterKeepsDailyCountAcrossPolicyChange(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	var l limiter
	if _, ok := l.allow(limitSet(t, "{daily: 2}"), "c", "school_enrolment", t0); !ok {
		t.Fatal("first query refused")
	}
	if _, ok := l.allow(limitSet(t, "{daily: 2, rate: 100/s}"), "c", "school_enrolment", t0); !ok {
		t.Fatal("second query refused")
	}
	if _, ok := l.allow(limitSet(t, "{daily: 2, rate: 100/s}"), "c", "school_enrolment", t0); ok {
		t.Fatal("third query of the day allowed after a policy reload")
	}
}

func TestSampler(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	var s sampler
	steps := []struct {
		client, code string
		at           time.Duration
		want         bool
	}{
		{"a", "forbidden", 0, true},
		{"a", "forbidden", 999 * time.Millisecond, false},
		{"b", "forbidden", 0, true},
		{"a", "malformed_json", 0, true},
		{"a", "forbidden", time.Second, true},
		{"", "invalid_client", 0, true},
		{"", "invalid_client", 10 * time.Millisecond, false},
	}
	for i, st := range steps {
		if got := s.take(st.client, "POST /v1/x", st.code, t0.Add(st.at)); got != st.want {
			t.Fatalf("step %d: take = %v, want %v", i, got, st.want)
		}
	}
}

func TestByteGate(t *testing.T) {
	g := newByteGate(100)
	held, err := g.acquire(context.Background(), 60)
	if err != nil || held != 60 {
		t.Fatalf("acquire 60: %d %v", held, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(ctx, 50); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire 50 of the remaining 40: %v, want DeadlineExceeded", err)
	}
	got := make(chan int64)
	go func() {
		n, _ := g.acquire(context.Background(), 1000) // capped at the gate's size
		got <- n
	}()
	g.release(held)
	if n := <-got; n != 100 {
		t.Fatalf("acquire over the size held %d, want 100", n)
	}
}

func TestCheckReason(t *testing.T) {
	tests := []struct {
		name, reason string
		wantErr      error
	}{
		{"ok", "citizen request 2026-118", nil},
		{"chinese", "市民申请 2026-118 号", nil},
		{"missing", "", codes.ErrBadRequest},
		{"too long", strings.Repeat("长", MaxReason+1), codes.ErrBadRequest},
		{"at the limit", strings.Repeat("长", MaxReason), nil},
		{"resident id", "asked by 330106198503120415", codes.ErrBadRequest},
		{"control character", "line\nbreak", codes.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkReason("op", tt.reason); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("checkReason = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
