package kafka_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
)

// installKcat runs deploy/kcat/install.sh and returns the wrapper it prints. Outside CI a failed install skips
// the test; in CI (CI=true) it fails it, so the outside-client check cannot silently vanish.
func installKcat(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "kcat", "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "bash", script, "--no-check")
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		msg := fmt.Sprintf("deploy/kcat/install.sh: %v\n%s", err, stderr.String())
		testkit.Unavailable(t, msg)
	}
	t.Logf("deploy/kcat/install.sh in %v:\n%s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	return strings.TrimSpace(string(out))
}

// kcat runs the wrapper with a librdkafka config file holding user's credentials (never on the command line).
func (w *world) kcat(ctx context.Context, wrapper, user string, args ...string) (stdout, stderr string, err error) {
	conf := filepath.Join(w.dir, "kcat-"+user+".conf")
	body := fmt.Sprintf("bootstrap.servers=%s\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=%s\nsasl.password=%s\n",
		strings.Join(w.c.brokers, ","), user, w.passwords[user])
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", "", err
	}
	var out, errb strings.Builder
	cmd := exec.CommandContext(ctx, wrapper, append([]string{"-F", conf}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// directoryOf fetches a node's key directory (GET /v1/keys) as any outside verifier would.
func directoryOf(t *testing.T, n *node) *keys.Directory {
	t.Helper()
	resp, err := httpClient.Get(n.url() + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/keys: %s %v", resp.Status, err)
	}
	ks, err := keys.ParseJWKS(b)
	if err != nil {
		t.Fatalf("GET /v1/keys: %v", err)
	}
	d := keys.NewDirectory()
	for _, k := range ks {
		if err := d.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestKcatReadsAcceptedAsExchange reads the accepted topic with an outside Kafka client, kcat on librdkafka
// 2.16: with the exchange user's SCRAM credentials every value is a OneVisit record that verifies against the
// node's published key directory; with a publisher's credentials the broker refuses.
func TestKcatReadsAcceptedAsExchange(t *testing.T) {
	w := newWorld(t)
	wrapper := installKcat(t)
	ex := w.startNode("exchange-1")
	ctx := t.Context()

	p, _ := w.kafkaPublisher("public-security", "household")
	var items []connectors.Item
	for i := range 6 {
		items = append(items, householdItem(fmt.Sprintf("%s-kcat-%d", w.ns, i), 8000+i))
	}
	ids, _, err := p.Publish(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.waitAccepted(ctx, "household", ids, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ex.logTail(20))
	}
	dir := directoryOf(t, ex)
	topic := w.names.Accepted("household")

	kctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, stderr, err := w.kcat(kctx, wrapper, w.exchangeUser, "-C", "-t", topic, "-e", "-o", "beginning", "-q", "-f", "%s\n")
	if err != nil {
		t.Fatalf("kcat -C -t %s as %s: %v\n%s", topic, w.exchangeUser, err, stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rec, err := record.Verify(line, dir)
		if err != nil {
			t.Errorf("kcat read a value that does not verify against GET /v1/keys: %v", err)
			continue
		}
		if rec.Issuer != "public-security" || rec.Dataset != "household" {
			t.Errorf("record %s: issuer %s dataset %s", rec.ID, rec.Issuer, rec.Dataset)
		}
		got = append(got, rec.ID)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("kcat read record ids %q, want %q", got, want)
	}
	t.Logf("kcat as %s read and verified %d records from %s", w.exchangeUser, len(got), topic)

	kctx2, cancel2 := context.WithTimeout(ctx, 60*time.Second)
	defer cancel2()
	out, stderr, err = w.kcat(kctx2, wrapper, "public-security", "-C", "-t", topic, "-e", "-o", "beginning", "-q", "-f", "%s\n")
	if err == nil || !strings.Contains(strings.ToLower(stderr), "authoriz") || strings.TrimSpace(out) != "" {
		t.Fatalf("kcat as public-security reading %s: err %v, %d bytes out; want a non-zero exit, an authorization error and nothing read\nstderr: %s", topic, err, len(out), stderr)
	}
	t.Logf("kcat as public-security refused (%v): %s", err, lineWith(stderr, "uthoriz"))
}

// lineWith returns the first line of s that contains sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
