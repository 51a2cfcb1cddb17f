package dev_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
)

// TestRestartResumesViewFromCheckpoint: dev mode keeps the view on disk
// (data dir/view) with each accepted partition's checkpoint. A restart on
// the same data directory re-reads no accepted-topic message and answers
// at once with the same record; with the view folder removed, the next
// start re-reads every message of the accepted topics, so the count
// measures what a rebuild costs.
func TestRestartResumesViewFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	first := startAt(t, dir, false)
	total := 0
	for _, c := range dev.SampleClients {
		for _, ds := range c.Datasets {
			total += len(sampleRows(t, first, ds))
		}
	}
	const reads = "onevisit_view_log_messages_read_total"
	waitFor(t, "every sample record in the view", func() bool { return first.Node.View().Len() == total })
	// Every accepted record's own copy read back from its topic (which
	// moves the checkpoint past it).
	waitFor(t, "the accepted topics read back", func() bool { return metricValue(t, first.BaseURL, reads) >= float64(total) })
	messages := metricValue(t, first.BaseURL, reads)
	wantID, wantData := childQuery(t, first)
	first.Close()

	second := startAt(t, dir, true)
	if got := second.Node.View().Len(); got != total {
		t.Fatalf("after restart the view holds %d records, want %d", got, total)
	}
	if got := metricValue(t, second.BaseURL, reads); got != 0 {
		t.Errorf("restart re-read %v accepted-topic messages, want 0 (resume at the checkpoints)", got)
	}
	gotID, gotData := childQuery(t, second)
	if gotID != wantID || !reflect.DeepEqual(gotData, wantData) {
		t.Errorf("after restart: record %q %v, want %q %v", gotID, gotData, wantID, wantData)
	}
	second.Close()

	if err := os.RemoveAll(filepath.Join(dir, "view")); err != nil {
		t.Fatal(err)
	}
	third := startAt(t, dir, true)
	if got := third.Node.View().Len(); got != total {
		t.Fatalf("after a rebuild the view holds %d records, want %d", got, total)
	}
	if got := metricValue(t, third.BaseURL, reads); got != messages {
		t.Errorf("rebuild read %v accepted-topic messages, want all %v", got, messages)
	}
}
