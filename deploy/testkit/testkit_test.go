package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	ended string // "fatal: ..." or "skip: ..."
}

func (r *recorder) Helper() {}

// Fatalf and Skip end a real test; here the helper goes on, so only the
// first ending counts.
func (r *recorder) Fatalf(format string, args ...any) {
	r.end("fatal: " + fmt.Sprintf(format, args...))
}
func (r *recorder) Skip(args ...any) { r.end("skip: " + fmt.Sprint(args...)) }
func (r *recorder) end(s string) {
	if r.ended == "" {
		r.ended = s
	}
}

func TestNeedEnv(t *testing.T) {
	t.Setenv("TESTKIT_SET", "v")
	for _, tc := range []struct {
		name, ci  string
		vars      []string
		wantEnded string
		want      map[string]string
	}{
		{"all set", "true", []string{"TESTKIT_SET"}, "", map[string]string{"TESTKIT_SET": "v"}},
		{"missing, no CI: skip", "", []string{"TESTKIT_SET", "TESTKIT_UNSET"}, "skip: TESTKIT_UNSET not set: start it", nil},
		{"missing, CI=false: skip", "false", []string{"TESTKIT_UNSET"}, "skip: TESTKIT_UNSET not set: start it", nil},
		{"missing under CI: fail", "true", []string{"TESTKIT_UNSET"}, "fatal: TESTKIT_UNSET not set: start it (CI is set: this test must run there)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{}
			got := NeedEnv(r, "start it", tc.vars...)
			if r.ended != tc.wantEnded {
				t.Errorf("ended %q; want %q", r.ended, tc.wantEnded)
			}
			if tc.want != nil && fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("NeedEnv = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden")
	*update = true
	Golden(t, path, []byte("one\n"))
	*update = false
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\n" {
		t.Fatalf("-update wrote %q, %v", b, err)
	}
	r := &recorder{TB: t}
	Golden(&errRecorder{recorder: r}, path, []byte("one\n"))
	if r.ended != "" {
		t.Errorf("same content: %s", r.ended)
	}
	Golden(&errRecorder{recorder: r}, path, []byte("two\n"))
	if want := "error: " + path + " differs (run with -update after review):\n--- got\ntwo\n\n--- want\none\n"; r.ended != want {
		t.Errorf("different content reported %q; want %q", r.ended, want)
	}
}

type errRecorder struct{ *recorder }

func (r *errRecorder) Errorf(format string, args ...any) {
	r.ended = "error: " + fmt.Sprintf(format, args...)
}

func TestSeedFile(t *testing.T) {
	if got, want := string(SeedFile("a\"b")), "go test fuzz v1\nstring(\"a\\\"b\")\n"; got != want {
		t.Errorf("SeedFile(string) = %q; want %q", got, want)
	}
	if got, want := string(SeedFile([]byte{0, 'x'})), "go test fuzz v1\n[]byte(\"\\x00x\")\n"; got != want {
		t.Errorf("SeedFile([]byte) = %q; want %q", got, want)
	}
}
