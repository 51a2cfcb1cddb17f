package view

import (
	"reflect"
	"testing"
)

// TestDecodeIsStrict: decode gives back what encode wrote, and refuses
// every truncation of it and any byte after it (a store entry is served
// only when it decodes in full).
func TestDecodeIsStrict(t *testing.T) {
	e := &Entry{
		Dataset: "household", ID: "r1", Issuer: "bureau", KID: "bureau-1", Schema: "household/v1",
		IssuedAt: 100, AcceptedAt: -5, Pos: 7, Deleted: true, JWT: "a.b.c",
		Disclosure: []Disclosure{{Name: "size", Encoded: "WyJzIiwic2l6ZSIsMl0"}, {Name: "", Encoded: ""}},
	}
	b := encode(e)
	got, err := decode(b)
	if err != nil {
		t.Fatalf("decode(encode(e)): %v", err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("decode(encode(e)) = %+v, want %+v", got, e)
	}
	for n := range len(b) {
		if got, err := decode(b[:n]); err == nil {
			t.Errorf("decode of the first %d of %d bytes = %+v, want an error", n, len(b), got)
		}
	}
	if _, err := decode(append(b[:len(b):len(b)], 0)); err == nil {
		t.Error("decode with a trailing byte: no error")
	}
	bad := append([]byte(nil), b...)
	bad[0]++
	if _, err := decode(bad); err == nil {
		t.Error("decode of another format byte: no error")
	}
}
