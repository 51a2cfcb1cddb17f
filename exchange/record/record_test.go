package record

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// seedKey makes a deterministic Ed25519 key.
func seedKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b
	}
	return ed25519.NewKeyFromSeed(seed)
}

var (
	taxKey    = seedKey(1) // tax-record#1, the tax bureau's record key
	policeKey = seedKey(2) // police-record#1, another department's record key
	taxAuth   = seedKey(3) // tax-auth#1, the tax bureau's auth key
	oldKey    = seedKey(4) // tax-record#0, revoked
)

func testDirectory(tb testing.TB) *keys.Directory {
	tb.Helper()
	d := keys.NewDirectory()
	for _, k := range []keys.PublicKey{
		{KID: "tax-record#1", Owner: "tax-bureau", Use: keys.UseRecord, Key: taxKey.Public().(ed25519.PublicKey), Status: keys.Active},
		{KID: "police-record#1", Owner: "police", Use: keys.UseRecord, Key: policeKey.Public().(ed25519.PublicKey), Status: keys.Active},
		{KID: "tax-auth#1", Owner: "tax-bureau", Use: keys.UseAuth, Key: taxAuth.Public().(ed25519.PublicKey), Status: keys.Active},
		{KID: "tax-record#0", Owner: "tax-bureau", Use: keys.UseRecord, Key: oldKey.Public().(ed25519.PublicKey), Status: keys.Revoked, RevokedAt: time.Unix(1_700_000_000, 0)},
	} {
		if err := d.Add(k); err != nil {
			tb.Fatal(err)
		}
	}
	return d
}

var testClaims = Claims{
	Issuer: "tax-bureau", Dataset: "tax-certificate", Schema: "tax-certificate/v1",
	ID: "rec-0001", IssuedAt: time.Unix(1_750_000_000, 0).UTC(), Op: Upsert,
}

// nineFields is a typical record body.
func nineFields() map[string]any {
	return map[string]any{
		"subject_id":      "110101199003074578",
		"name":            "张三",
		"tax_year":        2024,
		"taxable_income":  "183000.00",
		"tax_paid":        "21300.50",
		"arrears":         false,
		"certificate_no":  "TAX-2025-000123",
		"office":          map[string]any{"code": "330100", "name": "杭州市税务局"},
		"withholding_ids": []any{"91330100MA27XYZ12X", "91330100MA27XYZ34Y"},
	}
}

// wantFields is nineFields as Verify decodes it (numbers as json.Number).
func wantFields() map[string]any {
	f := nineFields()
	f["tax_year"] = json.Number("2024")
	return f
}

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	d := testDirectory(t)
	compact, err := Sign(ctx, keys.NewLocalSigner("tax-record#1", taxKey), testClaims, nineFields())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(compact, "~") || strings.Count(compact, "~") != 10 {
		t.Fatalf("record form: %q", compact)
	}
	rec, err := Verify(compact, d)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Claims != testClaims || rec.KID != "tax-record#1" || rec.Key.Owner != "tax-bureau" {
		t.Fatalf("claims = %+v, kid %q, key owner %q", rec.Claims, rec.KID, rec.Key.Owner)
	}
	if got := rec.Fields(); !reflect.DeepEqual(got, wantFields()) {
		t.Fatalf("Fields =\n%#v\nwant\n%#v", got, wantFields())
	}
	if v, ok := rec.Field("name"); !ok || v != "张三" {
		t.Fatalf("Field(name) = %v, %v", v, ok)
	}
	if _, ok := rec.Field("absent"); ok {
		t.Fatal("Field(absent) found")
	}
	// The header is exactly the profile.
	h, err := keys.DecodeHeader(rec.JWT)
	if err != nil || h != (keys.Header{Alg: "EdDSA", Kid: "tax-record#1", Typ: Type}) {
		t.Fatalf("header = %+v, %v", h, err)
	}
	// Parse gives the same record, without the key.
	parsed, err := Parse(compact)
	if err != nil {
		t.Fatal(err)
	}
	rec.Key = keys.PublicKey{}
	if !reflect.DeepEqual(parsed, rec) {
		t.Fatalf("Parse =\n%+v\nVerify =\n%+v", parsed, rec)
	}
	// Salts are 128 random bits; _sd is sorted.
	for _, disc := range parsed.Disclosures {
		if salt, err := base64.RawURLEncoding.DecodeString(disc.Salt); err != nil || len(salt) != 16 {
			t.Fatalf("salt %q is not 128 bits", disc.Salt)
		}
	}
	var p struct {
		SD []string `json:"_sd"`
	}
	body, _ := base64.RawURLEncoding.DecodeString(strings.Split(parsed.JWT, ".")[1])
	if err := json.Unmarshal(body, &p); err != nil || len(p.SD) != 9 || !sortedStrings(p.SD) {
		t.Fatalf("_sd = %v, %v", p.SD, err)
	}
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}

