package dev_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/bus"
)

// startSecondNode runs another node over env's cluster and keys, on a
// listener the test owns, and waits until it has caught up. It returns
// the node's listener, the cancel of its Run and the channel Run's result
// arrives on.
func startSecondNode(t *testing.T, env *dev.Env) (net.Listener, context.CancelFunc, <-chan error) {
	t.Helper()
	kb, err := exchange.FileKeys(exchange.KeysConfig{Backend: "file", Dir: filepath.Join(env.DataDir, "keys")}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kb.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	parts, err := dev.Parts(env.DataDir, env.Kafka, ln.Addr().String(), kb, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first node created the topics.
	parts.Node, parts.Listener, parts.CreateTopics = "dev-2", ln, false
	n, err := exchange.New(parts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "the second node to catch up", n.Ready)
	return ln, cancel, done
}

// runResult waits (bounded) for Run to return.
func runResult(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60 s: a loop of the node did not stop")
		return nil
	}
}

// TestNodeRunStopsAllLoopsOnFirstFailure: the node's loops (HTTP server,
// tails, key refresh, ingest) run as one group. When one fails for good
// (here the HTTP listener is closed under the server) Run stops the
// others and returns that loop's error, named; when its context ends it
// stops them all and returns nil.
func TestNodeRunStopsAllLoopsOnFirstFailure(t *testing.T) {
	env := startDev(t)
	tests := []struct {
		name    string
		stop    func(ln net.Listener, cancel context.CancelFunc)
		wantErr error
		prefix  string
	}{
		{"http listener fails", func(ln net.Listener, _ context.CancelFunc) { ln.Close() }, net.ErrClosed, "http: "},
		{"context ends", func(_ net.Listener, cancel context.CancelFunc) { cancel() }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, cancel, done := startSecondNode(t, env)
			tt.stop(ln, cancel)
			err := runResult(t, done)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Fatalf("Run = %v, want %q... wrapping %v", err, tt.prefix, tt.wantErr)
			}
		})
	}
}

// TestStartReportsWhyTheNodeStopped: a node whose Run fails before it
// listens (here: no broker answers, so it cannot create its topics) ends
// Start at once with that failure, not with the caller's deadline.
// Before, Start waited for the listener until its context ran out and
// reported only "context deadline exceeded".
func TestStartReportsWhyTheNodeStopped(t *testing.T) {
	// A port nothing listens on: bind one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	begun := time.Now()
	env, err := dev.Start(ctx, dev.Options{HTTPAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true,
		Kafka: &bus.Config{Brokers: []string{dead}, ClientID: "onevisit-test"}})
	if err == nil {
		env.Close()
		t.Fatal("Start succeeded with no broker")
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("Start waited for its deadline (%s): %v", time.Since(begun).Round(time.Millisecond), err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "node stopped before it listened: ensure topics: ") {
		t.Fatalf("Start = %v, want the node's failure to reach the broker", err)
	}
}
