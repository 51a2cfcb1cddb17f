package exchange

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onevisit/onevisit/exchange/codes"
)

func TestAppliedWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newApplied()
		a.advance("audit", 0, 5)
		ends := map[int]int64{0: 5, 1: 3}

		// Partition 1 is behind: the wait ends when it catches up.
		done := make(chan error, 1)
		go func() { done <- a.wait(context.Background(), "audit", ends) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("wait returned %v with partition 1 behind", err)
		default:
		}
		a.advance("audit", 1, 2)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("wait returned %v with partition 1 at 2 of 3", err)
		default:
		}
		a.advance("audit", 1, 3)
		if err := <-done; err != nil {
			t.Fatalf("wait after catching up: %v", err)
		}

		// Advances never go backwards.
		a.advance("audit", 1, 1)
		if err := a.wait(context.Background(), "audit", ends); err != nil {
			t.Fatalf("wait after a stale advance: %v", err)
		}

		// A partition that never catches up: unavailable when ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := a.wait(ctx, "audit", map[int]int64{2: 1})
		if !errors.Is(err, codes.ErrUnavailable) {
			t.Fatalf("wait on a stuck partition: %v, want codes.ErrUnavailable", err)
		}
	})
}

// TestAppliedBehindStart: the partitions not yet read up to their end
// offset at start are listed with where they are, and only those.
func TestAppliedBehindStart(t *testing.T) {
	a := newApplied()
	a.expect("ov.control", 0, 3)
	a.expect("ov.accepted.household", 1, 10)
	a.expect("ov.accepted.household", 0, 0) // empty at start
	a.advance("ov.control", 0, 3)
	a.advance("ov.accepted.household", 1, 4)
	if got, want := a.behindStart(), []string{"ov.accepted.household/1 4/10"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("behindStart = %q, want %q", got, want)
	}
	a.advance("ov.accepted.household", 1, 10)
	if got := a.behindStart(); len(got) != 0 {
		t.Fatalf("behindStart after catching up = %q, want none", got)
	}
}
