package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReportNames pins the JSON contract of `onevisit bench --json`:
// whole output, field names and nulls included.
func TestReportNames(t *testing.T) {
	r := Result{
		CPUs: 2, VerifyPerSec: 40000, BytesPerRecord: 2500, CaseConcurrency: 4,
		Embedded: Figures{IngestPerSec: 20000, IngestRatio: 0.5, IngestTopicPerSec: 15000, QueryPerSec: 4000, QueryP50: 3250 * time.Microsecond, QueryP99: 9 * time.Millisecond, QueryErrors: 1,
			CasePerSec: 600, CaseP50: 5500 * time.Microsecond, CaseP99: 12 * time.Millisecond},
		Kafka: &Figures{IngestPerSec: 5000, IngestRatio: 0.125, QueryPerSec: 1500, QueryP50: 8 * time.Millisecond, QueryP99: 40 * time.Millisecond},
		Scale: &Scale{Records: 20000, HeapPerRecord: 300, RSSPerRecord: 900, DiskPerRecord: 1100, RebuildPerSec: 30000,
			QueryPerSec: 3000, QueryP50: 4 * time.Millisecond, QueryP99: 8500 * time.Microsecond, HopP50: 4500 * time.Microsecond, HopP99: 9 * time.Millisecond,
			JoinErrors: 0, JoinWorstP99: 12 * time.Millisecond},
		ViewAlone: &ViewAlone{Records: 20000, ApplyPerSec: 50000, HeapPerRecord: 2, DiskPerRecord: 1400, GetP99: 200 * time.Microsecond},
	}
	got, err := json.Marshal(r.Report(20000))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cpus":2,"records":20000,"raw_verify_per_s":40000,"ingest_per_s":20000,"ingest_ratio":0.5,"ingest_topic_per_s":15000,` +
		`"query_per_s":4000,"query_p50_ms":3.25,"query_p99_ms":9,"query_errors":1,"heap_bytes_per_record":300,` +
		`"disk_bytes_per_record":1100,"rebuild_per_s":30000,` +
		`"case_per_s":600,"case_p50_ms":5.5,"case_p99_ms":12,"case_errors":0,"case_items":5,"case_concurrency":4,` +
		`"rss_bytes_per_record":900,"memory_view_heap_bytes_per_record":2500,` +
		`"node_records":20000,"scale_query_per_s":3000,"scale_query_p50_ms":4,"scale_query_p99_ms":8.5,` +
		`"forward_query_p50_ms":4.5,"forward_query_p99_ms":9,` +
		`"view_disk_bytes_per_record":1400,"view_heap_bytes_per_record":2,"view_apply_per_s":50000,"view_get_p99_ms":0.2,` +
		`"join_query_errors":0,"join_query_p99_ms":12,` +
		`"kafka":{"cpus":2,"records":20000,"raw_verify_per_s":40000,"ingest_per_s":5000,"ingest_ratio":0.125,"ingest_topic_per_s":0,` +
		`"query_per_s":1500,"query_p50_ms":8,"query_p99_ms":40,"query_errors":0,"heap_bytes_per_record":2500,` +
		`"disk_bytes_per_record":null,"rebuild_per_s":null,` +
		`"case_per_s":0,"case_p50_ms":0,"case_p99_ms":0,"case_errors":0,"case_items":5,"case_concurrency":4,` +
		`"rss_bytes_per_record":null,"memory_view_heap_bytes_per_record":2500,` +
		`"node_records":null,"scale_query_per_s":null,"scale_query_p50_ms":null,"scale_query_p99_ms":null,` +
		`"forward_query_p50_ms":null,"forward_query_p99_ms":null,` +
		`"view_disk_bytes_per_record":null,"view_heap_bytes_per_record":null,"view_apply_per_s":null,"view_get_p99_ms":null,` +
		`"join_query_errors":null,"join_query_p99_ms":null}}`
	if string(got) != want {
		t.Errorf("report JSON\n got %s\nwant %s", got, want)
	}
}

// TestMemoryPerRecordNeverWraps: the figure is a signed difference
// clamped at 0, so a heap that shrinks between the readings cannot print
// 61489146910165 bytes per record (seen at 300,000 records before).
func TestMemoryPerRecordNeverWraps(t *testing.T) {
	if got := memoryPerRecord(nil); got != 0 {
		t.Errorf("memoryPerRecord(nil) = %v, want 0", got)
	}
	// A view that holds nothing (no record parses): about no growth.
	got := memoryPerRecord([]string{"not a record", "nor this"})
	if got < 0 || got > 1<<20 {
		t.Errorf("memoryPerRecord over unparseable records = %v bytes, want a small non-negative figure", got)
	}
}

// TestClosedLoopCountsAnswersAndErrors: closedLoop times the answers
// check accepts, counts the rest as errors and says so when none passed.
func TestClosedLoopCountsAnswersAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	run := func(path string) (float64, time.Duration, time.Duration, int64, error) {
		return closedLoop(ctx, 2, 100*time.Millisecond, "probe", func(int) *http.Request {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
			return req
		}, func(resp *http.Response) error {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
	}
	rps, p50, p99, errs, err := run("/ok")
	if err != nil || rps <= 0 || p50 <= 0 || p99 < p50 || errs != 0 {
		t.Fatalf("ok: %v %v %v %d %v", rps, p50, p99, errs, err)
	}
	if _, _, _, errs, err := run("/bad"); err == nil || !strings.Contains(err.Error(), "no probe succeeded") || errs == 0 {
		t.Fatalf("bad: %d errors, %v", errs, err)
	}
}
