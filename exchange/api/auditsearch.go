package api

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
)

// Server-side filters of GET /v1/audit/entries (officers). With any of
// the filter parameters the route searches instead of paging: it reads
// the entries of [start, end) newest first (end defaults to the log's
// size, start to MaxAuditScan entries before end) and answers those that
// match every filter given, at most limit of them (default and most
// MaxAuditPage), with their indexes:
//
//	consumer   the entry's actor or consumer is this client
//	case_id    the procedure's case id, exactly
//	dataset    the dataset, exactly
//	kind       the entry kind (query, reject, delivery, ...), exactly
//	code       the stable reason code, exactly
//	from, to   RFC 3339 times: from <= time < to
//
// The answer is {start, end, entries, leaf_hashes, indexes, more}: the
// three lists side by side, newest first; more is true when limit cut the
// answer short, and the next page is the same search with end set to the
// last index answered. A parameter given twice or malformed, or one this
// route does not know, is 400 naming it.
//
// GET /v1/audit/rejections (officers) counts the entries of kind reject
// (records refused at ingest, the dead letters) in the same window, by
// dataset and code: {start, end, rejections: [{dataset, code, count}]},
// sorted by dataset and code.

// MaxAuditScan is how many entries one search or count reads at most.
const MaxAuditScan = 100_000

// auditFilterParams are the filter parameters of GET /v1/audit/entries.
var auditFilterParams = []string{"consumer", "case_id", "dataset", "kind", "code", "from", "to"}

// auditSearchParams are every parameter of a search.
var auditSearchParams = append([]string{"start", "end", "limit"}, auditFilterParams...)

var auditKindRE = regexp.MustCompile(`^[a-z_]{1,32}$`)

type auditFilter struct {
	consumer, caseID, dataset, kind, code string
	from, to                              time.Time
}

func (f auditFilter) match(e audit.Entry) bool {
	return (f.consumer == "" || e.Actor == f.consumer || e.Consumer == f.consumer) &&
		(f.caseID == "" || e.CaseID == f.caseID) &&
		(f.dataset == "" || e.Dataset == f.dataset) &&
		(f.kind == "" || string(e.Kind) == f.kind) &&
		(f.code == "" || e.Code == f.code) &&
		(f.from.IsZero() || !e.Time.Before(f.from)) &&
		(f.to.IsZero() || e.Time.Before(f.to))
}

// isAuditSearch reports whether q asks for a search.
func isAuditSearch(q url.Values) bool {
	for _, k := range auditFilterParams {
		if _, ok := q[k]; ok {
			return true
		}
	}
	return false
}

// oneParam returns the single value of parameter name ("" when absent);
// a repeat or an empty value is codes.ErrBadRequest naming it.
func oneParam(op string, q url.Values, name string) (string, error) {
	vs, ok := q[name]
	if !ok {
		return "", nil
	}
	if len(vs) != 1 || vs[0] == "" {
		return "", fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + name, Err: fmt.Errorf("want one non-empty value: %w", codes.ErrBadRequest)})
	}
	return vs[0], nil
}

// parseAuditFilter reads the filter parameters and refuses any parameter
// not in allowed.
func parseAuditFilter(op string, q url.Values, allowed []string) (auditFilter, error) {
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			return auditFilter{}, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + k, Err: fmt.Errorf("not a parameter of this route: %w", codes.ErrBadRequest)})
		}
	}
	var f auditFilter
	for _, p := range []struct {
		name string
		dst  *string
	}{{"consumer", &f.consumer}, {"case_id", &f.caseID}, {"dataset", &f.dataset}, {"kind", &f.kind}, {"code", &f.code}} {
		v, err := oneParam(op, q, p.name)
		if err != nil {
			return auditFilter{}, err
		}
		if len(v) > 256 {
			return auditFilter{}, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + p.name, Err: fmt.Errorf("longer than 256 bytes: %w", codes.ErrBadRequest)})
		}
		*p.dst = v
	}
	if f.kind != "" && !auditKindRE.MatchString(f.kind) {
		return auditFilter{}, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/kind", Err: fmt.Errorf("not an entry kind: %w", codes.ErrBadRequest)})
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.from}, {"to", &f.to}} {
		v, err := oneParam(op, q, p.name)
		if err != nil {
			return auditFilter{}, err
		}
		if v == "" {
			continue
		}
		if *p.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return auditFilter{}, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/" + p.name, Err: fmt.Errorf("not an RFC 3339 time: %w", codes.ErrBadRequest)})
		}
	}
	if !f.from.IsZero() && !f.to.IsZero() && !f.from.Before(f.to) {
		return auditFilter{}, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/from", Err: fmt.Errorf("from is not before to: %w", codes.ErrBadRange)})
	}
	return f, nil
}

