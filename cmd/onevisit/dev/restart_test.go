package dev_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/keys"
)

// startAt starts dev mode on free ports with the broker's log and the
// keys kept in dir.
func startAt(t *testing.T, dir string, skipSamples bool) *dev.Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := dev.Start(ctx, dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", DataDir: dir, SkipSamples: skipSamples})
	if err != nil {
		t.Fatalf("start dev mode in %s: %v", dir, err)
	}
	t.Cleanup(env.Close)
	return env
}

// childQuery asks for the walkthrough child's household record as the
// school-enrolment service, verifies the answer as a requester would, and
// returns its record id and data.
func childQuery(t *testing.T, env *dev.Env) (string, map[string]any) {
	t.Helper()
	cl, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	a, err := (&connectors.Requester{Client: cl}).Query(context.Background(), connectors.Query{
		Dataset: "household", Subject: samples.ChildResidentID, Purpose: "school_enrolment", CaseID: "SE-2026-0001"})
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if a.Receipt.RecordID == "" || a.Receipt.RecordID != a.Record.ID {
		t.Fatalf("receipt names record %q, answer carries %q", a.Receipt.RecordID, a.Record.ID)
	}
	return a.Record.ID, a.Data
}

// listedKIDs returns the kids GET /v1/keys lists.
func listedKIDs(t *testing.T, env *dev.Env) []string {
	t.Helper()
	resp, body := call(t, "GET", env.BaseURL+"/v1/keys", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/keys: %d", resp.StatusCode)
	}
	ks, err := keys.ParseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range ks {
		kids = append(kids, k.KID)
	}
	slices.Sort(kids)
	return kids
}

// TestRestartKeepsData runs dev mode twice on one data directory: what the
// first run accepted, the credentials it made and its audit trail are all
// there when the second run's Start returns, before anything is
// republished.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	first := startAt(t, dir, false)
	total := 0
	for _, c := range dev.SampleClients {
		for _, ds := range c.Datasets {
			total += len(sampleRows(t, first, ds))
		}
	}
	waitFor(t, "every sample record in the view", func() bool { return first.Node.View().Len() == total })
	wantID, wantData := childQuery(t, first)
	wantKIDs := listedKIDs(t, first)
	// The query's own audit entry must be in the log before we stop.
	pseud := pseudonymOf(t, first, samples.ChildResidentID)
	waitFor(t, "the query's audit entry", func() bool { return len(first.Node.AuditLog().BySubject(pseud)) > 0 })
	wantAudit := first.Node.AuditLog().Size()
	wantRoot, err := first.Node.AuditLog().Root(wantAudit)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	first.Close() // safe twice

	second := startAt(t, dir, true)
	if got := second.Node.View().Len(); got != total {
		t.Fatalf("after restart the view holds %d records before any republish, want %d", got, total)
	}
	if got := second.Node.AuditLog().Size(); got < wantAudit {
		t.Fatalf("after restart the audit log has %d entries, had %d", got, wantAudit)
	}
	if root, err := second.Node.AuditLog().Root(wantAudit); err != nil || string(root) != string(wantRoot) {
		t.Fatalf("after restart the audit log's first %d entries have root %x (%v), want %x", wantAudit, root, err, wantRoot)
	}
	gotID, gotData := childQuery(t, second)
	if gotID != wantID {
		t.Errorf("record id after restart %q, want %q", gotID, wantID)
	}
	if !reflect.DeepEqual(gotData, wantData) {
		t.Errorf("answer after restart %v, want %v", gotData, wantData)
	}
	if got := listedKIDs(t, second); !slices.Equal(got, wantKIDs) {
		t.Errorf("kids after restart %v, want %v (credentials and keys must be reused)", got, wantKIDs)
	}

	// Private key material is readable by its owner only.
	for _, sub := range []string{"clients", "keys"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			want := fs.FileMode(0o600)
			if d.IsDir() {
				want = fs.ModeDir | 0o700
			}
			if info.Mode() != want {
				t.Errorf("%s has mode %v, want %v", path, info.Mode(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "clients", "school-enrolment.json")); err != nil {
		t.Fatal(err)
	}
}

// TestDataDirIsPrivate checks that what dev mode keeps on disk (the
// broker's log, which holds every record's disclosures, names and
// addresses included; the keys; the credentials) cannot be read by other
// users even when the data directory already existed with an open mode:
// either the directory is closed to group and others, or every file and
// folder under it is.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared-looking")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	env := startAt(t, dir, false)
	env.Close()
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o077 == 0 {
		return // closed at the top: nothing below is reachable by others
	}
	var open []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if path != dir && fi.Mode().Perm()&0o077 != 0 {
			rel, _ := filepath.Rel(dir, path)
			open = append(open, rel+" "+fi.Mode().Perm().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) > 0 {
		if len(open) > 8 {
			open = append(open[:8], "…")
		}
		t.Fatalf("data dir %s is %v and holds %d paths open to group or others, e.g. %v", dir, info.Mode().Perm(), len(open), open)
	}
}
