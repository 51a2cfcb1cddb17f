package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/deploy/testkit"
)

// startDevExchange starts an in-process dev exchange (embedded broker, no
// samples) for a CLI test, bounded to 90 s and closed when the test ends;
// creds names a sample client's credentials file.
func startDevExchange(t *testing.T) (ctx context.Context, env *dev.Env, creds func(client string) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	env, err := dev.Start(ctx, dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	return ctx, env, func(client string) string { return filepath.Join(env.DataDir, "clients", client+".json") }
}

// TestConnectorCSV runs `onevisit connector csv --via http` against an
// in-process dev exchange (embedded broker): the per-row report on stdout
// and in --report (golden files), the exit status, and that a file with an
// invalid row or in the wrong encoding sends nothing.
func TestConnectorCSV(t *testing.T) {
	ctx, env, creds := startDevExchange(t)
	testdata := filepath.Join("..", "..", "..", "..", "connectors", "testdata", "csv")
	tests := []struct {
		name, client, file, encoding string
		wantCode                     int
		wantHeld                     int // records in the view afterwards
	}{
		{"gb18030 file without --encoding", "public-security", "household-gb18030.csv", "", 1, 0},
		{"utf-8 file read as gb18030", "public-security", "household-utf8.csv", "gb18030", 1, 0},
		{"invalid rows", "public-security", "household-bad-rows.csv", "", 1, 0},
		{"no grant", "tax-bureau", "household-utf8.csv", "", 1, 0},
		{"gb18030 file", "public-security", "household-gb18030.csv", "gb18030", 0, 4},
		{"same rows again, utf-8 with BOM", "public-security", "household-bom.csv", "", 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "report.json")
			args := []string{"connector", "csv", "--via", "http", "--exchange", env.BaseURL, "--credentials", creds(tt.client),
				"--dataset", "household", "--file", filepath.Join(testdata, tt.file), "--report", report}
			if tt.encoding != "" {
				args = append(args, "--encoding", tt.encoding)
			}
			code, out, errOut := run(t, ctx, args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if got := env.Node.View().Len(); got != tt.wantHeld {
				t.Fatalf("view holds %d records, want %d", got, tt.wantHeld)
			}
			name := "connector-csv-" + regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(tt.name), "-")
			// The error line names the temporary file paths; keep its tail.
			errLine := errOut[strings.LastIndex(strings.TrimSuffix(errOut, "\n"), "\n")+1:]
			testkit.Golden(t, filepath.Join("testdata", name+".golden"), []byte(out+"--- stderr\n"+strings.ReplaceAll(errLine, testdata, "TESTDATA")))
			if b, err := os.ReadFile(report); err == nil {
				testkit.Golden(t, filepath.Join("testdata", name+".report.json"), []byte(strings.ReplaceAll(string(b), testdata, "TESTDATA")))
			} else if !strings.Contains(errLine, "wrong text encoding") { // a file refused whole has no rows to report
				t.Fatalf("no report: %v", err)
			}
		})
	}
}
