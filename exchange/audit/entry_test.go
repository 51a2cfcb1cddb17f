package audit

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// goldenEntries are the canonical-encoding cases kept under
// testdata/entries/<name>.json.
var goldenEntries = []struct {
	name  string
	entry Entry
}{
	{"query_permit", sampleEntry(1)},
	{"deny_fields", Entry{
		Time: t0, Kind: KindDeny, Actor: "property-transfer", Role: "procedure-service", Dataset: "tax",
		Purpose: "marketing", Subject: pseudonym("citizen-1"), Fields: []string{"income"},
		Decision: DecisionDeny, Code: "purpose_not_allowed", RequestID: "req-9", Node: "node-b",
	}},
	{"accept_record", Entry{
		Time: t0, Kind: KindAccept, Actor: "public-security", Dataset: "household",
		Subject: pseudonym("citizen-2"), RecordID: "hh-2025-000001", Decision: DecisionAccepted, Node: "node-a",
	}},
	{"reject_duplicate", Entry{
		Time: t0.Truncate(time.Second), Kind: KindReject, Actor: "public-security", Dataset: "household",
		RecordID: "hh-2025-000001", Decision: DecisionDuplicate, Code: "duplicate_record_id",
	}},
	{"policy_change", Entry{
		Time: t0, Kind: KindPolicyChange, Actor: "officer-li", Role: "security-officer",
		Policy: "enrolment-household", PolicyVersion: "4", Code: "approved",
	}},
	{"key_change_minimal", Entry{Time: t0, Kind: KindKeyChange, Actor: "officer-wang", Code: "rotated"}},
	{"token_escapes", Entry{
		Time: t0, Kind: KindToken, Actor: "client \"quoted\" \\ <tag> & 办事",
		Code: "line1\nline2\ttab\r\b\f\x01\x1f\u2028", Decision: DecisionPermit,
	}},
}

func TestMarshalCanonicalGolden(t *testing.T) {
	for _, tc := range goldenEntries {
		t.Run(tc.name, func(t *testing.T) {
			checkEntryGolden(t, nil, tc.name, tc.entry)
		})
	}
}

