package dev_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/cmd/onevisit/internal/cli"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/connectors/sqlsource"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/schemas"
)

// postgres connects to the real PostgreSQL that deploy/postgres/run.sh
// starts (skipped locally without it, failed under CI), and makes a
// fresh table name for this test.
func postgres(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	dsn := testkit.NeedEnv(t, "run deploy/postgres/run.sh start and source deploy/postgres/.run/env", "ONEVISIT_POSTGRES_DSN")["ONEVISIT_POSTGRES_DSN"]
	db, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return db, "t_" + hex.EncodeToString(b)
}

func exec(t *testing.T, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// householdTable makes a department's household table with a change
// sequence (version, bumped on every insert and update) and loads the
// sample rows.
func householdTable(t *testing.T, env *dev.Env, db *pgxpool.Pool, table string) []connectors.Item {
	t.Helper()
	exec(t, db, "CREATE SEQUENCE "+table+"_seq")
	exec(t, db, "CREATE TABLE "+table+` (resident_id text PRIMARY KEY, name text NOT NULL, gender text NOT NULL,
		birth_date date NOT NULL, ethnicity text, household_id text NOT NULL, relation_to_head text NOT NULL,
		address text NOT NULL, registration_date date, version bigint NOT NULL DEFAULT nextval('`+table+`_seq'))`)
	t.Cleanup(func() {
		db.Exec(context.Background(), "DROP TABLE "+table)
		db.Exec(context.Background(), "DROP SEQUENCE "+table+"_seq")
	})
	rows := sampleRows(t, env, "household")
	for _, r := range rows {
		insertHousehold(t, db, table, r.Fields)
	}
	return rows
}

func insertHousehold(t *testing.T, db *pgxpool.Pool, table string, f map[string]any) {
	t.Helper()
	exec(t, db, "INSERT INTO "+table+` (resident_id, name, gender, birth_date, ethnicity, household_id, relation_to_head, address, registration_date)
		VALUES ($1, $2, $3, $4::date, $5, $6, $7, $8, $9::date)`,
		f["resident_id"], f["name"], f["gender"], f["birth_date"], f["ethnicity"], f["household_id"], f["relation_to_head"], f["address"], f["registration_date"])
}

// newResident is a valid resident ID of someone not in the samples (born
// 2020-01-01, sequence number seq).
func newResident(t *testing.T, seq int) string {
	t.Helper()
	prefix := fmt.Sprintf("33010620200101%03d", seq)
	id := prefix + string(schemas.ResidentIDCheck(prefix))
	if err := schemas.ValidResidentID(id); err != nil {
		t.Fatal(err)
	}
	return id
}

func schoolQuery(t *testing.T, env *dev.Env, subject string) (map[string]any, error) {
	t.Helper()
	cl, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	ans, err := (&connectors.Requester{Client: cl}).Query(context.Background(), connectors.Query{Dataset: "household", Subject: subject, Purpose: "school_enrolment", CaseID: "SE-2026-0001"})
	if err != nil {
		return nil, err
	}
	return ans.Data, nil
}

// released is what school enrolment gets of a household row.
func released(f map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"resident_id", "name", "birth_date", "household_id", "relation_to_head", "address"} {
		out[k] = f[k]
	}
	return out
}

