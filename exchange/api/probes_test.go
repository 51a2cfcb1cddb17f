package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProbes pins the split between liveness and readiness: /livez answers
// 200 whatever the node's state (a failing liveness probe restarts the
// process, which cannot fix a broker or key backend), /readyz answers 503
// until the node has caught up and while its key versions are stale, and
// /healthz keeps its old meaning (caught up).
func TestProbes(t *testing.T) {
	notCaughtUp := func() error { return errors.New("still reading the accepted topics") }
	stale := func() error { return errors.New("key versions last refreshed 10m0s ago, grace 5m0s") }
	ok := func() error { return nil }
	tests := []struct {
		name         string
		ready, fresh func() error
		want         map[string]string // path -> "status body"
	}{
		{"caught up and fresh", ok, ok, map[string]string{
			"/livez":   `200 {"node":"n1","status":"ok"}`,
			"/readyz":  `200 {"node":"n1","status":"ok"}`,
			"/healthz": `200 {"node":"n1","status":"ok"}`,
		}},
		{"still reading the topics", notCaughtUp, ok, map[string]string{
			"/livez":   `200 {"node":"n1","status":"ok"}`,
			"/readyz":  `503 {"detail":"still reading the accepted topics","node":"n1","status":"starting"}`,
			"/healthz": `503 {"detail":"still reading the accepted topics","node":"n1","status":"starting"}`,
		}},
		{"key backend stale", ok, stale, map[string]string{
			"/livez":   `200 {"node":"n1","status":"ok"}`,
			"/readyz":  `503 {"detail":"key versions last refreshed 10m0s ago, grace 5m0s","node":"n1","status":"keys_stale"}`,
			"/healthz": `200 {"node":"n1","status":"ok"}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Deps{Node: "n1", Ready: tt.ready, Fresh: tt.fresh})
			if err != nil {
				t.Fatal(err)
			}
			for path, want := range tt.want {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				var body map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("GET %s: body %q: %v", path, rec.Body, err)
				}
				b, _ := json.Marshal(body)
				if got := fmt.Sprintf("%d %s", rec.Code, b); got != want {
					t.Errorf("GET %s = %s, want %s", path, got, want)
				}
			}
		})
	}
}

// TestRequestIDInErrorBodyAndLog checks that a refused request carries one
// request id in its X-Request-Id header, its error body and every log
// line the server writes for it.
func TestRequestIDInErrorBodyAndLog(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           string
	}{
		{"unknown path", "GET", "/v1/nothing-here", 404, "no_route"},
		{"method not allowed", "DELETE", "/livez", 405, "method_not_allowed"},
		{"no token", "POST", "/v1/query", 401, "unauthenticated"},
		// The token endpoint answers in RFC 6749's shape, the request id
		// beside "error".
		{"bad token request", "POST", "/v1/token", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := New(Deps{Node: "n1", Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader("not a form")))
			id := rec.Header().Get("X-Request-Id")
			if len(id) != 32 {
				t.Fatalf("X-Request-Id = %q, want 32 hex digits", id)
			}
			var body struct {
				Error     json.RawMessage `json:"error"`
				RequestID string          `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			var e struct {
				Code      string `json:"code"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(body.Error, &e); err != nil { // RFC 6749: "error" is the code
				if err := json.Unmarshal(body.Error, &e.Code); err != nil {
					t.Fatalf("body %q: error is neither an object nor a string", rec.Body)
				}
				e.RequestID = body.RequestID
			}
			if rec.Code != tt.wantStatus || e.Code != tt.wantCode || e.RequestID != id {
				t.Fatalf("got %d %s request_id %q, want %d %s request_id %q (body %s)", rec.Code, e.Code, e.RequestID, tt.wantStatus, tt.wantCode, id, rec.Body)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) == 0 || lines[0] == "" {
				t.Fatal("no log line for a refused request")
			}
			for _, l := range lines {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %q is not JSON: %v", l, err)
				}
				if m["request_id"] != id {
					t.Errorf("log line %s: request_id %v, want %s", l, m["request_id"], id)
				}
			}
		})
	}
}
