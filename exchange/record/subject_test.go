package record

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/onevisit/onevisit/exchange/keys"
)

const subjectID = "110101199003074578" // nineFields' subject_id

func boundClaims() Claims {
	c := testClaims
	c.SubjectField = "subject_id"
	return c
}

// TestSubjectBinding: sub_field names the disclosure that holds the
// subject; Subject finds it in a verified record and in any projection
// that keeps it, and fails with ErrNoSubjectBinding otherwise.
func TestSubjectBinding(t *testing.T) {
	ctx := context.Background()
	s := keys.NewLocalSigner("tax-record#1", taxKey)
	bound, err := Sign(ctx, s, boundClaims(), nineFields())
	if err != nil {
		t.Fatal(err)
	}
	unbound, err := Sign(ctx, s, testClaims, nineFields())
	if err != nil {
		t.Fatal(err)
	}
	full, err := Verify(bound, testDirectory(t))
	if err != nil {
		t.Fatal(err)
	}
	if full.SubjectField != "subject_id" {
		t.Fatalf("SubjectField = %q, want subject_id", full.SubjectField)
	}
	tests := []struct {
		name    string
		compact string
		wantErr error
	}{
		{"bound, every field", bound, nil},
		{"bound, projected with the subject", full.Project([]string{"name", "subject_id"}), nil},
		{"bound, only the subject (a delete's shape)", full.Project([]string{"subject_id"}), nil},
		{"bound, subject withheld", full.Project([]string{"name", "tax_year"}), ErrNoSubjectBinding},
		{"no sub_field", unbound, ErrNoSubjectBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Verify(tt.compact, testDirectory(t))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			d, id, err := rec.Subject()
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Subject() err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if id != subjectID || d.Name != "subject_id" || d.Digest != Digest(d.Encoded) {
				t.Fatalf("Subject() = %+v, %q", d, id)
			}
		})
	}
}

// TestSignRefusesABindingToNothing: a publisher cannot sign a record whose
// sub_field names no non-empty string field.
func TestSignRefusesABindingToNothing(t *testing.T) {
	s := keys.NewLocalSigner("tax-record#1", taxKey)
	tests := []struct {
		name    string
		field   string
		fields  map[string]any
		wantErr error
	}{
		{"absent field", "resident_id", nineFields(), ErrNoSubjectBinding},
		{"number field", "tax_year", nineFields(), ErrNoSubjectBinding},
		{"empty string", "subject_id", map[string]any{"subject_id": ""}, ErrNoSubjectBinding},
		{"reserved name", "iss", nineFields(), ErrNoSubjectBinding},
		{"fine", "subject_id", nineFields(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims
			c.SubjectField = tt.field
			_, err := Sign(context.Background(), s, c, tt.fields)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Sign err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// joseRecord signs payload with go-jose, as another issuer would, and
// appends the disclosures.
func joseRecord(t *testing.T, payload map[string]any, discs ...string) string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: taxKey},
		(&jose.SignerOptions{}).WithType(Type).WithHeader(jose.HeaderKey("kid"), "tax-record#1"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return c + "~" + strings.Join(discs, "~") + "~"
}

// TestSubjectFieldClaim: a sub_field claim must be a non-empty string that
// is not a reserved name; a go-jose record that carries a good one binds.
func TestSubjectFieldClaim(t *testing.T) {
	disc := base64.RawURLEncoding.EncodeToString([]byte(`["c2FsdHNhbHRzYWx0c2FsdA","subject_id","` + subjectID + `"]`))
	base := func(subF any) map[string]any {
		p := map[string]any{"iss": "tax-bureau", "dataset": "tax-certificate", "schema": "tax-certificate/v1",
			"jti": "rec-0001", "iat": 1750000000, "op": "upsert", "_sd": []string{rfcDigest(disc)}}
		if subF != nil {
			p["sub_field"] = subF
		}
		return p
	}
	tests := []struct {
		name    string
		subF    any
		wantErr error
	}{
		{"good", "subject_id", nil},
		{"empty", "", ErrMalformed},
		{"reserved", "jti", ErrMalformed},
		{"not a string", 7, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Verify(joseRecord(t, base(tt.subF), disc), testDirectory(t))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if _, id, err := rec.Subject(); err != nil || id != subjectID {
				t.Fatalf("Subject() = %q, %v", id, err)
			}
		})
	}
}

// TestInteropBindingReadByGoJOSE: the binding needs nothing but RFC 9901
// processing: go-jose verifies the JWT, sub_field is a plain claim, and the
// disclosure it names is found by its digest in _sd.
func TestInteropBindingReadByGoJOSE(t *testing.T) {
	compact, err := Sign(context.Background(), keys.NewLocalSigner("tax-record#1", taxKey), boundClaims(), nineFields())
	if err != nil {
		t.Fatal(err)
	}
	pieces := strings.Split(compact, "~")
	jws, err := jose.ParseSignedCompact(pieces[0], []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(taxKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		SubField string   `json:"sub_field"`
		SD       []string `json:"_sd"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.SubField != "subject_id" {
		t.Fatalf("sub_field = %q", claims.SubField)
	}
	var found string
	for _, enc := range pieces[1 : len(pieces)-1] {
		raw, _ := base64.RawURLEncoding.DecodeString(enc)
		var arr []any
		if err := json.Unmarshal(raw, &arr); err != nil {
			t.Fatal(err)
		}
		if arr[1] == claims.SubField {
			for _, d := range claims.SD {
				if d == rfcDigest(enc) {
					found, _ = arr[2].(string)
				}
			}
		}
	}
	if found != subjectID {
		t.Fatalf("subject by RFC processing = %q, want %s", found, subjectID)
	}
}
