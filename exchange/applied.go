package exchange

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/onevisit/onevisit/exchange/codes"
)

// applied records, per topic partition, the offset after the last message
// a tail has applied, so a request can wait until this node has applied
// everything that was durably written before it (read your writes).
type applied struct {
	mu      sync.Mutex
	next    map[partitionKey]int64
	changed chan struct{} // closed and replaced on every advance
	// start is each partition's end offset when the node started: what
	// it must apply before it is ready (see behindStart).
	start map[partitionKey]int64
}

type partitionKey struct {
	topic     string
	partition int
}

func newApplied() *applied {
	return &applied{next: map[partitionKey]int64{}, changed: make(chan struct{}), start: map[partitionKey]int64{}}
}

// expect records topic/partition's end offset at start.
func (a *applied) expect(topic string, partition int, end int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.start[partitionKey{topic, partition}] = end
}

// behindStart lists the partitions not yet applied up to their end
// offset at start, as "topic/partition next/end", sorted.
func (a *applied) behindStart() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k, end := range a.start {
		if next := a.next[k]; next < end {
			out = append(out, fmt.Sprintf("%s/%d %d/%d", k.topic, k.partition, next, end))
		}
	}
	slices.Sort(out)
	return out
}

// advance records that every message of topic/partition below next has
// been applied.
func (a *applied) advance(topic string, partition int, next int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := partitionKey{topic, partition}
	if next <= a.next[k] {
		return
	}
	a.next[k] = next
	close(a.changed)
	a.changed = make(chan struct{})
}

// wait blocks until every partition of topic in ends (partition → end
// offset) has been applied up to its end offset, or ctx ends. It fails
// with codes.ErrUnavailable when ctx ends first.
func (a *applied) wait(ctx context.Context, topic string, ends map[int]int64) error {
	for {
		a.mu.Lock()
		behind := -1
		for p, end := range ends {
			if a.next[partitionKey{topic, p}] < end {
				behind = p
				break
			}
		}
		ch := a.changed
		a.mu.Unlock()
		if behind < 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s partition %d not applied yet on this node: %w", topic, behind, codes.ErrUnavailable)
		}
	}
}
