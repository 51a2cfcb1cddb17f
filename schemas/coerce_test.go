package schemas

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestCoerce(t *testing.T) {
	reg := defaultRegistry(t)
	taxRow := func(edit func(map[string]string)) map[string]string {
		row := map[string]string{
			"resident_id": "330106198503120415", "name": "陈建国", "tax_year": "2025",
			"taxable_income": "186000.00", "tax_paid": "13080.50", "tax_office": "国家税务总局杭州市西湖区税务局",
			"certificate_no": "(251)浙个证00012345", "employer_credit_code": "",
		}
		if edit != nil {
			edit(row)
		}
		return row
	}
	tests := []struct {
		name        string
		row         map[string]string
		want        map[string]any
		wantErr     error
		wantPointer string
	}{
		{
			name: "numbers become json.Number, empty optional cell is absent",
			row:  taxRow(nil),
			want: map[string]any{
				"resident_id": "330106198503120415", "name": "陈建国", "tax_year": json.Number("2025"),
				"taxable_income": json.Number("186000.00"), "tax_paid": json.Number("13080.50"),
				"tax_office": "国家税务总局杭州市西湖区税务局", "certificate_no": "(251)浙个证00012345",
			},
		},
		{
			name: "strings are not trimmed",
			row:  taxRow(func(r map[string]string) { r["name"] = " 陈建国 " }),
			want: map[string]any{
				"resident_id": "330106198503120415", "name": " 陈建国 ", "tax_year": json.Number("2025"),
				"taxable_income": json.Number("186000.00"), "tax_paid": json.Number("13080.50"),
				"tax_office": "国家税务总局杭州市西湖区税务局", "certificate_no": "(251)浙个证00012345",
			},
		},
		{name: "integer with fraction", row: taxRow(func(r map[string]string) { r["tax_year"] = "2025.5" }), wantErr: ErrInvalid, wantPointer: "/tax_year"},
		{name: "integer with text", row: taxRow(func(r map[string]string) { r["tax_year"] = "二〇二五" }), wantErr: ErrInvalid, wantPointer: "/tax_year"},
		{name: "number with thousands separator", row: taxRow(func(r map[string]string) { r["taxable_income"] = "186,000.00" }), wantErr: ErrInvalid, wantPointer: "/taxable_income"},
		{name: "number with space", row: taxRow(func(r map[string]string) { r["tax_paid"] = " 13080.50" }), wantErr: ErrInvalid, wantPointer: "/tax_paid"},
		{name: "number with huge exponent", row: taxRow(func(r map[string]string) { r["tax_paid"] = "1e999999999" }), wantErr: ErrInvalid, wantPointer: "/tax_paid"},
		{name: "unknown column", row: taxRow(func(r map[string]string) { r["phone"] = "13800000000" }), wantErr: ErrInvalid, wantPointer: "/phone"},
		{name: "first bad column in byte order", row: taxRow(func(r map[string]string) { r["tax_year"] = "x"; r["tax_paid"] = "y" }), wantErr: ErrInvalid, wantPointer: "/tax_paid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reg.Coerce("tax/v1", tt.row)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Coerce error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Pointer != tt.wantPointer {
					t.Fatalf("Coerce error = %#v, want pointer %s", err, tt.wantPointer)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Coerce =\n %#v\nwant\n %#v", got, tt.want)
			}
			if err := reg.Validate("tax/v1", got); err != nil {
				t.Errorf("coerced row does not validate: %v", err)
			}
		})
	}
}

// TestCoerceEmptyRequiredCell: an empty required cell is absent, and
// Validate names it.
func TestCoerceEmptyRequiredCell(t *testing.T) {
	reg := defaultRegistry(t)
	rec, err := reg.Coerce("property/v1", map[string]string{
		"resident_id": "330106198503120415", "owner_name": "陈建国", "unit_number": "330106003012GB00123F00020301",
		"certificate_no": "浙(2016)杭州市不动产权第0123456号", "address": "浙江省杭州市西湖区文三路90号3幢301室",
		"area_sqm": "", "usage": "residential", "acquired_date": "2016-09-20",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["area_sqm"]; ok {
		t.Fatal("empty cell kept")
	}
	var ve *ValidationError
	if err := reg.Validate("property/v1", rec); !errors.As(err, &ve) || ve.Pointer != "/area_sqm" || ve.Keyword != "required" {
		t.Errorf("Validate = %v, want /area_sqm required", err)
	}
}

func TestCoerceTypes(t *testing.T) {
	reg, err := Load(fstest.MapFS{"person/v1.json": {Data: []byte(schemaDoc("person", 1, "NONE",
		`"resident_id": {"type": "string"}, "flag": {"type": "boolean"}, "mixed": {"type": ["integer", "string"]}, "maybe": {"type": ["number", "null"]}`,
		`"resident_id"`))}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		col     string
		cell    string
		want    any
		wantErr error
	}{
		{"true", "flag", "true", true, nil},
		{"false", "flag", "false", false, nil},
		{"capitalised boolean", "flag", "True", nil, ErrInvalid},
		{"integer first", "mixed", "12", json.Number("12"), nil},
		{"then string", "mixed", "12a", "12a", nil},
		{"nullable number", "maybe", "-0.5e2", json.Number("-0.5e2"), nil},
		{"nullable number refuses text", "maybe", "null", nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reg.Coerce("person/v1", map[string]string{"resident_id": "x", tt.col: tt.cell})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Coerce error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got[tt.col], tt.want) {
				t.Errorf("Coerce[%s] = %#v, want %#v", tt.col, got[tt.col], tt.want)
			}
		})
	}
}