func TestProject(t *testing.T) {
	d := testDirectory(t)
	compact, err := Sign(context.Background(), keys.NewLocalSigner("tax-record#1", taxKey), testClaims, nineFields())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Verify(compact, d)
	if err != nil {
		t.Fatal(err)
	}
	proj := rec.Project([]string{"tax_year", "arrears", "not-a-field"})
	// Same JWT, the kept disclosures byte for byte, trailing ~.
	want := rec.JWT + "~"
	for _, disc := range rec.Disclosures {
		if disc.Name == "tax_year" || disc.Name == "arrears" {
			want += disc.Encoded + "~"
		}
	}
	if proj != want {
		t.Fatalf("Project =\n%s\nwant\n%s", proj, want)
	}
	got, err := Verify(proj, d)
	if err != nil {
		t.Fatal(err)
	}
	if f := got.Fields(); !reflect.DeepEqual(f, map[string]any{"tax_year": json.Number("2024"), "arrears": false}) {
		t.Fatalf("projected fields = %v", f)
	}
	if none := rec.Project(nil); none != rec.JWT+"~" {
		t.Fatalf("Project(nil) = %q", none)
	}
	if _, err := Verify(rec.Project(nil), d); err != nil {
		t.Fatalf("empty projection does not verify: %v", err)
	}
}

// TestRFC9901KnownAnswers uses the examples published in RFC 9901
// (§4.2.1 object property, §4.2.2 array element, §5.1 given_name).
func TestRFC9901KnownAnswers(t *testing.T) {
	tests := []struct {
		name, encoded, digest string
		salt, field           string
		value                 any
		wantErr               error
	}{
		{"family_name Möbius", "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
			"X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0", "_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius", nil},
		{"given_name John", "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd",
			"jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4", "2GLC42sKQveCfGfryNRN9w", "given_name", "John", nil},
		{"array element FR", "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0",
			"w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs", "", "", nil, ErrBadDisclosure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Digest(tt.encoded); got != tt.digest {
				t.Fatalf("Digest = %q, want %q", got, tt.digest)
			}
			d := Disclosure{Encoded: tt.encoded}
			err := decodeDisclosure(&d)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("decode err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (d.Salt != tt.salt || d.Name != tt.field || d.Value != tt.value) {
				t.Fatalf("decoded %+v", d)
			}
		})
	}
}

// --- crafted records, for the error table and interop ---

var b64e = base64.RawURLEncoding

func disc(salt, name, valueJSON string) string {
	return b64e.EncodeToString([]byte(`["` + salt + `", "` + name + `", ` + valueJSON + `]`))
}

func sdList(discs ...string) string {
	var ds []string
	for _, d := range discs {
		ds = append(ds, `"`+Digest(d)+`"`)
	}
	return "[" + strings.Join(ds, ",") + "]"
}

