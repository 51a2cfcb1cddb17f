package dev_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/bus"
)

// TestDevStartFailureReleasesEverything starts dev mode with an outside
// cluster (no embedded broker) in ways that fail after the data directory,
// the HTTP listener or the keys exist. Start must return the cause, not
// panic, and leave nothing behind: the port is free again and the
// ephemeral data directory (with the exchange's private keys) is gone.
// Nothing here reaches a broker: Start fails before it dials one.
func TestDevStartFailureReleasesEverything(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := freeAddr(t)
	outside := &bus.Config{Brokers: []string{"127.0.0.1:1"}, ClientID: "onevisit-test"}
	badSASL := &bus.Config{Brokers: []string{"127.0.0.1:1"}, SASLMechanism: "bogus"}
	for _, tc := range []struct {
		name    string
		http    string
		kafka   *bus.Config
		wantErr error  // errors.Is
		wantMsg string // substring naming the field
	}{
		{"http port busy", busy.Addr().String(), outside, syscall.EADDRINUSE, "--http"},
		{"node refuses the kafka config", free, badSASL, nil, "sasl_mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // the ephemeral data directory goes here
			keyDir := filepath.Join(t.TempDir(), "keys")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			env, err := dev.Start(ctx, dev.Options{
				HTTPAddr: tc.http, KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true,
				Kafka: tc.kafka, Keys: &exchange.KeysConfig{Backend: "file", Dir: keyDir},
			})
			if err == nil {
				env.Close()
				t.Fatal("Start succeeded; want an error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Start: %v; want errors.Is %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Start: %v; want it to name %q", err, tc.wantMsg)
			}
			left, rerr := os.ReadDir(tmp)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if len(left) != 0 {
				t.Errorf("Start left %d entries in the temp dir (first %s); want the ephemeral data dir removed", len(left), left[0].Name())
			}
			if tc.http != busy.Addr().String() {
				ln, lerr := net.Listen("tcp", tc.http)
				if lerr != nil {
					t.Fatalf("HTTP address %s still held after the failed Start: %v", tc.http, lerr)
				}
				ln.Close()
			}
		})
	}
}

// freeAddr returns a loopback address nothing listens on (just released).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}