func TestSQLSourceSnapshotChangesAndRestart(t *testing.T) {
	db, table := postgres(t)
	env := startDev(t)
	rows := householdTable(t, env, db, table)
	p, done, err := env.Publisher("public-security", "household", "http")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	stateFile := filepath.Join(t.TempDir(), "household.cursor.json")
	query := "SELECT resident_id, name, gender, birth_date, ethnicity, household_id, relation_to_head, address, registration_date, version FROM " + table
	source := func() *sqlsource.Source {
		return &sqlsource.Source{DB: db, Query: query, Cursor: "version", State: stateFile, Publisher: p, Schemas: env.Schemas, Batch: 3}
	}
	ctx := context.Background()

	// The snapshot: every row, in pages of 3, then queryable.
	st, err := source().Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sqlsource.Stats{Published: len(rows), Cursor: fmt.Sprint(len(rows))}); !reflect.DeepEqual(st, want) {
		t.Fatalf("snapshot: %+v, want %+v", st, want)
	}
	child := samples.ChildResidentID
	var childRow map[string]any
	for _, r := range rows {
		if r.Fields["resident_id"] == child {
			childRow = r.Fields
		}
	}
	got, err := schoolQuery(t, env, child)
	if err != nil || !reflect.DeepEqual(got, released(childRow)) {
		t.Fatalf("child after the snapshot: %v %v, want %v", got, err, released(childRow))
	}

	// Changes: a new resident and a move, published by the next pass only.
	newcomer := newResident(t, 901)
	added := map[string]any{"resident_id": newcomer, "name": "陈小雨", "gender": "female", "birth_date": "2020-01-01", "ethnicity": "汉族",
		"household_id": childRow["household_id"], "relation_to_head": "child", "address": childRow["address"], "registration_date": "2020-01-15"}
	insertHousehold(t, db, table, added)
	moved := "浙江省杭州市西湖区文三路90号3幢101室"
	exec(t, db, "UPDATE "+table+" SET address = $1, version = nextval('"+table+"_seq') WHERE resident_id = $2", moved, child)
	st, err = source().Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sqlsource.Stats{Published: 2, Cursor: fmt.Sprint(len(rows) + 2)}); !reflect.DeepEqual(st, want) {
		t.Fatalf("changes: %+v, want %+v", st, want)
	}
	wantChild := released(childRow)
	wantChild["address"] = moved
	testkit.WaitFor(t, 20*time.Second, "the child's new address", func() bool {
		got, err := schoolQuery(t, env, child)
		return err == nil && reflect.DeepEqual(got, wantChild)
	})
	if got, err := schoolQuery(t, env, newcomer); err != nil || !reflect.DeepEqual(got, released(added)) {
		t.Errorf("newcomer: %v %v, want %v", got, err, released(added))
	}

	// A restart resumes from the persisted cursor: nothing again.
	st, err = source().Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sqlsource.Stats{Cursor: fmt.Sprint(len(rows) + 2)}); !reflect.DeepEqual(st, want) {
		t.Errorf("restart: %+v, want %+v (nothing republished)", st, want)
	}
	var saved map[string]any
	b, err := os.ReadFile(stateFile)
	if err != nil || json.Unmarshal(b, &saved) != nil || saved["cursor"] != fmt.Sprint(len(rows)+2) {
		t.Errorf("state file: %s %v", b, err)
	}

	// One bad row is reported with its field and does not stop the good
	// one after it.
	bad, good := maps.Clone(added), maps.Clone(added)
	bad["resident_id"], bad["gender"] = newResident(t, 903), "unknown"
	good["resident_id"], good["name"] = newResident(t, 905), "陈小风"
	insertHousehold(t, db, table, bad)
	insertHousehold(t, db, table, good)
	st, err = source().Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := sqlsource.Stats{Published: 1, Cursor: fmt.Sprint(len(rows) + 4), Invalid: []sqlsource.RowError{{
		Cursor: fmt.Sprint(len(rows) + 3), Code: "schema_violation", Pointer: "/gender", Message: "not one of: male, female",
	}}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("bad row: %+v, want %+v", st, want)
	}
	if got, err := schoolQuery(t, env, good["resident_id"].(string)); err != nil || !reflect.DeepEqual(got, released(good)) {
		t.Errorf("the good row beside the bad one: %v %v, want %v", got, err, released(good))
	}
}

