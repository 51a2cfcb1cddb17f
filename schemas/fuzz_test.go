package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
	"testing/fstest"
	"time"
)

// FuzzResidentID checks ValidResidentID against an independent statement
// of the rules on any input: it never panics, every error is a
// *FormatError with a documented reason, and it accepts exactly the
// strings the reference accepts.
func FuzzResidentID(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "330106198503120415", "11010519491231002x", "", "１１０１０５１９４９１２３１００２Ｘ", "110105194902290011", "000000000000000000"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, chinaTime)
	reasons := map[string]bool{ReasonLength: true, ReasonCharacter: true, ReasonAreaCode: true, ReasonBirthDate: true, ReasonCheckCharacter: true}
	f.Fuzz(func(t *testing.T, s string) {
		err := validResidentID(s, now)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !reasons[fe.Reason] || fe.Format != FormatResidentID {
				t.Fatalf("validResidentID(%q) = %v: not a documented *FormatError", s, err)
			}
		}
		if want := referenceResidentID(s, now); (err == nil) != want {
			t.Fatalf("validResidentID(%q) = %v, reference says valid=%v", s, err, want)
		}
	})
}

// referenceResidentID restates the rules with the standard library's
// calendar, to cross-check the hand-written date and checksum code.
func referenceResidentID(s string, now time.Time) bool {
	if len(s) != 18 {
		return false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		d := int(s[i] - '0')
		w := 1
		for k := 0; k < 17-i; k++ {
			w = w * 2 % 11
		}
		sum += d * w
	}
	if !provinces[s[:2]] {
		return false
	}
	birth, err := time.ParseInLocation("20060102", s[6:14], chinaTime)
	if err != nil || birth.Year() < 1900 || birth.After(now) {
		return false
	}
	check := (12 - sum%11) % 11
	want := byte('0' + check)
	if check == 10 {
		want = 'X'
	}
	return s[17] == want
}

// FuzzLoad feeds arbitrary bytes to Load as a schema file and, when it
// loads, validates and coerces a record with it: nothing may panic, and
// every failure must be ErrBadSchema.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"household/v1.json", "tax/v1.json", "property/v1.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(schemaDoc("household", 1, "FULL", `"resident_id": {"type": "string", "pattern": "^[0-9]+$", "maxLength": 18}, "n": {"type": ["integer", "null"], "enum": [1, null], "exclusiveMaximum": 5}`, `"resident_id"`)))
	f.Add([]byte(`{"$ref": "https://evil.example/"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := Load(fstest.MapFS{"household/v1.json": {Data: data}})
		if err != nil {
			if !errors.Is(err, ErrBadSchema) {
				t.Fatalf("Load error %v does not wrap ErrBadSchema", err)
			}
			return
		}
		rec := map[string]any{"resident_id": "11010519491231002X", "n": json.Number("1"), "name": nil}
		if err := reg.Validate("household/v1", rec); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
		}
		if _, err := reg.Coerce("household/v1", map[string]string{"resident_id": "1", "n": "2"}); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Coerce error %v does not wrap ErrInvalid", err)
		}
		_ = reg.Check()
	})
}

func BenchmarkValidateHousehold(b *testing.B) {
	reg := defaultRegistry(b)
	rec := map[string]any{
		"resident_id": "330106198503120415", "name": "陈建国", "gender": "male", "birth_date": "1985-03-12",
		"ethnicity": "汉族", "household_id": "330106-00451", "relation_to_head": "head",
		"address": "浙江省杭州市西湖区文三路90号", "registration_date": "2012-06-18",
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := reg.Validate("household/v1", rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateHouseholdInvalid(b *testing.B) {
	reg := defaultRegistry(b)
	rec := map[string]any{
		"resident_id": "330106198503120416", "name": "陈建国", "gender": "male", "birth_date": "1985-03-12",
		"ethnicity": "汉族", "household_id": "330106-00451", "relation_to_head": "head",
		"address": "浙江省杭州市西湖区文三路90号", "registration_date": "2012-06-18",
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := reg.Validate("household/v1", rec); !errors.Is(err, ErrInvalid) {
			b.Fatal(err)
		}
	}
}
