package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestLogFlagsRefuseBadValues: serve and dev refuse a level or format
// they do not know with exit 2 and the flag named, before doing anything.
func TestLogFlagsRefuseBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"serve level", []string{"serve", "--log-level", "verbose", "--config", "x.yaml"}, `--log-level "verbose": want debug, info, warn or error`},
		{"serve format", []string{"serve", "--log-format", "xml", "--config", "x.yaml"}, `--log-format "xml": want json or text`},
		{"dev level", []string{"dev", "--log-level", "TRACE"}, `--log-level "TRACE": want debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var outB, errB bytes.Buffer
			code := Main(context.Background(), tt.args, &outB, &errB)
			out, errOut := outB.String(), errB.String()
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2, nothing, and %q", code, out, errOut, tt.want)
			}
		})
	}
}

// TestNewLogger: the JSON format writes one object a line with time,
// level and msg, and the level drops what is less severe.
func TestNewLogger(t *testing.T) {
	tests := []struct {
		level string
		want  []string // levels of the lines written, in order
	}{
		{"debug", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"info", []string{"INFO", "WARN", "ERROR"}},
		{"warn", []string{"WARN", "ERROR"}},
		{"error", []string{"ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var b bytes.Buffer
			lg, err := newLogger(&b, tt.level, "json")
			if err != nil {
				t.Fatal(err)
			}
			lg.Debug("d", "request_id", "r1")
			lg.Info("i", "request_id", "r1")
			lg.Warn("w", "request_id", "r1")
			lg.Error("e", "request_id", "r1")
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("line %q is not JSON: %v", l, err)
				}
				if m["time"] == nil || m["msg"] == nil || m["request_id"] != "r1" {
					t.Errorf("line %q: want time, msg and request_id", l)
				}
				got = append(got, m["level"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("levels written %v, want %v", got, tt.want)
			}
		})
	}
}
