package connectors

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/onevisit/onevisit/schemas"
)

// Encodings ParseCSV reads. Files exported from Excel and older department
// systems in China are GBK, which GB18030 includes.
const (
	EncodingUTF8    = "utf-8"
	EncodingGB18030 = "gb18030"
)

// ErrEncoding: the file is not text in the encoding it is read as. Nothing
// of it is signed. The message says which line and what to do.
var ErrEncoding = errors.New("wrong text encoding")

// Row codes of rows refused before anything is signed (RowResult.Code).
// Rows the exchange refuses carry the exchange's codes.
const (
	CodeSchemaViolation = "schema_violation" // the cell does not fit the schema; Pointer names the field
	CodeMojibake        = "mojibake"         // the cell holds U+FFFD, a control character, 锟斤拷 or Latin-1 runs: text decoded wrongly somewhere
	CodeBadRow          = "bad_row"          // the row is not well-formed CSV (quotes, number of cells)
)

// RowResult is what became of one data row, for the connector's report.
type RowResult struct {
	Row      int    `json:"row"`  // 1-based data row; the header is not a row
	Line     int    `json:"line"` // line of the file the row starts on
	Status   string `json:"status"`
	Code     string `json:"code,omitempty"`
	Pointer  string `json:"pointer,omitempty"`
	Message  string `json:"message,omitempty"`
	RecordID string `json:"record_id,omitempty"`
}

// Row statuses besides the exchange's accepted, duplicate and rejected.
const (
	StatusInvalid = "invalid" // refused by the connector; not signed, not sent
	StatusSent    = "sent"    // written to the ingest topic; the exchange decides later
)

// CSVFile is a parsed CSV file: the rows that fit the schema, as items, and
// the rows that do not.
type CSVFile struct {
	Items []Item
	// Rows has the RowResult skeleton (Row, Line) of each item, same order.
	Rows []RowResult
	// Invalid lists the rows refused, with code, pointer and reason.
	Invalid []RowResult
}

// DecodeText returns data as UTF-8 without a byte order mark. With
// EncodingUTF8 (or "") data must be valid UTF-8; with EncodingGB18030 it is
// converted, and refused if it is already UTF-8 with non-ASCII text (read
// as GB18030 that would sign mojibake) or has bytes GB18030 cannot decode.
func DecodeText(data []byte, encoding string) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "", EncodingUTF8, "utf8":
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		if !utf8.Valid(data) {
			off := 0
			for off < len(data) {
				r, n := utf8.DecodeRune(data[off:])
				if r == utf8.RuneError && n <= 1 {
					break
				}
				off += n
			}
			return nil, fmt.Errorf("read csv: line %d (byte %d) is not valid UTF-8: %w; if the file comes from Excel or a GBK system, pass --encoding gb18030",
				1+bytes.Count(data[:off], []byte("\n")), off, ErrEncoding)
		}
		return data, nil
	case EncodingGB18030, "gbk", "gb2312":
		if utf8.Valid(data) && !isASCII(data) {
			return nil, fmt.Errorf("read csv: the file is already UTF-8 text, read as GB18030 it would be mojibake: %w; drop --encoding gb18030", ErrEncoding)
		}
		out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("read csv: %v: %w", err, ErrEncoding)
		}
		if i := bytes.Index(out, []byte("\uFFFD")); i >= 0 {
			return nil, fmt.Errorf("read csv: line %d has bytes that are not GB18030: %w", 1+bytes.Count(out[:i], []byte("\n")), ErrEncoding)
		}
		return bytes.TrimPrefix(out, []byte("\uFEFF")), nil
	}
	return nil, fmt.Errorf("read csv: encoding %q: want %s or %s: %w", encoding, EncodingUTF8, EncodingGB18030, ErrEncoding)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// ParseCSV reads a CSV file whose header row names the fields of schemaID