func TestMarshalCanonicalTimeIsUTC(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	e := Entry{Time: time.Date(2025, 3, 14, 17, 0, 0, 500_000_000, shanghai), Kind: KindToken}
	want := `{"time":"2025-03-14T09:00:00.5Z","kind":"token"}`
	if got := string(e.MarshalCanonical()); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestParseEntry(t *testing.T) {
	good := `{"time":"2025-03-14T09:26:53.589793Z","kind":"query","actor":"a","subject":"` + pseudonym("x") + `","fields":["name"],"decision":"permit"}`
	tests := []struct {
		name    string
		in      string
		want    Entry
		wantErr error
	}{
		{name: "canonical", in: good, want: Entry{
			Time: t0, Kind: KindQuery, Actor: "a", Subject: pseudonym("x"), Fields: []string{"name"}, Decision: DecisionPermit,
		}},
		{name: "white space", in: strings.Replace(good, `,"kind"`, `, "kind"`, 1), wantErr: ErrBadEntry},
		{name: "members reordered", in: `{"kind":"token","time":"2025-03-14T09:26:53Z"}`, wantErr: ErrBadEntry},
		{name: "duplicate member", in: `{"time":"2025-03-14T09:26:53Z","kind":"token","kind":"query"}`, wantErr: jsonstrict.ErrDuplicateKey},
		{name: "case-variant duplicate", in: `{"time":"2025-03-14T09:26:53Z","kind":"token","Kind":"query"}`, wantErr: jsonstrict.ErrDuplicateKey},
		{name: "case-variant member", in: `{"time":"2025-03-14T09:26:53Z","Kind":"token"}`, wantErr: ErrBadEntry},
		{name: "unknown member", in: `{"time":"2025-03-14T09:26:53Z","kind":"token","id_number":"330106199001011234"}`, wantErr: jsonstrict.ErrUnknownField},
		{name: "identity number as subject", in: `{"time":"2025-03-14T09:26:53Z","kind":"query","subject":"33010619900101123X"}`, wantErr: ErrBadEntry},
		{name: "uppercase hex subject", in: `{"time":"2025-03-14T09:26:53Z","kind":"query","subject":"` + strings.ToUpper(pseudonym("x")) + `"}`, wantErr: ErrBadEntry},
		{name: "unknown kind", in: `{"time":"2025-03-14T09:26:53Z","kind":"read"}`, wantErr: ErrBadEntry},
		{name: "unknown decision", in: `{"time":"2025-03-14T09:26:53Z","kind":"query","decision":"maybe"}`, wantErr: ErrBadEntry},
		{name: "missing time", in: `{"kind":"query"}`, wantErr: ErrBadEntry},
		{name: "missing kind", in: `{"time":"2025-03-14T09:26:53Z"}`, wantErr: ErrBadEntry},
		{name: "time with offset", in: `{"time":"2025-03-14T17:26:53+08:00","kind":"token"}`, wantErr: ErrBadEntry},
		{name: "time with trailing zeros", in: `{"time":"2025-03-14T09:26:53.500Z","kind":"token"}`, wantErr: ErrBadEntry},
		{name: "time lower-case z", in: `{"time":"2025-03-14T09:26:53z","kind":"token"}`, wantErr: ErrBadEntry},
		{name: "time not a time", in: `{"time":"yesterday","kind":"token"}`, wantErr: ErrBadEntry},
		{name: "time a number", in: `{"time":1741944413,"kind":"token"}`, wantErr: ErrBadEntry},
		{name: "empty fields", in: `{"time":"2025-03-14T09:26:53Z","kind":"query","fields":[]}`, wantErr: ErrBadEntry},
		{name: "null fields", in: `{"time":"2025-03-14T09:26:53Z","kind":"query","fields":null}`, wantErr: ErrBadEntry},
		{name: "empty field name", in: `{"time":"2025-03-14T09:26:53Z","kind":"query","fields":[""]}`, wantErr: ErrBadEntry},
		{name: "empty string member", in: `{"time":"2025-03-14T09:26:53Z","kind":"query","actor":""}`, wantErr: ErrBadEntry},
		{name: "needless escape", in: `{"time":"2025-03-14T09:26:53Z","kind":"token","actor":"\u0061"}`, wantErr: ErrBadEntry},
		{name: "escaped solidus", in: `{"time":"2025-03-14T09:26:53Z","kind":"token","actor":"a\/b"}`, wantErr: ErrBadEntry},
		{name: "invalid UTF-8", in: "{\"time\":\"2025-03-14T09:26:53Z\",\"kind\":\"token\",\"actor\":\"\xff\"}", wantErr: jsonstrict.ErrInvalidUTF8},
		{name: "not JSON", in: `time=now kind=query`, wantErr: jsonstrict.ErrSyntax},
		{name: "array", in: `[]`, wantErr: ErrBadEntry},
		{name: "trailing data", in: `{"time":"2025-03-14T09:26:53Z","kind":"token"}{}`, wantErr: jsonstrict.ErrSyntax},
		{name: "empty input", in: ``, wantErr: jsonstrict.ErrSyntax},
		{name: "too large", in: `{"time":"2025-03-14T09:26:53Z","kind":"token","code":"` + strings.Repeat("x", MaxEntrySize) + `"}`, wantErr: ErrBadEntry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEntry([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseEntry error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrBadEntry) {
					t.Errorf("error %v does not wrap ErrBadEntry", err)
				}
				if !strings.HasPrefix(err.Error(), "parse entry: ") {
					t.Errorf("error %q does not start with the operation", err)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// checkEntryGolden checks that e validates, encodes canonically as
// testdata/entries/name.json, parses back to e and, unless s is nil,
// meets the entry schema s.
func checkEntryGolden(t *testing.T, s *jsonschema.Schema, name string, e Entry) {
	t.Helper()
	if err := e.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got := e.MarshalCanonical()
	testkit.Golden(t, filepath.Join("testdata", "entries", name+".json"), append(bytes.Clone(got), '\n'))
	back, err := ParseEntry(got)
	if err != nil {
		t.Fatalf("ParseEntry(canonical): %v", err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Errorf("round trip:\n got %#v\nwant %#v", back, e)
	}
	if s == nil {
		return
	}
	if err := validateSchema(s, got); err != nil {
		t.Errorf("schema: %v", err)
	}
}

func compileEntrySchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(EntrySchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("urn:onevisit:audit:entry:1", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("urn:onevisit:audit:entry:1")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSchema(s *jsonschema.Schema, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// TestSchemaAcceptsCanonical: every canonical entry, golden or random,
// validates against entry.schema.json.
func TestSchemaAcceptsCanonical(t *testing.T) {
	s := compileEntrySchema(t)
	for _, tc := range goldenEntries {
		if err := validateSchema(s, tc.entry.MarshalCanonical()); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for i, b := range sampleEntries(50) {
		if err := validateSchema(s, b); err != nil {
			t.Errorf("sample %d: %v", i, err)
		}
	}
}

// TestSchemaAgreesWithParseEntry: structural faults are refused by both
// the schema and ParseEntry. (Byte-level canonical form, such as member
// order and escaping, is beyond what a schema can say.)
func TestSchemaAgreesWithParseEntry(t *testing.T) {
	s := compileEntrySchema(t)
	bad := map[string]string{
		"unknown member":     `{"time":"2025-03-14T09:26:53Z","kind":"token","id_number":"330106199001011234"}`,
		"identity subject":   `{"time":"2025-03-14T09:26:53Z","kind":"query","subject":"33010619900101123X"}`,
		"unknown kind":       `{"time":"2025-03-14T09:26:53Z","kind":"read"}`,
		"unknown decision":   `{"time":"2025-03-14T09:26:53Z","kind":"query","decision":"maybe"}`,
		"missing time":       `{"kind":"query"}`,
		"missing kind":       `{"time":"2025-03-14T09:26:53Z"}`,
		"time with offset":   `{"time":"2025-03-14T17:26:53+08:00","kind":"token"}`,
		"time trailing zero": `{"time":"2025-03-14T09:26:53.500Z","kind":"token"}`,
		"empty fields":       `{"time":"2025-03-14T09:26:53Z","kind":"query","fields":[]}`,
		"empty field name":   `{"time":"2025-03-14T09:26:53Z","kind":"query","fields":[""]}`,
		"empty actor":        `{"time":"2025-03-14T09:26:53Z","kind":"query","actor":""}`,
		"fields not strings": `{"time":"2025-03-14T09:26:53Z","kind":"query","fields":[1]}`,
	}
	for name, in := range bad {
		if err := validateSchema(s, []byte(in)); err == nil {
			t.Errorf("%s: schema accepted %s", name, in)
		}
		if _, err := ParseEntry([]byte(in)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: ParseEntry error = %v, want ErrBadEntry", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		e       Entry
		wantErr error
	}{
		{"ok", sampleEntry(0), nil},
		{"zero time", Entry{Kind: KindQuery}, ErrBadEntry},
		{"year 10000", Entry{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Kind: KindQuery}, ErrBadEntry},
		{"bad kind", Entry{Time: t0, Kind: "Query"}, ErrBadEntry},
		{"bad decision", Entry{Time: t0, Kind: KindQuery, Decision: "Permit"}, ErrBadEntry},
		{"short subject", Entry{Time: t0, Kind: KindQuery, Subject: "abc"}, ErrBadEntry},
		{"invalid UTF-8 actor", Entry{Time: t0, Kind: KindQuery, Actor: "\xff"}, ErrBadEntry},
		{"invalid UTF-8 field", Entry{Time: t0, Kind: KindQuery, Fields: []string{"\xc3"}}, ErrBadEntry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.e.Validate(); !errors.Is(err, tc.wantErr) {
				t.Errorf("Validate() = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// FuzzParseEntry: no input panics, and whatever parses is canonical: it
// re-encodes to the same bytes and validates.
func FuzzParseEntry(f *testing.F) {
	for _, tc := range goldenEntries {
		f.Add(tc.entry.MarshalCanonical())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("error %v does not wrap ErrBadEntry", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("parsed entry does not validate: %v", err)
		}
		if got := e.MarshalCanonical(); !bytes.Equal(got, b) {
			t.Fatalf("not a round trip:\n in %q\nout %q", b, got)
		}
	})
}
