package query

import (
	"strings"
	"testing"
	"time"
)

func TestDistinct(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	a, b := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	var d distinct
	steps := []struct {
		consumer, subject string
		at                time.Duration
		want              bool
	}{
		{"c", a, 0, true},
		{"c", a, time.Minute, false},
		{"c", b, time.Minute, true},
		{"other", a, time.Minute, true},
		{"c", a, time.Hour, true}, // a new window
		{"c", a, time.Hour + time.Minute, false},
	}
	for i, st := range steps {
		if got := d.first(st.consumer, st.subject, t0.Add(st.at)); got != st.want {
			t.Fatalf("step %d: first = %v, want %v", i, got, st.want)
		}
	}
}