// payloadJSON is a valid payload with _sd listing sd, plus extra members.
func payloadJSON(sd, extra string) string {
	return `{"iss":"tax-bureau","dataset":"tax-certificate","schema":"tax-certificate/v1","jti":"rec-0001","iat":1750000000,"op":"upsert","_sd":` + sd + extra + `}`
}

func craft(header, payload string, sign func([]byte) []byte, discs ...string) string {
	in := b64e.EncodeToString([]byte(header)) + "." + b64e.EncodeToString([]byte(payload))
	out := in + "." + b64e.EncodeToString(sign([]byte(in))) + "~"
	for _, d := range discs {
		out += d + "~"
	}
	return out
}

func edSign(k ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(k, in) }
}

const taxHeader = `{"alg":"EdDSA","kid":"tax-record#1","typ":"onevisit+sd-jwt"}`

func TestVerifyErrors(t *testing.T) {
	d := testDirectory(t)
	d1 := disc("c2FsdHNhbHRzYWx0c2FsdA", "name", `"张三"`)
	d2 := disc("b3RoZXJzYWx0b3RoZXJzYQ", "tax_year", `2024`)
	d2bis := disc("dGhpcmRzYWx0dGhpcmRzYQ", "tax_year", `2025`)
	good := craft(taxHeader, payloadJSON(sdList(d1, d2), ""), edSign(taxKey), d1, d2)
	if _, err := Verify(good, d); err != nil {
		t.Fatalf("baseline record rejected: %v", err)
	}
	jwtPart, _, _ := strings.Cut(good, "~")
	parts := strings.Split(jwtPart, ".")
	payloadBytes, _ := b64e.DecodeString(parts[1])
	flipped := []byte(payloadBytes)
	flipped[strings.Index(string(flipped), "rec-0001")+7] ^= 0x01 // rec-0001 -> rec-0000
	sigBytes, _ := b64e.DecodeString(parts[2])
	sigBytes[5] ^= 0x01
	pubBytes := []byte(taxKey.Public().(ed25519.PublicKey))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		record  string
		wantErr []error
	}{
		{"payload bit flip", parts[0] + "." + b64e.EncodeToString(flipped) + "." + parts[2] + "~" + d1 + "~" + d2 + "~", []error{ErrBadSignature, keys.ErrBadSignature}},
		{"signature bit flip", parts[0] + "." + parts[1] + "." + b64e.EncodeToString(sigBytes) + "~" + d1 + "~" + d2 + "~", []error{ErrBadSignature}},
		{"another department's key", craft(`{"alg":"EdDSA","kid":"police-record#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(policeKey), d1), []error{ErrWrongIssuerKey}},
		{"issuer's auth key", craft(`{"alg":"EdDSA","kid":"tax-auth#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(taxAuth), d1), []error{ErrWrongIssuerKey, keys.ErrWrongUse}},
		{"unknown kid", craft(`{"alg":"EdDSA","kid":"tax-record#9","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(taxKey), d1), []error{ErrUnknownKey, keys.ErrUnknownKey}},
		{"revoked key", craft(`{"alg":"EdDSA","kid":"tax-record#0","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(oldKey), d1), []error{keys.ErrRevoked}},
		{"alg none", craft(`{"alg":"none","kid":"tax-record#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), func([]byte) []byte { return nil }, d1), []error{ErrAlgorithm}},
		{"HS256 with the public key as secret", craft(`{"alg":"HS256","kid":"tax-record#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), func(in []byte) []byte {
			m := hmac.New(sha256.New, pubBytes)
			m.Write(in)
			return m.Sum(nil)
		}, d1), []error{ErrAlgorithm}},
		{"RS256", craft(`{"alg":"RS256","kid":"tax-record#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), func(in []byte) []byte {
			h := sha256.Sum256(in)
			s, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, h[:])
			return s
		}, d1), []error{ErrAlgorithm}},
		{"wrong typ", craft(`{"alg":"EdDSA","kid":"tax-record#1","typ":"JWT"}`, payloadJSON(sdList(d1), ""), edSign(taxKey), d1), []error{ErrType}},
		{"typ access token", craft(`{"alg":"EdDSA","kid":"tax-record#1","typ":"at+jwt"}`, payloadJSON(sdList(d1), ""), edSign(taxKey), d1), []error{ErrType}},
		{"extra header member", craft(`{"alg":"EdDSA","kid":"tax-record#1","typ":"onevisit+sd-jwt","crit":["b64"],"b64":false}`, payloadJSON(sdList(d1), ""), edSign(taxKey), d1), []error{ErrMalformed}},
		{"tampered disclosure", parts[0] + "." + parts[1] + "." + parts[2] + "~" + disc("c2FsdHNhbHRzYWx0c2FsdA", "name", `"李四"`) + "~" + d2 + "~", []error{ErrBadDisclosure}},
		{"disclosure re-encoded with other spacing", craft(taxHeader, payloadJSON(sdList(d1), ""), edSign(taxKey), b64e.EncodeToString([]byte(`["c2FsdHNhbHRzYWx0c2FsdA","name","张三"]`))), []error{ErrBadDisclosure}},
		{"disclosure not in _sd", craft(taxHeader, payloadJSON(sdList(d1), ""), edSign(taxKey), d1, d2), []error{ErrBadDisclosure}},
		{"same disclosure twice", craft(taxHeader, payloadJSON(sdList(d1, d2), ""), edSign(taxKey), d1, d2, d1), []error{ErrDuplicateDisclosure}},
		{"two disclosures of one field", craft(taxHeader, payloadJSON(sdList(d1, d2, d2bis), ""), edSign(taxKey), d1, d2, d2bis), []error{ErrDuplicateDisclosure}},
		{"digest twice in _sd", craft(taxHeader, payloadJSON(sdList(d1, d1), ""), edSign(taxKey), d1), []error{ErrDuplicateDisclosure}},
		{"duplicate key in payload", craft(taxHeader, payloadJSON(sdList(d1), `,"iss":"police"`), edSign(taxKey), d1), []error{ErrMalformed, jsonstrict.ErrDuplicateKey}},
		{"case-variant key in payload", craft(taxHeader, payloadJSON(sdList(d1), `,"ISS":"police"`), edSign(taxKey), d1), []error{ErrMalformed, jsonstrict.ErrDuplicateKey}},
		{"case-variant claim alone", craft(taxHeader, strings.Replace(payloadJSON(sdList(d1), ""), `"jti"`, `"JTI"`, 1), edSign(taxKey), d1), []error{ErrMalformed}},
		{"duplicate key in disclosure value", craft(taxHeader, payloadJSON(sdList(disc("c2FsdA", "office", `{"code":"1","code":"2"}`)), ""), edSign(taxKey), disc("c2FsdA", "office", `{"code":"1","code":"2"}`)), []error{ErrBadDisclosure, jsonstrict.ErrDuplicateKey}},
		{"case-variant key in disclosure value", craft(taxHeader, payloadJSON(sdList(disc("c2FsdA", "office", `{"code":"1","CODE":"2"}`)), ""), edSign(taxKey), disc("c2FsdA", "office", `{"code":"1","CODE":"2"}`)), []error{ErrBadDisclosure, jsonstrict.ErrDuplicateKey}},
		{"unknown claim", craft(taxHeader, payloadJSON(sdList(d1), `,"cnf":{"jwk":{}}`), edSign(taxKey), d1), []error{ErrMalformed}},
		{"iss null", craft(taxHeader, strings.Replace(payloadJSON(sdList(d1), ""), `"tax-bureau"`, `null`, 1), edSign(taxKey), d1), []error{ErrMalformed}},
		{"iat string", craft(taxHeader, strings.Replace(payloadJSON(sdList(d1), ""), `1750000000`, `"1750000000"`, 1), edSign(taxKey), d1), []error{ErrMalformed}},
		{"missing jti", craft(taxHeader, strings.Replace(payloadJSON(sdList(d1), ""), `"jti":"rec-0001",`, ``, 1), edSign(taxKey), d1), []error{ErrMissingClaim}},
		{"unknown op", craft(taxHeader, strings.Replace(payloadJSON(sdList(d1), ""), `"upsert"`, `"merge"`, 1), edSign(taxKey), d1), []error{ErrMissingClaim}},
		{"_sd_alg sha-512", craft(taxHeader, payloadJSON(sdList(d1), `,"_sd_alg":"sha-512"`), edSign(taxKey), d1), []error{ErrAlgorithm}},
		{"_sd not an array", craft(taxHeader, payloadJSON(`"x"`, ""), edSign(taxKey)), []error{ErrMalformed}},
		{"array-element disclosure", craft(taxHeader, payloadJSON(`["w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"]`, ""), edSign(taxKey), "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"), []error{ErrBadDisclosure}},
		{"nested _sd in value", craft(taxHeader, payloadJSON(sdList(disc("c2FsdA", "office", `{"_sd":["x"]}`)), ""), edSign(taxKey), disc("c2FsdA", "office", `{"_sd":["x"]}`)), []error{ErrBadDisclosure}},
		{"nested ... in value", craft(taxHeader, payloadJSON(sdList(disc("c2FsdA", "ids", `[{"...":"x"}]`)), ""), edSign(taxKey), disc("c2FsdA", "ids", `[{"...":"x"}]`)), []error{ErrBadDisclosure}},
		{"reserved field name", craft(taxHeader, payloadJSON(sdList(disc("c2FsdA", "iss", `"police"`)), ""), edSign(taxKey), disc("c2FsdA", "iss", `"police"`)), []error{ErrBadDisclosure}},
		{"salt not a string", craft(taxHeader, payloadJSON(sdList(b64e.EncodeToString([]byte(`[1,"name","x"]`))), ""), edSign(taxKey), b64e.EncodeToString([]byte(`[1,"name","x"]`))), []error{ErrBadDisclosure}},
		{"expired", craft(taxHeader, payloadJSON(sdList(d1), `,"exp":1700000000`), edSign(taxKey), d1), []error{ErrNotValidNow}},
		{"not yet valid", craft(taxHeader, payloadJSON(sdList(d1), `,"nbf":99999999999`), edSign(taxKey), d1), []error{ErrNotValidNow}},
		{"oversized", good + strings.Repeat("A", MaxSize) + "~", []error{ErrTooLarge}},
		{"no trailing ~", strings.TrimSuffix(good, "~"), []error{ErrMalformed}},
		{"key binding JWT", good + parts[0] + "." + parts[1] + "." + parts[2], []error{ErrMalformed}},
		{"empty disclosure", jwtPart + "~~" + d1 + "~", []error{ErrMalformed}},
		{"JWT only, no ~", jwtPart, []error{ErrMalformed}},
		{"garbage", "garbage~", []error{ErrMalformed}},
		{"empty", "", []error{ErrMalformed}},
		{"only ~", "~", []error{ErrMalformed}},
	}
	// Vouched checks all Verify checks but the signature math: it refuses
	// every case above with the same errors, except the two that only the
	// signature catches (a MAC over the exact bytes does instead).
	signatureOnly := map[string]bool{"payload bit flip": true, "signature bit flip": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Verify(tt.record, d)
			if rec != nil {
				t.Errorf("Verify returned a record with error %v", err)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			rec, err = Vouched(tt.record, d)
			if signatureOnly[tt.name] {
				if err != nil {
					t.Errorf("Vouched: %v; want the record (only the signature is wrong)", err)
				}
				return
			}
			if rec != nil {
				t.Errorf("Vouched returned a record with error %v", err)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("Vouched: err = %v, want %v", err, want)
				}
			}
		})
	}
}

// TestVouchedIsVerify: on genuine records Vouched returns exactly what
// Verify returns, key included, also through keys.AcceptedBefore for a
// key revoked after acceptance.
func TestVouchedIsVerify(t *testing.T) {
	d := testDirectory(t)
	d1 := disc("c2FsdHNhbHRzYWx0c2FsdA", "name", `"张三"`)
	d2 := disc("b3RoZXJzYWx0b3RoZXJzYQ", "tax_year", `2024`)
	old := craft(`{"alg":"EdDSA","kid":"tax-record#0","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(oldKey), d1)
	for _, tc := range []struct {
		name   string
		record string
		r      keys.Resolver
	}{
		{"current key", craft(taxHeader, payloadJSON(sdList(d1, d2), `,"exp":99999999999`), edSign(taxKey), d1, d2), d},
		{"key revoked after acceptance", old, keys.AcceptedBefore(d, time.Unix(1_600_000_000, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Verify(tc.record, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Vouched(tc.record, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Vouched = %+v\nVerify  = %+v", got, want)
			}
		})
	}
}

// TestVerifyAccepts covers what other RFC 9901 issuers may send.
func TestVerifyAccepts(t *testing.T) {
	d := testDirectory(t)
	d1 := disc("c2FsdHNhbHRzYWx0c2FsdA", "name", `"张三"`)
	decoy := Digest("decoy")
	tests := []struct {
		name   string
		record string
		want   Claims
	}{
		{"decoy digests", craft(taxHeader, payloadJSON(`["`+decoy+`","`+Digest(d1)+`"]`, ""), edSign(taxKey), d1), testClaims},
		{"_sd_alg present", craft(taxHeader, payloadJSON(sdList(d1), `,"_sd_alg":"sha-256"`), edSign(taxKey), d1), testClaims},
		{"exp and nbf around now", craft(taxHeader, payloadJSON(sdList(d1), `,"exp":99999999999,"nbf":1700000000`), edSign(taxKey), d1),
			func() Claims {
				c := testClaims
				c.Expires, c.NotBefore = time.Unix(99999999999, 0).UTC(), time.Unix(1700000000, 0).UTC()
				return c
			}()},
		{"typ with application/ prefix", craft(`{"alg":"EdDSA","kid":"tax-record#1","typ":"application/onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(taxKey), d1), testClaims},
		{"no fields, no _sd", craft(taxHeader, strings.Replace(payloadJSON(`[]`, ""), `,"_sd":[]`, "", 1), edSign(taxKey)), testClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Verify(tt.record, d)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Claims != tt.want {
				t.Fatalf("claims = %+v, want %+v", rec.Claims, tt.want)
			}
		})
	}
	// A revoked key verifies a record the exchange accepted before the
	// revocation, when the caller says so.
	old := craft(`{"alg":"EdDSA","kid":"tax-record#0","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(oldKey), d1)
	if _, err := Verify(old, keys.AcceptedBefore(d, time.Unix(1_600_000_000, 0))); err != nil {
		t.Fatalf("record accepted before revocation: %v", err)
	}
}

// TestParseIsSyntaxOnly shows Parse does not check the signature but does
// check everything else.
func TestParseIsSyntaxOnly(t *testing.T) {
	d1 := disc("c2FsdHNhbHRzYWx0c2FsdA", "name", `"张三"`)
	tests := []struct {
		name    string
		record  string
		wantErr error
	}{
		{"unknown key, bad signature", craft(`{"alg":"EdDSA","kid":"nobody#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(policeKey), d1), nil},
		{"disclosure not in _sd", craft(taxHeader, payloadJSON(`[]`, ""), edSign(taxKey), d1), ErrBadDisclosure},
		{"alg HS256", craft(`{"alg":"HS256","kid":"tax-record#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(taxKey), d1), ErrAlgorithm},
		{"wrong typ", craft(`{"alg":"EdDSA","kid":"tax-record#1","typ":"JWT"}`, payloadJSON(sdList(d1), ""), edSign(taxKey), d1), ErrType},
		{"short signature", craft(taxHeader, payloadJSON(sdList(d1), ""), func([]byte) []byte { return []byte{1} }, d1), ErrMalformed},
		{"oversized", strings.Repeat("A", MaxSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.record); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	s := keys.NewLocalSigner("tax-record#1", taxKey)
	noID := testClaims
	noID.ID = ""
	badOp := testClaims
	badOp.Op = "merge"
	tests := []struct {
		name    string
		claims  Claims
		fields  map[string]any
		wantErr error
	}{
		{"reserved field", testClaims, map[string]any{"iss": "police"}, ErrBadDisclosure},
		{"_sd field", testClaims, map[string]any{"_sd": "x"}, ErrBadDisclosure},
		{"empty field name", testClaims, map[string]any{"": "x"}, ErrBadDisclosure},
		{"case-variant keys in a value", testClaims, map[string]any{"office": map[string]any{"code": 1, "Code": 2}}, jsonstrict.ErrDuplicateKey},
		{"nested _sd in a value", testClaims, map[string]any{"office": map[string]any{"_sd": []any{}}}, ErrBadDisclosure},
		{"value not JSON", testClaims, map[string]any{"f": func() {}}, ErrBadDisclosure},
		{"missing jti", noID, nil, ErrMissingClaim},
		{"unknown op", badOp, nil, ErrMissingClaim},
		{"unknown kid", testClaims, nil, keys.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer := s
			if tt.wantErr == keys.ErrUnknownKey {
				signer = wrongKID{s}
			}
			if _, err := Sign(context.Background(), signer, tt.claims, tt.fields); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// wrongKID reports a kid the signer does not hold.
type wrongKID struct{ keys.Signer }

func (wrongKID) KeyID() string { return "tax-record#7" }

// countingSigner records how the signer was called.
type countingSigner struct {
	keys.Signer
	batches int
}

func (c *countingSigner) SignBatch(ctx context.Context, kid string, msgs [][]byte) ([][]byte, []error, error) {
	c.batches++
	return c.Signer.(keys.BatchSigner).SignBatch(ctx, kid, msgs)
}

func TestSignMany(t *testing.T) {
	d := testDirectory(t)
	cs := &countingSigner{Signer: keys.NewLocalSigner("tax-record#1", taxKey)}
	second := testClaims
	second.ID, second.Op = "rec-0002", Delete
	items := []Unsigned{
		{Claims: testClaims, Fields: nineFields()},
		{Claims: testClaims, Fields: map[string]any{"iss": "bad"}},
		{Claims: second},
	}
	recs, errs, err := SignMany(context.Background(), cs, items)
	if err != nil {
		t.Fatal(err)
	}
	if cs.batches != 1 {
		t.Fatalf("SignBatch called %d times, want 1", cs.batches)
	}
	if !errors.Is(errs[1], ErrBadDisclosure) || recs[1] != "" {
		t.Fatalf("item 1: %q, %v", recs[1], errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Fatalf("item %d: %v", i, errs[i])
		}
		rec, err := Verify(recs[i], d)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if rec.Claims != items[i].Claims || len(rec.Disclosures) != len(items[i].Fields) {
			t.Fatalf("item %d: %+v", i, rec.Claims)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s := keys.NewLocalSigner("tax-record#1", taxKey)
	fields := nineFields()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(ctx, s, testClaims, fields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	d := testDirectory(b)
	compact, err := Sign(context.Background(), keys.NewLocalSigner("tax-record#1", taxKey), testClaims, nineFields())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(compact)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(compact, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the floor under BenchmarkVerify: one bare
// ed25519.Verify of the same record's signing input. Compare the two
// from the same run (the machine is shared), not across runs.
func BenchmarkEd25519Verify(b *testing.B) {
	compact, err := Sign(context.Background(), keys.NewLocalSigner("tax-record#1", taxKey), testClaims, nineFields())
	if err != nil {
		b.Fatal(err)
	}
	jwtPart, _, _ := strings.Cut(compact, "~")
	dot := strings.LastIndexByte(jwtPart, '.')
	input := []byte(jwtPart[:dot])
	sig, err := b64e.DecodeString(jwtPart[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := taxKey.Public().(ed25519.PublicKey)
	b.SetBytes(int64(len(compact)))
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// TestVerifyManyFields covers records past the size where disclose
// switches from pairwise comparison to maps (smallSet): the same checks
// must hold on both sides of it.
func TestVerifyManyFields(t *testing.T) {
	d := testDirectory(t)
	var discs []string
	for i := range 3 * smallSet {
		discs = append(discs, disc(b64e.EncodeToString([]byte{byte(i), 's', 'a', 'l', 't'}), "field_"+string(rune('a'+i%26))+string(rune('a'+i/26)), `"v"`))
	}
	other := disc("b3RoZXJzYWx0b3RoZXJzYQ", "field_aa", `"w"`) // names the same field as discs[0]
	plus := func(extra string) []string { return append(discs[:len(discs):len(discs)], extra) }
	tests := []struct {
		name    string
		record  string
		fields  int
		wantErr error
	}{
		{"all fields", craft(taxHeader, payloadJSON(sdList(discs...), ""), edSign(taxKey), discs...), len(discs), nil},
		{"a few of many digests", craft(taxHeader, payloadJSON(sdList(discs...), ""), edSign(taxKey), discs[40], discs[3]), 2, nil},
		{"many disclosures of a short _sd", craft(taxHeader, payloadJSON(sdList(discs[:3]...), ""), edSign(taxKey), discs...), 0, ErrBadDisclosure},
		{"digest twice in a long _sd", craft(taxHeader, payloadJSON(sdList(plus(discs[30])...), ""), edSign(taxKey), discs[0]), 0, ErrDuplicateDisclosure},
		{"disclosure presented twice among many", craft(taxHeader, payloadJSON(sdList(discs...), ""), edSign(taxKey), plus(discs[20])...), 0, ErrDuplicateDisclosure},
		{"two disclosures of one field among many", craft(taxHeader, payloadJSON(sdList(plus(other)...), ""), edSign(taxKey), plus(other)...), 0, ErrDuplicateDisclosure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Verify(tt.record, d)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(rec.Disclosures) != tt.fields {
				t.Fatalf("%d disclosures, want %d", len(rec.Disclosures), tt.fields)
			}
			for _, disc := range rec.Disclosures {
				if disc.Digest != Digest(disc.Encoded) || disc.Value != "v" {
					t.Fatalf("disclosure %+v", disc)
				}
			}
		})
	}
}

// BenchmarkVerifyParallel and BenchmarkEd25519VerifyParallel are the
// same pair on all cores (GOMAXPROCS goroutines): ingest's target is at
// least half the bare verify rate there too, where allocation and GC
// weigh more than on one core.
func BenchmarkVerifyParallel(b *testing.B) {
	d := testDirectory(b)
	compact, err := Sign(context.Background(), keys.NewLocalSigner("tax-record#1", taxKey), testClaims, nineFields())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(compact)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Verify(compact, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkEd25519VerifyParallel(b *testing.B) {
	compact, err := Sign(context.Background(), keys.NewLocalSigner("tax-record#1", taxKey), testClaims, nineFields())
	if err != nil {
		b.Fatal(err)
	}
	jwtPart, _, _ := strings.Cut(compact, "~")
	dot := strings.LastIndexByte(jwtPart, '.')
	input := []byte(jwtPart[:dot])
	sig, err := b64e.DecodeString(jwtPart[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := taxKey.Public().(ed25519.PublicKey)
	b.SetBytes(int64(len(compact)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !ed25519.Verify(pub, input, sig) {
				b.Error("signature does not verify")
				return
			}
		}
	})
}