// in the given encoding (see DecodeText) and checks every row: each is
// either an item, typed by the schema, or an invalid row with a code, the
// JSON pointer of the field at fault and the reason. An encoding or header
// problem is an error for the whole file.
func ParseCSV(r io.Reader, reg *schemas.Registry, schemaID, encoding string) (*CSVFile, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	text, err := DecodeText(raw, encoding)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(text))
	cr.FieldsPerRecord = 0
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv: header: %w", err)
	}
	for i, h := range header {
		if reason := mojibake(h); reason != "" {
			return nil, fmt.Errorf("read csv: header column %d %s: %w", i+1, reason, ErrEncoding)
		}
	}
	f := &CSVFile{}
	for row := 1; ; row++ {
		cells, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		res := RowResult{Row: row, Line: line}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				res.Line = pe.StartLine
			}
			res.Status, res.Code, res.Message = StatusInvalid, CodeBadRow, err.Error()
			f.Invalid = append(f.Invalid, res)
			if !errors.Is(err, csv.ErrFieldCount) {
				break // the reader cannot resynchronise after a quoting error
			}
			continue
		}
		fields, bad := checkRow(reg, schemaID, header, cells)
		if bad != nil {
			bad.Row, bad.Line = row, line
			f.Invalid = append(f.Invalid, *bad)
			continue
		}
		f.Items = append(f.Items, Item{Fields: fields})
		f.Rows = append(f.Rows, res)
	}
	return f, nil
}

func checkRow(reg *schemas.Registry, schemaID string, header, cells []string) (map[string]any, *RowResult) {
	byCol := make(map[string]string, len(header))
	for i, h := range header {
		if reason := mojibake(cells[i]); reason != "" {
			return nil, &RowResult{Status: StatusInvalid, Code: CodeMojibake, Pointer: "/" + pointerEscape(h),
				Message: reason + ": the file was decoded with the wrong encoding somewhere; export it again as UTF-8, or pass --encoding gb18030 for a GBK file"}
		}
		byCol[h] = cells[i]
	}
	fields, err := reg.Coerce(schemaID, byCol)
	if err == nil {
		err = reg.Validate(schemaID, fields)
	}
	if err != nil {
		res := &RowResult{Status: StatusInvalid, Code: CodeSchemaViolation, Message: err.Error()}
		var ve *schemas.ValidationError
		if errors.As(err, &ve) {
			res.Pointer = ve.Pointer
		}
		return nil, res
	}
	return fields, nil
}

// mojibake says why a cell is not text a person wrote, or "".
func mojibake(s string) string {
	switch {
	case strings.ContainsRune(s, utf8.RuneError):
		return "U+FFFD (a character lost in an earlier conversion)"
	case strings.Contains(s, "锟斤拷"):
		return "锟斤拷 (UTF-8 replacement characters read as GBK)"
	}
	latin := 0 // consecutive Latin-1 letters and signs, as GBK bytes read as Latin-1 become
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r >= 0x7f && r <= 0x9f {
			return fmt.Sprintf("control character U+%04X", r)
		}
		if r >= 0xa0 && r <= 0xff && r != 0xb7 { // U+00B7 · separates the parts of a name
			if latin++; latin == 2 {
				return "Latin-1 characters in a row (GBK text read as Latin-1 or Windows-1252)"
			}
		} else {
			latin = 0
		}
	}
	return ""
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// ReadCSV reads a UTF-8 CSV file whose header row names the fields of
// schemaID and returns one item per row, typed by the schema. A row that
// does not fit the schema is an error naming its line; nothing is returned
// then, so a half-read file is never published. ParseCSV reports every
// row instead.
func ReadCSV(r io.Reader, reg *schemas.Registry, schemaID string) ([]Item, error) {
	f, err := ParseCSV(r, reg, schemaID, EncodingUTF8)
	if err != nil {
		return nil, err
	}
	if len(f.Invalid) > 0 {
		bad := f.Invalid[0]
		return nil, fmt.Errorf("read csv: line %d: %s %s: %s", bad.Line, bad.Code, bad.Pointer, bad.Message)
	}
	return f.Items, nil
}
