package cli

import (
	"reflect"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/audit"
)

// TestCaseReport: the numbers from hand-built entries: released items
// count, refused items and entries of other procedures or before since
// do not, percentiles are nearest-rank.
func TestCaseReport(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, chinaTime)
	at := since.Add(time.Hour)
	item := func(proc string, d audit.Decision, when time.Time) audit.Entry {
		return audit.Entry{Time: when, Kind: audit.KindQuery, Decision: d, Procedure: proc}
	}
	cs := func(proc, code string, us int64, when time.Time) audit.Entry {
		return audit.Entry{Time: when, Kind: audit.KindCase, Decision: audit.DecisionPermit, Code: code, Procedure: proc, ElapsedMicros: us}
	}
	var entries []audit.Entry
	for i := range 100 { // newborn: 100 cases, 4.001..4.100 ms, the last 10 incomplete
		code := "case_complete"
		if i >= 90 {
			code = "case_incomplete"
		}
		entries = append(entries, item("newborn_registration", audit.DecisionPermit, at), cs("newborn_registration", code, 4001+int64(i), at))
	}
	entries = append(entries,
		item("newborn_registration", audit.DecisionDeny, at),                         // refused: not delivered
		audit.Entry{Time: at, Kind: audit.KindQuery, Decision: audit.DecisionPermit}, // a plain query
		item("company_establishment", audit.DecisionPermit, since.Add(-time.Second)), // before since
		cs("company_establishment", "case_complete", 9000, since.Add(-time.Second)),
		item("company_establishment", audit.DecisionPermit, at),
		item("company_establishment", audit.DecisionPermit, at),
		cs("company_establishment", "case_complete", 2500, at),
	)
	got := caseReport(entries, since)
	want := []ProcedureReport{
		{Procedure: "company_establishment", Records: 2, Cases: 1, Complete: 1, P50MS: 2.5, P99MS: 2.5},
		{Procedure: "newborn_registration", Records: 100, Cases: 100, Complete: 90, P50MS: 4.05, P99MS: 4.099},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("caseReport =\n%+v\nwant\n%+v", got, want)
	}
	if got := caseReport(nil, since); len(got) != 0 {
		t.Errorf("caseReport(nil) = %v", got)
	}
}

func TestParseSince(t *testing.T) {
	if got, err := parseSince("2026-11-28"); err != nil || !got.Equal(time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("parseSince(date) = %v, %v; want 2026-11-27T16:00:00Z", got, err)
	}
	if _, err := parseSince("28/11/2026"); err == nil {
		t.Error("parseSince accepted 28/11/2026")
	}
}
