package sqlsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/schemas"
)

// CodeSchemaViolation is RowError.Code of a row that fails the schema.
const CodeSchemaViolation = connectors.CodeSchemaViolation

// CodeBadRow is RowError.Code of a row that is not a flat JSON object of
// fields (a column of a type with no JSON form the schema can take).
const CodeBadRow = connectors.CodeBadRow

// DefaultBatch and DefaultPoll are Source's defaults.
const (
	DefaultBatch = 500
	DefaultPoll  = 2 * time.Second
)

// ErrConfig: a Source or Lookup is missing a part or has a bad cursor
// column name.
var ErrConfig = errors.New("sqlsource: bad configuration")

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// RowError is one row that was not published.
type RowError struct {
	Cursor  string `json:"cursor,omitempty"` // the row's cursor value ("" when it holds an identity number)
	Code    string `json:"code"`
	Pointer string `json:"pointer,omitempty"` // JSON pointer of the field, for schema_violation
	Message string `json:"message"`
}

// Stats is what one Sync did.
type Stats struct {
	Published int        // rows signed and handed to the sink
	Invalid   []RowError // rows skipped
	Cursor    string     // the cursor after the pass ("" before any row)
}

// Source publishes a query's rows; see the package doc.
type Source struct {
	DB        *pgxpool.Pool
	Query     string // a SELECT whose columns are the dataset's fields and Cursor
	Cursor    string // the monotonic column
	State     string // file that keeps the cursor between runs
	Publisher *connectors.Publisher
	Schemas   *schemas.Registry
	Batch     int           // rows per page (DefaultBatch)
	Poll      time.Duration // Run's interval (DefaultPoll)
	Logger    *slog.Logger
}

type state struct {
	Query  string `json:"query_sha256"`
	Cursor string `json:"cursor"`
	Set    bool   `json:"set"`
}

func (s *Source) check() error {
	if s.DB == nil || s.Publisher == nil || s.Schemas == nil || s.Query == "" || s.State == "" {
		return fmt.Errorf("%w: DB, Query, State, Publisher and Schemas are required", ErrConfig)
	}
	if !identifier.MatchString(s.Cursor) {
		return fmt.Errorf("%w: cursor column %q must be a plain column name", ErrConfig, s.Cursor)
	}
	return nil
}

func (s *Source) queryHash() string {
	h := sha256.Sum256([]byte(s.Publisher.Dataset + "\x00" + s.Cursor + "\x00" + s.Query))
	return hex.EncodeToString(h[:])
}

func (s *Source) load() (state, error) {
	b, err := os.ReadFile(s.State)
	if errors.Is(err, os.ErrNotExist) {
		return state{Query: s.queryHash()}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("sqlsource: state: %w", err)
	}
	var st state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return state{}, fmt.Errorf("sqlsource: state %s: %w", s.State, err)
	}
	if st.Query != s.queryHash() {
		// Another query or cursor: its cursor means nothing here.
		s.logger().Warn("cursor state is of another query; starting with a full snapshot", "dataset", s.Publisher.Dataset)
		return state{Query: s.queryHash()}, nil
	}
	return st, nil
}

// save writes st atomically: a reader (or a crash) sees the old state or
// the new one, never a torn one.
func (s *Source) save(st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.State), ".cursor-*")
	if err != nil {
		return fmt.Errorf("sqlsource: state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("sqlsource: state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sqlsource: state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sqlsource: state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.State); err != nil {
		return fmt.Errorf("sqlsource: state: %w", err)
	}
	return nil
}

func (s *Source) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

type row struct {
	fields map[string]any
	cursor string
}

// page reads the rows after the cursor (all rows when !st.Set), at most
// limit, ordered by the cursor; with eq, the rows whose cursor equals
// st.Cursor instead.
func (s *Source) page(ctx context.Context, st state, limit int, eq bool) ([]row, error) {
	col := pgx.Identifier{s.Cursor}.Sanitize()
	sql := "SELECT to_jsonb(src), (src." + col + ")::text FROM (" + s.Query + ") AS src"
	var args []any
	switch {
	case eq:
		sql += " WHERE src." + col + " = $1"
		args = append(args, st.Cursor)
	case st.Set:
		sql += " WHERE src." + col + " > $1"
		args = append(args, st.Cursor)
	}
	sql += " ORDER BY src." + col
	if !eq {
		sql += fmt.Sprintf(" LIMIT %d", limit)
	}
	// The simple protocol sends the cursor as a quoted literal, which
	// PostgreSQL reads in the cursor column's own type (bigint,
	// timestamptz, numeric, ...): the comparison is the column's.
	rows, err := s.DB.Query(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlsource: query: %w", err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var raw []byte
		var cur *string
		if err := rows.Scan(&raw, &cur); err != nil {
			return nil, fmt.Errorf("sqlsource: scan: %w", err)
		}
		if cur == nil {
			return nil, fmt.Errorf("sqlsource: a row has a NULL %s: the cursor column must always be set", s.Cursor)
		}
		f, err := decodeRow(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, row{fields: f, cursor: *cur})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlsource: query: %w", err)
	}
	return out, nil
}

