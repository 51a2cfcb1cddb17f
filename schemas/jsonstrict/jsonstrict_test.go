package jsonstrict

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type body struct {
		Dataset string `json:"dataset"`
		Purpose string `json:"purpose"`
	}
	tests := []struct {
		name    string
		in      string
		want    body
		wantErr error
	}{
		{name: "plain", in: `{"dataset":"tax","purpose":"x"}`, want: body{"tax", "x"}},
		{name: "duplicate key", in: `{"purpose":"tax","purpose":"police"}`, wantErr: ErrDuplicateKey},
		{name: "case variant", in: `{"purpose":"tax","Purpose":"police"}`, wantErr: ErrDuplicateKey},
		{name: "kelvin sign folds like k", in: `{"k":1,"\u212a":2}`, wantErr: ErrDuplicateKey},
		{name: "nested duplicate", in: `{"dataset":"a","x":[{"a":1,"A":2}]}`, wantErr: ErrDuplicateKey},
		{name: "unknown field", in: `{"dataset":"a","allowedFields":["x"]}`, wantErr: ErrUnknownField},
		{name: "trailing garbage", in: `{"dataset":"a"} x`, wantErr: ErrSyntax},
		{name: "two values", in: `{"dataset":"a"}{"dataset":"b"}`, wantErr: ErrSyntax},
		{name: "truncated", in: `{"dataset":"a"`, wantErr: ErrSyntax},
		{name: "NaN", in: `{"dataset":NaN}`, wantErr: ErrSyntax},
		{name: "invalid utf8", in: "{\"dataset\":\"\xff\"}", wantErr: ErrInvalidUTF8},
		{name: "nul in key", in: `{"dataset\u0000":"a"}`, wantErr: ErrInvalidUTF8},
		{name: "too deep", in: strings.Repeat("[", 10000) + strings.Repeat("]", 10000), wantErr: ErrTooDeep},
		{name: "empty", in: ``, wantErr: ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got body
			err := Decode([]byte(tt.in), &got)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decode(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeKeepsNumbersExact(t *testing.T) {
	var v map[string]any
	if err := Decode([]byte(`{"n":12345678901234567890}`), &v); err != nil {
		t.Fatal(err)
	}
	if got := v["n"]; got != json.Number("12345678901234567890") {
		t.Fatalf("n = %#v, want the exact json.Number", got)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"A":2}`, `[1,[2,{"b":null}]]`, `"x"`, `{"a":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data)
		if err == nil && !json.Valid(data) {
			t.Fatalf("Check accepted invalid JSON %q", data)
		}
	})
}

func TestDecodeRefusesCaseVariantNames(t *testing.T) {
	type inner struct {
		ClientID string `json:"client_id"`
	}
	type outer struct {
		Dataset string  `json:"dataset"`
		Clients []inner `json:"clients"`
	}
	tests := []struct {
		name, in string
		wantErr  error
	}{
		{"exact", `{"dataset":"a","clients":[{"client_id":"x"}]}`, nil},
		{"top-level case variant", `{"Dataset":"a"}`, ErrUnknownField},
		{"nested case variant", `{"clients":[{"Client_ID":"x"}]}`, ErrUnknownField},
		{"upper case", `{"CLIENTS":[]}`, ErrUnknownField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v outer
			if err := Decode([]byte(tt.in), &v); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decode(%s) = %v, want %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

// TestUnknownFieldPointer: an unknown member is named by its JSON pointer,
// nested members and array elements included.
func TestUnknownFieldPointer(t *testing.T) {
	type item struct {
		ClientID string `json:"client_id"`
	}
	type doc struct {
		Dataset string `json:"dataset"`
		Clients []item `json:"clients"`
	}
	tests := []struct{ name, in, want string }{
		{"top level", `{"dataset":"a","fields":["x"]}`, "/fields"},
		{"case variant", `{"Dataset":"a"}`, "/Dataset"},
		{"in an array element", `{"clients":[{"client_id":"a"},{"Client_ID":"x"}]}`, "/clients/1/Client_ID"},
		{"escaped", `{"a/b~c":1}`, "/a~1b~0c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tt.in), &d)
			var ue *UnknownFieldError
			if !errors.Is(err, ErrUnknownField) || !errors.As(err, &ue) || ue.Pointer != tt.want {
				t.Fatalf("err = %v, want an *UnknownFieldError at %s", err, tt.want)
			}
		})
	}
}
