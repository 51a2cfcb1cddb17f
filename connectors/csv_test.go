package connectors_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/schemas"
)

func parseFile(t *testing.T, reg *schemas.Registry, name, encoding string) (*connectors.CSVFile, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "csv", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return connectors.ParseCSV(f, reg, "household/v1", encoding)
}

// TestParseCSVEncodings: the same rows in UTF-8, UTF-8 with a BOM and
// GB18030 (CRLF, as Excel writes it) give the same items; a file in the
// wrong encoding is refused whole, saying what to do, so nothing garbled
// is ever signed.
func TestParseCSVEncodings(t *testing.T) {
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseFile(t, reg, "household-utf8.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Items) != 4 || len(want.Invalid) != 0 || want.Items[0].Fields["name"] != "陈建国" {
		t.Fatalf("UTF-8 sample: %d items, %d invalid, first %v", len(want.Items), len(want.Invalid), want.Items[0].Fields)
	}
	tests := []struct {
		name, file, encoding string
		wantErr              error
		wantMsg              string // in the error
	}{
		{"utf-8", "household-utf8.csv", "utf-8", nil, ""},
		{"utf-8 with BOM", "household-bom.csv", "utf-8", nil, ""},
		{"gb18030", "household-gb18030.csv", "gb18030", nil, ""},
		{"gbk is gb18030", "household-gb18030.csv", "GBK", nil, ""},
		{"gb18030 read as utf-8", "household-gb18030.csv", "", connectors.ErrEncoding, "line 2 (byte 121) is not valid UTF-8: wrong text encoding; if the file comes from Excel or a GBK system, pass --encoding gb18030"},
		{"utf-8 read as gb18030", "household-utf8.csv", "gb18030", connectors.ErrEncoding, "already UTF-8"},
		{"unknown encoding", "household-utf8.csv", "latin1", connectors.ErrEncoding, `encoding "latin1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFile(t, reg, tt.file, tt.encoding)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %q, want it to say %q", err, tt.wantMsg)
				}
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestParseCSVRowReport: every bad row is reported with its row, line,
// code and pointer (golden file), the good rows still parse, and ReadCSV
// refuses the file.
func TestParseCSVRowReport(t *testing.T) {
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseFile(t, reg, "household-bad-rows.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 1 || got.Rows[0].Row != 7 || got.Rows[0].Line != 8 {
		t.Fatalf("good rows: %d items, rows %+v; want row 7 on line 8", len(got.Items), got.Rows)
	}
	testkit.GoldenJSON(t, filepath.Join("testdata", "csv", "household-bad-rows.golden.json"), got.Invalid)

	f, err := os.Open(filepath.Join("testdata", "csv", "household-bad-rows.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if items, err := connectors.ReadCSV(f, reg, "household/v1"); err == nil || items != nil {
		t.Fatalf("ReadCSV of a file with bad rows: %d items, err %v; want none and an error", len(items), err)
	}
}