func decodeRow(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var f map[string]any
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("sqlsource: row: %w", err)
	}
	for k, v := range f {
		if v == nil {
			delete(f, k) // SQL NULL: the field is absent
		}
	}
	return f, nil
}

// next returns the next page: rows after the cursor, never ending in the
// middle of a run of equal cursor values.
func (s *Source) next(ctx context.Context, st state, batch int) ([]row, error) {
	rows, err := s.page(ctx, st, batch, false)
	if err != nil || len(rows) < batch {
		return rows, err
	}
	last := rows[len(rows)-1].cursor
	n := len(rows)
	for n > 0 && rows[n-1].cursor == last {
		n--
	}
	if n > 0 {
		return rows[:n], nil
	}
	// A whole page of one cursor value: take all rows of that value.
	return s.page(ctx, state{Cursor: last, Set: true}, 0, true)
}

// Sync publishes every row after the persisted cursor, page by page,
// saving the cursor after each page is published.
func (s *Source) Sync(ctx context.Context) (Stats, error) {
	if err := s.check(); err != nil {
		return Stats{}, err
	}
	batch := s.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	st, err := s.load()
	if err != nil {
		return Stats{}, err
	}
	ds, ok := s.Schemas.Dataset(s.Publisher.Dataset)
	if !ok {
		return Stats{}, fmt.Errorf("%w: unknown dataset %q", ErrConfig, s.Publisher.Dataset)
	}
	cursorIsField := slices.Contains(ds.Fields, s.Cursor)
	var stats Stats
	if st.Set {
		stats.Cursor = st.Cursor
	}
	for {
		rows, err := s.next(ctx, st, batch)
		if err != nil {
			return stats, err
		}
		if len(rows) == 0 {
			return stats, nil
		}
		items := make([]connectors.Item, 0, len(rows))
		for _, r := range rows {
			if !cursorIsField {
				delete(r.fields, s.Cursor)
			}
			if err := s.Schemas.Validate(s.Publisher.Schema, r.fields); err != nil {
				stats.Invalid = append(stats.Invalid, rowError(r.cursor, err))
				continue
			}
			items = append(items, connectors.Item{Fields: r.fields})
		}
		if len(items) > 0 {
			_, results, err := s.Publisher.Publish(ctx, items)
			if err != nil {
				return stats, fmt.Errorf("sqlsource: %w", err)
			}
			for _, res := range results {
				if res.Status == "rejected" {
					return stats, fmt.Errorf("sqlsource: the exchange rejected a record (%s %s): not moving the cursor past it", res.Code, res.Pointer)
				}
			}
		}
		st.Cursor, st.Set = rows[len(rows)-1].cursor, true
		if err := s.save(st); err != nil {
			return stats, err
		}
		stats.Published += len(items)
		stats.Cursor = st.Cursor
	}
}

func rowError(cursor string, err error) RowError {
	re := RowError{Cursor: cursor, Code: CodeSchemaViolation, Message: schemas.RedactIdentities(err.Error())}
	if schemas.ContainsIdentity(cursor) {
		re.Cursor = ""
	}
	var ve *schemas.ValidationError
	if errors.As(err, &ve) {
		re.Pointer, re.Message = ve.Pointer, schemas.RedactIdentities(ve.Reason)
	}
	return re
}

// Run syncs until ctx ends: once now, then every Poll. A failed pass
// (the database or the sink away) is logged and retried at the next
// poll; the cursor has not moved past anything unpublished.
func (s *Source) Run(ctx context.Context, report func(Stats)) error {
	if err := s.check(); err != nil {
		return err
	}
	poll := s.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		stats, err := s.Sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.logger().Warn("sql sync failed; retrying at the next poll", "dataset", s.Publisher.Dataset, "err", schemas.RedactIdentities(err.Error()))
		}
		if report != nil && (stats.Published > 0 || len(stats.Invalid) > 0) {
			report(stats)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Lookup answers a live query from the database: see the package doc.
func Lookup(db *pgxpool.Pool, query string) (connectors.LookupFunc, error) {
	if db == nil || query == "" {
		return nil, fmt.Errorf("%w: a database and a lookup query are required", ErrConfig)
	}
	sql := "SELECT to_jsonb(src) FROM (" + query + ") AS src LIMIT 2"
	return func(ctx context.Context, subject string) (map[string]any, error) {
		rows, err := db.Query(ctx, sql, subject)
		if err != nil {
			return nil, fmt.Errorf("sqlsource: lookup: %w", err)
		}
		defer rows.Close()
		var out []map[string]any
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				return nil, fmt.Errorf("sqlsource: lookup: %w", err)
			}
			f, err := decodeRow(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlsource: lookup: %w", err)
		}
		switch len(out) {
		case 0:
			return nil, connectors.ErrNoRecord
		case 1:
			return out[0], nil
		default:
			return nil, errors.New("sqlsource: lookup: more than one row for the subject")
		}
	}, nil
}
