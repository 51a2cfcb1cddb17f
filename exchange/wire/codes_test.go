package wire_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/exchange/wire"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestCatalogueGolden pins the public error catalogue: any change of a
// name, status, retryability or message, or of the order (which is
// precedence), is a reviewed diff.
func TestCatalogueGolden(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# name\tstatus\tretryable\tmessage\n")
	for _, c := range wire.All() {
		fmt.Fprintf(&b, "%s\t%d\t%v\t%s\n", c.Name, c.Status, c.Retryable, c.Message)
	}
	path := filepath.Join("testdata", "codes.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs from the catalogue (run with -update after review):\n--- got\n%s\n--- want\n%s", path, b.Bytes(), want)
	}
}

func TestAllIsWellFormed(t *testing.T) {
	all := wire.All()
	if len(all) == 0 || all[len(all)-1] != wire.Internal {
		t.Fatalf("All() does not end with Internal: %v", all)
	}
	names := map[string]bool{}
	for _, c := range all {
		if names[c.Name] {
			t.Errorf("All() lists %q twice", c.Name)
		}
		names[c.Name] = true
		if c.Name == "" || strings.ToLower(c.Name) != c.Name || strings.ContainsAny(c.Name, " -") {
			t.Errorf("code name %q is not snake_case", c.Name)
		}
		if c.Status != c.Kind.Status() || c.Retryable != c.Kind.Retryable() {
			t.Errorf("%s: status %d, retryable %v; its kind says %d, %v", c.Name, c.Status, c.Retryable, c.Kind.Status(), c.Kind.Retryable())
		}
		if http.StatusText(c.Status) == "" || c.Status < 400 {
			t.Errorf("%s: status %d is not an HTTP error status", c.Name, c.Status)
		}
		if c.Retryable != (c.Status == http.StatusServiceUnavailable || c.Status == http.StatusTooManyRequests || c.Status == http.StatusGatewayTimeout) {
			t.Errorf("%s: retryable %v with status %d: only 503s, 504s and 429s are retryable", c.Name, c.Retryable, c.Status)
		}
		if c.Message == "" {
			t.Errorf("%s: empty message", c.Name)
		}
		if got, ok := wire.Lookup(c.Name); !ok || got != c {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", c.Name, got, ok, c)
		}
	}
	if got, ok := wire.Lookup("no_such_code"); ok || got != wire.Internal {
		t.Errorf("Lookup of an unknown name = %+v, %v; want Internal, false", got, ok)
	}
}

// TestKindStatus: the one place that maps kinds to HTTP statuses.
func TestKindStatus(t *testing.T) {
	tests := []struct {
		kind      wire.Kind
		status    int
		retryable bool
	}{
		{wire.KindInternal, 500, false},
		{wire.KindInvalid, 400, false},
		{wire.KindUnauthenticated, 401, false},
		{wire.KindPermission, 403, false},
		{wire.KindNotExist, 404, false},
		{wire.KindMethodNotAllowed, 405, false},
		{wire.KindConflict, 409, false},
		{wire.KindTooLarge, 413, false},
		{wire.KindRejected, 422, false},
		{wire.KindRateLimited, 429, true},
		{wire.KindUnavailable, 503, true},
		{wire.Kind(200), 500, false},
	}
	for _, tt := range tests {
		if got := tt.kind.Status(); got != tt.status {
			t.Errorf("Kind(%d).Status() = %d, want %d", tt.kind, got, tt.status)
		}
		if got := tt.kind.Retryable(); got != tt.retryable {
			t.Errorf("Kind(%d).Retryable() = %v, want %v", tt.kind, got, tt.retryable)
		}
	}
}

type pointed struct {
	ptr string
	err error
}

func (e *pointed) Error() string       { return e.ptr + ": " + e.err.Error() }
func (e *pointed) Unwrap() error       { return e.err }
func (e *pointed) JSONPointer() string { return e.ptr }

// localCoded is a sentinel of a package that imports nothing from the
// exchange (as schemas and policy do): only its Code method counts.
type localCoded struct{}

func (localCoded) Error() string { return "local" }
func (localCoded) Code() string  { return "schema_violation" }

func TestOf(t *testing.T) {
	denied := wire.WithCode("denied", errors.New("denied by policy"))
	caseID := wire.WithCode("case_id_required", errors.New("case id required"))
	stale := wire.WithCode("stale", errors.New("record older than the one held"))
	unavailable := wire.WithCode("unavailable", errors.New("temporarily unavailable"))
	bogus := wire.WithCode("no_such_code", errors.New("a typo in a package"))
	tests := []struct {
		name        string
		err         error
		want        string
		wantPointer string
	}{
		{"nil", nil, "internal", ""},
		{"uncoded", errors.New("boom"), "internal", ""},
		{"a name the catalogue does not list", fmt.Errorf("x: %w", bogus), "internal", ""},
		{"sentinel itself", stale, "stale", ""},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", stale)), "stale", ""},
		{"joined with an uncoded error", errors.Join(errors.New("x"), unavailable), "unavailable", ""},
		{"%v does not carry the code", fmt.Errorf("x: %v", stale), "internal", ""},
		{"a local type's code", fmt.Errorf("x: %w", localCoded{}), "schema_violation", ""},
		// Precedence is catalogue order, not order in the chain.
		{"specific after general in a join", errors.Join(denied, caseID), "case_id_required", ""},
		{"specific before general", fmt.Errorf("%w: %w", caseID, denied), "case_id_required", ""},
		{"nested deep in a join", errors.Join(denied, fmt.Errorf("a: %w", fmt.Errorf("b: %w", caseID))), "case_id_required", ""},
		{"pointer of a field error", &pointed{"/subject", fmt.Errorf("q: %w", unavailable)}, "unavailable", "/subject"},
		{"pointer inside a wrap", fmt.Errorf("x: %w", &pointed{"/a~1b", stale}), "stale", "/a~1b"},
		{"outermost pointer wins", &pointed{"/outer", &pointed{"/inner", stale}}, "stale", "/outer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wire.Of(tt.err)
			if got.Name != tt.want {
				t.Errorf("Of(%v) = %s, want %s", tt.err, got.Name, tt.want)
			}
			if want, _ := wire.Lookup(tt.want); got != want {
				t.Errorf("Of(%v) = %+v, want the catalogue's %+v", tt.err, got, want)
			}
			if p := wire.Pointer(tt.err); p != tt.wantPointer {
				t.Errorf("Pointer(%v) = %q, want %q", tt.err, p, tt.wantPointer)
			}
		})
	}
}

func TestWithCode(t *testing.T) {
	base := errors.New("record older than the one held")
	s := wire.WithCode("stale", base)
	if s.Error() != base.Error() {
		t.Errorf("Error() = %q, want %q", s.Error(), base.Error())
	}
	if !errors.Is(fmt.Errorf("x: %w", s), s) || !errors.Is(s, base) {
		t.Error("errors.Is does not find the sentinel or what it wraps")
	}
	other := wire.WithCode("stale", errors.New("record older than the one held"))
	if errors.Is(s, other) || errors.Is(other, s) {
		t.Error("two sentinels with the same code and text match each other")
	}
}
