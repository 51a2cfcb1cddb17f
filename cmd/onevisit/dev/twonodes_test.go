package dev_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// The set-ups the control-plane tests (governance, runtime clients and
// schemas, governed subscriptions) share: two nodes, edited example
// policy sets, and officers' signed events.

// startTwoNodes starts the dev environment (with the sample household
// published when withHousehold) and a second node, dev-2, and waits until
// both applied the seed policy, which must be the same on both.
func startTwoNodes(t *testing.T, withHousehold bool) (*dev.Env, *dev.Node) {
	t.Helper()
	env := startDev(t)
	if withHousehold {
		publishSampleHousehold(t, env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	n2, err := env.StartNode(ctx, "dev-2")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(n2.Close)
	t.Cleanup(cancel) // before n2.Close, as a deferred cancel in the test was
	seedHash := seeded(t, env.BaseURL)
	if h := seeded(t, n2.BaseURL); h != seedHash {
		t.Fatalf("node 2 seeded %s, node 1 %s", h, seedHash)
	}
	return env, n2
}

// editedExamples loads policy/examples, with the text of the one file
// named file passed through edit, against reg (the built-in schemas when
// nil).
func editedExamples(t *testing.T, reg *schemas.Registry, file string, edit func(string) string) *policy.Set {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(examplesDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == file {
			b = []byte(edit(string(b)))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if reg == nil {
		if reg, err = schemas.Default(); err != nil {
			t.Fatal(err)
		}
	}
	set, err := policy.Load(os.DirFS(dir), reg)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// actOn signs e as client, posts it to base's events route (such as
// /v1/policy/events) and checks the answer's status and error code (""
// for 200).
func actOn(t *testing.T, env *dev.Env, base, route, client string, e control.Event, wantCode string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"event": signEvent(t, env, client, e)})
	status, body := post(t, base+route, token(t, env, client), b)
	if got := errCode(body); got != wantCode || (wantCode == "") != (status == http.StatusOK) {
		t.Fatalf("%s %s by %s: status %d code %q, want code %q; body %v", e.Action, e.Proposal, client, status, got, wantCode, body)
	}
	return body
}