// auditWindow reads the optional start and end of a search: end defaults
// to the log's size, start to MaxAuditScan entries before end; a window
// wider than MaxAuditScan is codes.ErrBadRange.
func (s *Server) auditWindow(r *http.Request, op string) (*audit.Log, uint64, uint64, error) {
	q := r.URL.Query()
	if s.d.AuditLog == nil {
		return nil, 0, 0, fmt.Errorf("%s: no audit log on this node: %w", op, codes.ErrNotFound)
	}
	end := s.d.AuditLog.Log().Size()
	if _, ok := q["end"]; ok {
		v, err := uintParam(op, q, "end")
		if err != nil {
			return nil, 0, 0, err
		}
		end = v
	}
	start := end - min(end, MaxAuditScan)
	if _, ok := q["start"]; ok {
		v, err := uintParam(op, q, "start")
		if err != nil {
			return nil, 0, 0, err
		}
		start = v
	}
	if start > end {
		return nil, 0, 0, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/start", Err: fmt.Errorf("start %d above end %d: %w", start, end, codes.ErrBadRange)})
	}
	if end-start > MaxAuditScan {
		return nil, 0, 0, fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/start", Err: fmt.Errorf("%d entries, at most %d a search: %w", end-start, MaxAuditScan, codes.ErrBadRange)})
	}
	l, err := s.auditLogAt(r.Context(), op, "end", end)
	if err != nil {
		return nil, 0, 0, err
	}
	return l, start, end, nil
}

// scanAudit calls fn with the entries of [start, end) of l, newest
// first, until fn returns false. An entry that does not parse (none
// should: the node appended it) is skipped.
func scanAudit(op string, l *audit.Log, start, end uint64, fn func(i uint64, raw []byte, e audit.Entry) bool) error {
	const chunk = 1024
	for hi := end; hi > start; {
		lo := hi - min(hi-start, chunk)
		raws, err := l.Entries(lo, hi)
		if err != nil {
			return proofErr(op, err)
		}
		for j := len(raws) - 1; j >= 0; j-- {
			e, err := audit.ParseEntry(raws[j])
			if err != nil {
				continue
			}
			if !fn(lo+uint64(j), raws[j], e) {
				return nil
			}
		}
		hi = lo
	}
	return nil
}

// auditSearch answers GET /v1/audit/entries with filter parameters.
func (s *Server) auditSearch(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	const op = "audit search"
	q := r.URL.Query()
	f, err := parseAuditFilter(op, q, auditSearchParams)
	if err != nil {
		return err
	}
	limit := uint64(MaxAuditPage)
	if _, ok := q["limit"]; ok {
		if limit, err = uintParam(op, q, "limit"); err != nil {
			return err
		}
		if limit == 0 || limit > MaxAuditPage {
			return fmt.Errorf("%s: %w", op, &codes.FieldError{Pointer: "/limit", Err: fmt.Errorf("want 1 to %d: %w", MaxAuditPage, codes.ErrBadRange)})
		}
	}
	l, start, end, err := s.auditWindow(r, op)
	if err != nil {
		return err
	}
	var raws [][]byte
	indexes := []uint64{}
	more := false
	if err := scanAudit(op, l, start, end, func(i uint64, raw []byte, e audit.Entry) bool {
		if !f.match(e) {
			return true
		}
		if uint64(len(indexes)) == limit {
			more = true
			return false
		}
		raws, indexes = append(raws, raw), append(indexes, i)
		return true
	}); err != nil {
		return err
	}
	leaves := make([][]byte, len(indexes))
	for j, i := range indexes {
		h, err := l.LeafHashes(i, i+1)
		if err != nil {
			return proofErr(op, err)
		}
		leaves[j] = h[0]
	}
	writeJSON(w, http.StatusOK, map[string]any{"start": start, "end": end, "entries": b64s(raws), "leaf_hashes": b64s(leaves), "indexes": indexes, "more": more})
	return nil
}

type rejectionCount struct {
	Dataset string `json:"dataset"`
	Code    string `json:"code"`
	Count   int    `json:"count"`
}

// auditRejections answers GET /v1/audit/rejections.
func (s *Server) auditRejections(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	const op = "audit rejections"
	q := r.URL.Query()
	f, err := parseAuditFilter(op, q, []string{"start", "end", "dataset", "code", "from", "to"})
	if err != nil {
		return err
	}
	f.kind = string(audit.KindReject)
	l, start, end, err := s.auditWindow(r, op)
	if err != nil {
		return err
	}
	counts := map[[2]string]int{}
	if err := scanAudit(op, l, start, end, func(_ uint64, _ []byte, e audit.Entry) bool {
		if f.match(e) {
			counts[[2]string{e.Dataset, e.Code}]++
		}
		return true
	}); err != nil {
		return err
	}
	out := []rejectionCount{}
	for k, n := range counts {
		out = append(out, rejectionCount{Dataset: k[0], Code: k[1], Count: n})
	}
	slices.SortFunc(out, func(a, b rejectionCount) int {
		if a.Dataset != b.Dataset {
			return strings.Compare(a.Dataset, b.Dataset)
		}
		return strings.Compare(a.Code, b.Code)
	})
	writeJSON(w, http.StatusOK, map[string]any{"start": start, "end": end, "rejections": out})
	return nil
}
