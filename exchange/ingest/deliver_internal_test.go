package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/codes"
)

// TestContentError: only a refusal of what a write carries may make
// Deliver split a batch and dead-letter a record; anything a wait can
// cure (the brokers or the key service away) must never.
func TestContentError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("ingest: write outcome: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"message too large", wrap(kafka.MessageSizeTooLarge), true},
		{"kafka-go: message over the batch bytes", wrap(kafka.MessageTooLargeError{}), true},
		{"record list too large", wrap(kafka.RecordListTooLarge), true},
		{"corrupt message", wrap(kafka.InvalidMessage), true},
		{"invalid record", wrap(kafka.InvalidRecord), true},
		{"topic policy", wrap(kafka.PolicyViolation), true},
		{"one partition's batch too large among outages", wrap(kafka.WriteErrors{kafka.NotEnoughReplicas, kafka.MessageSizeTooLarge}), true},
		{"not enough replicas", wrap(kafka.NotEnoughReplicas), false},
		{"leader moved", wrap(kafka.NotLeaderForPartition), false},
		{"unknown server error (a broker restarting)", wrap(kafka.Unknown), false},
		{"request timed out", wrap(kafka.RequestTimedOut), false},
		{"not authorised", wrap(kafka.TopicAuthorizationFailed), false},
		{"connection closed", wrap(io.ErrUnexpectedEOF), false},
		{"connection refused", wrap(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), false},
		{"attempt timed out", wrap(context.DeadlineExceeded), false},
		{"keys stale", fmt.Errorf("ingest: %w", codes.ErrKeysStale), false},
		{"batch of outages", wrap(kafka.WriteErrors{nil, kafka.NotEnoughReplicas}), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := contentError(tt.err); got != tt.want {
				t.Fatalf("contentError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
