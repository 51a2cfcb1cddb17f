package record

// Interop with an independent implementation. No Go SD-JWT library could
// be fetched from the module proxy here, so the other side is go-jose/v4
// for the JWS, with the SD-JWT parts (disclosures, digests, _sd) written
// in this file from RFC 9901 directly, sharing no code with the package.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/onevisit/onevisit/exchange/keys"
)

// rfcDigest is RFC 9901 §4.2.3: base64url(SHA-256(US-ASCII(disclosure))).
func rfcDigest(disclosure string) string {
	h := sha256.New()
	h.Write([]byte(disclosure))
	return strings.TrimRight(base64.URLEncoding.EncodeToString(h.Sum(nil)), "=")
}

func TestInteropOursVerifiedByGoJOSE(t *testing.T) {
	compact, err := Sign(context.Background(), keys.NewLocalSigner("tax-record#1", taxKey), testClaims, nineFields())
	if err != nil {
		t.Fatal(err)
	}
	// RFC 9901 §4: <JWT>~<D1>~...~<Dn>~ with no key binding JWT.
	pieces := strings.Split(compact, "~")
	if pieces[len(pieces)-1] != "" {
		t.Fatal("no trailing ~")
	}
	jws, err := jose.ParseSignedCompact(pieces[0], []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.Signatures[0].Protected
	if hdr.KeyID != "tax-record#1" || hdr.Algorithm != "EdDSA" || hdr.ExtraHeaders["typ"] != Type {
		t.Fatalf("header = %+v", hdr)
	}
	payload, err := jws.Verify(taxKey.Public())
	if err != nil {
		t.Fatalf("go-jose rejects our signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	sd := map[string]bool{}
	for _, d := range claims["_sd"].([]any) {
		sd[d.(string)] = true
	}
	if claims["_sd_alg"] != "sha-256" {
		t.Fatalf("_sd_alg = %v", claims["_sd_alg"])
	}
	// Process disclosures as RFC 9901 §7.1 says, rebuilding the payload.
	got := map[string]any{}
	for _, enc := range pieces[1 : len(pieces)-1] {
		if !sd[rfcDigest(enc)] {
			t.Fatalf("digest of %q not in _sd", enc)
		}
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			t.Fatal(err)
		}
		var arr []any
		if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 3 {
			t.Fatalf("disclosure %s: %v", raw, err)
		}
		got[arr[1].(string)] = arr[2]
	}
	want := map[string]any{}
	b, _ := json.Marshal(nineFields())
	_ = json.Unmarshal(b, &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields by RFC processing =\n%v\nwant\n%v", got, want)
	}
	for name, v := range map[string]any{"iss": "tax-bureau", "dataset": "tax-certificate", "schema": "tax-certificate/v1", "jti": "rec-0001", "op": "upsert", "iat": 1.75e9} {
		if claims[name] != v {
			t.Fatalf("claim %s = %v, want %v", name, claims[name], v)
		}
	}
}

func TestInteropGoJOSERecordAccepted(t *testing.T) {
	// Disclosures the way another issuer might make them: hex salts of
	// 160 bits, pretty-printed JSON with newlines, non-ASCII unescaped.
	mk := func(name string, value any) string {
		salt := make([]byte, 20)
		if _, err := rand.Read(salt); err != nil {
			t.Fatal(err)
		}
		b, err := json.MarshalIndent([]any{hex.EncodeToString(salt), name, value}, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	discs := []string{mk("name", "Möbius"), mk("tax_year", 2024), mk("office", map[string]any{"code": "330100"})}
	sd := []string{rfcDigest("decoy-1"), rfcDigest(discs[2]), rfcDigest(discs[0]), rfcDigest("decoy-2"), rfcDigest(discs[1])}
	payload, err := json.Marshal(map[string]any{ // no _sd_alg: sha-256 by default
		"iss": "tax-bureau", "dataset": "tax-certificate", "schema": "tax-certificate/v1",
		"jti": "rec-0001", "iat": 1750000000, "op": "upsert", "_sd": sd,
	})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: taxKey},
		(&jose.SignerOptions{}).WithType(Type).WithHeader(jose.HeaderKey("kid"), "tax-record#1"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	jwsCompact, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	compact := jwsCompact + "~" + strings.Join(discs, "~") + "~"

	rec, err := Verify(compact, testDirectory(t))
	if err != nil {
		t.Fatalf("Verify rejects a go-jose record: %v", err)
	}
	if rec.Claims != testClaims {
		t.Fatalf("claims = %+v", rec.Claims)
	}
	want := map[string]any{"name": "Möbius", "tax_year": json.Number("2024"), "office": map[string]any{"code": "330100"}}
	if got := rec.Fields(); !reflect.DeepEqual(got, want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
	// And the projection of a foreign record keeps verifying.
	if _, err := Verify(rec.Project([]string{"office"}), testDirectory(t)); err != nil {
		t.Fatalf("projection of a go-jose record: %v", err)
	}
}