func TestSQLResponder(t *testing.T) {
	db, table := postgres(t)
	env := startDev(t)
	exec(t, db, "CREATE TABLE "+table+` (resident_id text PRIMARY KEY, name text, tax_year integer, taxable_income numeric(14,2),
		tax_paid numeric(14,2), tax_office text, certificate_no text, employer_credit_code text)`)
	t.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE "+table) })
	seller := samples.GuardianResidentID
	exec(t, db, "INSERT INTO "+table+" VALUES ($1, '陈建国', 2026, 300000.00, 42000.00, '国家税务总局杭州市西湖区税务局', '(251)浙个证00077777', NULL)", seller)
	lookup, err := sqlsource.Lookup(db, "SELECT * FROM "+table+" WHERE resident_id = $1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := env.StartResponder(dev.LivePublisher, dev.LiveDataset, lookup)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	req := liveRequester(t, env)
	ans := untilAnswered(t, req, liveQuery(seller))
	want := map[string]any{"resident_id": seller, "name": "陈建国", "tax_year": json.Number("2026"), "tax_paid": json.Number("42000.00"), "certificate_no": "(251)浙个证00077777"}
	if got, w := mustJSON(ans.Data), mustJSON(want); string(got) != string(w) {
		t.Errorf("data:\n got %s\nwant %s", got, w)
	}
	// Not in the table: the department's signed "nothing", a 404.
	if _, err := req.Query(context.Background(), liveQuery(samples.ChildResidentID)); !connectors.IsCode(err, "not_found") {
		t.Errorf("subject not in the table: got %v, want not_found", err)
	}
}

// TestSQLSourcePagesKeepTies: rows that share a cursor value are never
// split across pages (the next page starts after that value).
func TestSQLSourcePagesKeepTies(t *testing.T) {
	db, table := postgres(t)
	env := startDev(t)
	rows := householdTable(t, env, db, table)
	// Versions 1, 2, 2, 2, 3, 3, 3, ...: more equal values than a page holds.
	exec(t, db, "UPDATE "+table+" SET version = 1 + (SELECT count(*) FROM "+table+" o WHERE o.resident_id < "+table+".resident_id) / 3")
	p, done, err := env.Publisher("public-security", "household", "http")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	src := &sqlsource.Source{DB: db, Query: "SELECT * FROM " + table, Cursor: "version", State: filepath.Join(t.TempDir(), "state.json"), Publisher: p, Schemas: env.Schemas, Batch: 2}
	st, err := src.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (sqlsource.Stats{Published: len(rows), Cursor: fmt.Sprint(1 + (len(rows)-1)/3)}); !reflect.DeepEqual(st, want) {
		t.Errorf("pages of 2 over runs of 3 equal versions: %+v, want %+v", st, want)
	}
	for _, r := range rows {
		if got, err := schoolQuery(t, env, r.Fields["resident_id"].(string)); err != nil || !reflect.DeepEqual(got, released(r.Fields)) {
			t.Errorf("row %s: %v %v", r.Fields["name"], got, err)
		}
	}
}

// TestSQLConnectorCLI runs `onevisit connector sql --once` and `onevisit
// connector respond --dsn --lookup-query` as a department would.
func TestSQLConnectorCLI(t *testing.T) {
	db, table := postgres(t)
	env := startDev(t)
	rows := householdTable(t, env, db, table)
	dsn := os.Getenv("ONEVISIT_POSTGRES_DSN")
	state := filepath.Join(t.TempDir(), "hh.cursor.json")
	args := []string{"connector", "sql", "--dsn", dsn, "--dataset", "household", "--cursor", "version", "--query", "SELECT * FROM " + table,
		"--credentials", filepath.Join(env.DataDir, "clients", "public-security.json"), "--via", "http", "--state", state, "--once"}
	code, out, errOut := runCLI(args...)
	if code != 0 || out != fmt.Sprintf("published %d household records, 0 rows invalid; cursor %d\n", len(rows), len(rows)) {
		t.Fatalf("connector sql: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(args...)
	if code != 0 || out != fmt.Sprintf("published 0 household records, 0 rows invalid; cursor %d\n", len(rows)) {
		t.Errorf("connector sql again (resumes at the cursor): exit %d\n%s%s", code, out, errOut)
	}
	if _, err := schoolQuery(t, env, samples.ChildResidentID); err != nil {
		t.Errorf("child after connector sql: %v", err)
	}

	certs := table + "_cert"
	exec(t, db, "CREATE TABLE "+certs+" AS SELECT resident_id, name, 2026 AS tax_year, 1000.00::numeric AS taxable_income, 10.00::numeric AS tax_paid, '西湖区税务局'::text AS tax_office, 'C-'||version AS certificate_no FROM "+table)
	t.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE "+certs) })
	ctx, cancel := context.WithCancel(context.Background())
	var rout, rerr bytes.Buffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Main(ctx, []string{"connector", "respond", "--dataset", dev.LiveDataset, "--dsn", dsn,
			"--lookup-query", "SELECT * FROM " + certs + " WHERE resident_id = $1",
			"--credentials", filepath.Join(env.DataDir, "clients", dev.LivePublisher+".json"), "--namespace", string(env.Kafka.Names)}, &rout, &rerr)
	}()
	ans := untilAnswered(t, liveRequester(t, env), liveQuery(samples.GuardianResidentID))
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("connector respond --dsn exited %d: %s", code, rerr.String())
	}
	if ans.Data["tax_paid"] != json.Number("10.00") || !strings.HasPrefix(ans.Data["certificate_no"].(string), "C-") {
		t.Errorf("answer from SQL: %v", ans.Data)
	}
}
