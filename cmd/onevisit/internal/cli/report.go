package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onevisit/onevisit/exchange/audit"
)

// chinaTime is the zone a --since date is read in: the reform reports by
// the Chinese calendar day (UTC+8, no daylight saving).
var chinaTime = time.FixedZone("CST", 8*60*60)

// ProcedureReport is one procedure's line of `onevisit report`.
type ProcedureReport struct {
	Procedure string `json:"procedure"`
	// Records are the evidence records released in its cases: each a
	// paper the citizen did not fetch from a department.
	Records int `json:"records_delivered"`
	Cases   int `json:"cases"`
	// Complete are the cases with nothing missing.
	Complete int     `json:"cases_complete"`
	P50MS    float64 `json:"assembly_p50_ms"`
	P99MS    float64 `json:"assembly_p99_ms"`
}

// caseReport computes the reform's numbers from audit entries written at
// or after since: per procedure, the item entries released (kind query,
// decision permit, naming the procedure) and the case entries (kind case)
// with their outcome and assembly time. Percentiles are nearest-rank.
// Procedures are sorted by name.
func caseReport(entries []audit.Entry, since time.Time) []ProcedureReport {
	by := map[string]*ProcedureReport{}
	times := map[string][]int64{}
	get := func(p string) *ProcedureReport {
		if by[p] == nil {
			by[p] = &ProcedureReport{Procedure: p}
		}
		return by[p]
	}
	for _, e := range entries {
		if e.Procedure == "" || e.Time.Before(since) {
			continue
		}
		switch {
		case e.Kind == audit.KindQuery && e.Decision == audit.DecisionPermit:
			get(e.Procedure).Records++
		case e.Kind == audit.KindCase:
			r := get(e.Procedure)
			r.Cases++
			if e.Code == "case_complete" {
				r.Complete++
			}
			times[e.Procedure] = append(times[e.Procedure], e.ElapsedMicros)
		}
	}
	out := []ProcedureReport{}
	for p, r := range by {
		ts := times[p]
		slices.Sort(ts)
		r.P50MS, r.P99MS = rankMS(ts, 0.50), rankMS(ts, 0.99)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b ProcedureReport) int { return strings.Compare(a.Procedure, b.Procedure) })
	return out
}

// rankMS is the nearest-rank q-quantile of sorted microseconds, in
// milliseconds; 0 for none.
func rankMS(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return float64(sorted[min(max(i, 0), len(sorted)-1)]) / 1000
}

func writeReport(w io.Writer, rs []ProcedureReport, since time.Time, entries int) {
	fmt.Fprintf(w, "case bundles since %s (%d audit entries read, log verified against the signed checkpoint)\n", since.Format(time.RFC3339), entries)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "procedure\tcases\tcomplete\trecords delivered\tassembly p50 ms\tp99 ms\t")
	var total ProcedureReport
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.2f\t\n", r.Procedure, r.Cases, r.Complete, r.Records, r.P50MS, r.P99MS)
		total.Cases, total.Complete, total.Records = total.Cases+r.Cases, total.Complete+r.Complete, total.Records+r.Records
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%d\t\t\t\n", total.Cases, total.Complete, total.Records)
	tw.Flush()
}

// parseSince reads --since: a date (the start of that day in China time)
// or an RFC 3339 time.
func parseSince(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, chinaTime); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("--since %q: want a date, YYYY-MM-DD (China time), or an RFC 3339 time", s)
}

// runReport prints the reform's own numbers from the audit log.
func runReport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "report")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit report --credentials officer.json --since DATE [-o json]

The reform's own numbers, computed from the audit log: per procedure, the
case bundles assembled (POST /v1/cases) since DATE, how many were complete
(nothing missing), the evidence records delivered (each a paper the citizen
did not fetch), and the median and p99 assembly time. It reads every entry
with an officer's credentials and first checks them against the exchange's
signed checkpoint (as audit verify does), so the numbers come from the log
the checkpoint commits to. DATE is YYYY-MM-DD, the start of that day in China
time (UTC+8), or an RFC 3339 time.

`)
		fs.PrintDefaults()
	}
	cred := fs.String("credentials", "", "an officer's credentials file (required)")
	exURL := fs.String("exchange", "", "exchange base URL (default: from the credentials file)")
	sinceFlag := fs.String("since", "", "first day counted, YYYY-MM-DD (required)")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cred == "" || *sinceFlag == "" {
		return usagef("--credentials and --since are required")
	}
	since, err := parseSince(*sinceFlag)
	if err != nil {
		return err
	}
	src, err := newAuditSource(*exURL, *cred, "")
	if err != nil {
		return err
	}
	_, cp, _, err := src.checkpoint(ctx)
	if err != nil {
		return err
	}
	raw, _, err := src.entries(ctx, 0, cp.Size)
	if err != nil {
		return err
	}
	if err := audit.VerifyLog(raw, cp); err != nil {
		return fmt.Errorf("report: the entries do not match the signed checkpoint: %w", err)
	}
	entries := make([]audit.Entry, 0, len(raw))
	for i, b := range raw {
		en, err := audit.ParseEntry(b)
		if err != nil {
			return fmt.Errorf("report: entry %d: %w", i, err)
		}
		entries = append(entries, en)
	}
	rs := caseReport(entries, since)
	return o.print(e, map[string]any{"since": since.Format(time.RFC3339), "procedures": rs}, func(w io.Writer) error {
		writeReport(w, rs, since, len(entries))
		return nil
	})
}
