package sqlsource

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/schemas"
)

// The database-backed behaviour (snapshot, changes, restart, bad rows,
// ties, lookups) is tested against a real PostgreSQL in
// cmd/onevisit/dev/sql_test.go; these cases need none.
func TestConfig(t *testing.T) {
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	// A pool is made without connecting; nothing here reaches a server.
	db, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := &connectors.Publisher{Dataset: "household", Schema: "household/v1"}
	ok := Source{DB: db, Query: "SELECT 1", Cursor: "version", State: "s.json", Publisher: p, Schemas: reg}
	tests := []struct {
		name    string
		edit    func(s *Source)
		wantErr error
	}{
		{"complete", func(*Source) {}, nil},
		{"no database", func(s *Source) { s.DB = nil }, ErrConfig},
		{"no query", func(s *Source) { s.Query = "" }, ErrConfig},
		{"no state file", func(s *Source) { s.State = "" }, ErrConfig},
		{"cursor that is an expression", func(s *Source) { s.Cursor = "version; DROP TABLE x" }, ErrConfig},
		{"quoted cursor", func(s *Source) { s.Cursor = `"version"` }, ErrConfig},
		{"empty cursor", func(s *Source) { s.Cursor = "" }, ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			if err := s.check(); !errors.Is(err, tc.wantErr) {
				t.Errorf("check: got %v, want %v", err, tc.wantErr)
			}
		})
	}
	if _, err := Lookup(nil, "SELECT 1"); !errors.Is(err, ErrConfig) {
		t.Errorf("Lookup without a database: got %v, want ErrConfig", err)
	}
	if _, err := Lookup(db, ""); !errors.Is(err, ErrConfig) {
		t.Errorf("Lookup without a query: got %v, want ErrConfig", err)
	}
}

func TestDecodeRowDropsNulls(t *testing.T) {
	got, err := decodeRow([]byte(`{"resident_id":"330106198503120415","ethnicity":null,"area_sqm":89.50}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["ethnicity"] != nil || got["area_sqm"].(interface{ String() string }).String() != "89.50" {
		t.Errorf("decodeRow = %#v", got)
	}
}
