package keys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// seedKey makes a deterministic key so tests compare whole outputs.
func seedKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b
	}
	return ed25519.NewKeyFromSeed(seed)
}

func TestPrivateJWKRoundTrip(t *testing.T) {
	k := seedKey(1)
	data, err := MarshalPrivateJWK("pub-tax#1", k)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kty":"OKP","crv":"Ed25519","x":"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w","d":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","kid":"pub-tax#1","alg":"EdDSA","use":"sig"}`
	if string(data) != want {
		t.Fatalf("MarshalPrivateJWK =\n%s\nwant\n%s", data, want)
	}
	kid, got, err := ParsePrivateJWK(data)
	if err != nil || kid != "pub-tax#1" || !got.Equal(k) {
		t.Fatalf("ParsePrivateJWK = %q, %v, %v", kid, got, err)
	}
	pub, err := MarshalPublicJWK("pub-tax#1", k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	kid, gotPub, err := ParsePublicJWK(pub)
	if err != nil || kid != "pub-tax#1" || !gotPub.Equal(k.Public()) {
		t.Fatalf("ParsePublicJWK = %q, %v, %v", kid, gotPub, err)
	}
}

func TestParseJWKErrors(t *testing.T) {
	x := base64.RawURLEncoding.EncodeToString(seedKey(1).Public().(ed25519.PublicKey))
	d := base64.RawURLEncoding.EncodeToString(seedKey(1).Seed())
	otherD := base64.RawURLEncoding.EncodeToString(seedKey(2).Seed())
	tests := []struct {
		name    string
		private bool
		data    string
		wantErr error
	}{
		{"x does not match d", true, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":"` + x + `","d":"` + otherD + `"}`, ErrBadJWK},
		{"no d", true, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":"` + x + `"}`, ErrBadJWK},
		{"no kid", true, `{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + d + `"}`, ErrBadJWK},
		{"X25519 key", false, `{"kty":"OKP","crv":"X25519","kid":"a#1","x":"` + x + `"}`, ErrBadJWK},
		{"EC key", false, `{"kty":"EC","crv":"P-256","kid":"a#1","x":"` + x + `","y":"` + x + `"}`, ErrBadJWK},
		{"alg RS256", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","alg":"RS256","x":"` + x + `"}`, ErrBadJWK},
		{"unknown member", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":"` + x + `","x5u":"https://evil"}`, ErrBadJWK},
		{"case-variant member", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","X":"` + x + `"}`, ErrBadJWK},
		{"duplicate member", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":"` + x + `","x":"` + x + `"}`, jsonstrict.ErrDuplicateKey},
		{"public with d", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":"` + x + `","d":"` + d + `"}`, ErrBadJWK},
		{"short x", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":"AAAA"}`, ErrBadJWK},
		{"padded x", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":"` + x + `="}`, ErrBadJWK},
		{"x not a string", false, `{"kty":"OKP","crv":"Ed25519","kid":"a#1","x":5}`, ErrBadJWK},
		{"not an object", false, `[1]`, ErrBadJWK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.private {
				_, _, err = ParsePrivateJWK([]byte(tt.data))
			} else {
				_, _, err = ParsePublicJWK([]byte(tt.data))
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func testDirectory(t *testing.T) *Directory {
	t.Helper()
	d := NewDirectory()
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, k := range []PublicKey{
		{KID: "tax-record#2", Owner: "tax-bureau", Use: UseRecord, Key: seedKey(2).Public().(ed25519.PublicKey), Status: Active, Created: created},
		{KID: "tax-record#1", Owner: "tax-bureau", Use: UseRecord, Key: seedKey(1).Public().(ed25519.PublicKey), Status: Retired, Created: created},
		{KID: "exchange-token#1", Owner: OwnerExchange, Use: UseToken, Key: seedKey(3).Public().(ed25519.PublicKey), Status: Active, Created: created},
	} {
		if err := d.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestDirectory(t *testing.T) {
	d := testDirectory(t)
	if err := d.Add(PublicKey{KID: "tax-record#1", Owner: "x", Use: UseRecord, Key: seedKey(9).Public().(ed25519.PublicKey), Status: Active}); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("Add duplicate = %v, want ErrDuplicateKey", err)
	}
	if err := d.Add(PublicKey{KID: "k#1", Owner: "x", Use: "hmac", Key: seedKey(9).Public().(ed25519.PublicKey), Status: Active}); !errors.Is(err, ErrBadJWK) {
		t.Fatalf("Add bad use = %v, want ErrBadJWK", err)
	}
	revokedAt := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	if err := d.SetStatus("tax-record#1", Revoked, revokedAt); err != nil {
		t.Fatal(err)
	}
	if err := d.SetStatus("tax-record#1", Active, time.Time{}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("un-revoke = %v, want ErrRevoked", err)
	}
	if err := d.SetStatus("nope#1", Retired, time.Time{}); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("SetStatus unknown = %v, want ErrUnknownKey", err)
	}
	if _, err := d.PublicKey("nope#1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("PublicKey unknown = %v", err)
	}
	var kids []string
	for _, k := range d.All() {
		kids = append(kids, k.Owner+"/"+k.KID)
	}
	if want := []string{"exchange/exchange-token#1", "tax-bureau/tax-record#1", "tax-bureau/tax-record#2"}; !reflect.DeepEqual(kids, want) {
		t.Fatalf("All order = %v, want %v", kids, want)
	}

	jwks, err := d.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keys":[` +
		`{"kty":"OKP","crv":"Ed25519","x":"7UkoxijRwsbq6QM4kFmVYSlZJzpcY_k2NsFGFKyHN9E","kid":"exchange-token#1","alg":"EdDSA","use":"sig","owner":"exchange","key_use":"token","status":"active","created":"2025-01-02T03:04:05Z"},` +
		`{"kty":"OKP","crv":"Ed25519","x":"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w","kid":"tax-record#1","alg":"EdDSA","use":"sig","owner":"tax-bureau","key_use":"record","status":"revoked","created":"2025-01-02T03:04:05Z","revoked_at":"2025-02-01T00:00:00Z"},` +
		`{"kty":"OKP","crv":"Ed25519","x":"gTl3Dqh9F19Wo1Rmw0x-zMuNipG07jeiXfYPW4_Js5Q","kid":"tax-record#2","alg":"EdDSA","use":"sig","owner":"tax-bureau","key_use":"record","status":"active","created":"2025-01-02T03:04:05Z"}]}`
	if string(jwks) != want {
		t.Fatalf("JWKS =\n%s\nwant\n%s", jwks, want)
	}
	back, err := ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d.All()) {
		t.Fatalf("ParseJWKS(JWKS()) =\n%+v\nwant\n%+v", back, d.All())
	}
}

func TestParseJWKSErrors(t *testing.T) {
	x := base64.RawURLEncoding.EncodeToString(seedKey(1).Public().(ed25519.PublicKey))
	key := func(extra string) string {
		return `{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"a#1","owner":"o","key_use":"record","status":"active"` + extra + `}`
	}
	tests := []struct {
		name, data string
		wantErr    error
	}{
		{"extra top-level member", `{"keys":[],"more":1}`, ErrBadJWK},
		{"keys not an array", `{"keys":{}}`, ErrBadJWK},
		{"RSA key", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"a#1"}]}`, ErrBadJWK},
		{"private key in set", `{"keys":[` + key(`,"d":"`+x+`"`) + `]}`, ErrBadJWK},
		{"revoked without time", `{"keys":[` + strings.Replace(key(""), "active", "revoked", 1) + `]}`, ErrBadJWK},
		{"revoked_at on active", `{"keys":[` + key(`,"revoked_at":"2025-01-01T00:00:00Z"`) + `]}`, ErrBadJWK},
		{"unknown status", `{"keys":[` + strings.Replace(key(""), "active", "dormant", 1) + `]}`, ErrBadJWK},
		{"no owner", `{"keys":[` + strings.Replace(key(""), `"owner":"o",`, "", 1) + `]}`, ErrBadJWK},
		{"kid twice", `{"keys":[` + key("") + `,` + key("") + `]}`, ErrDuplicateKey},
		{"case-variant keys", `{"keys":[],"Keys":[]}`, jsonstrict.ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseJWKS([]byte(tt.data)); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	st := OpenFileStore(dir)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenFileStore touched the disk: %v", err)
	}
	s, err := st.Signer("tax-record", "tax-bureau", UseRecord)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != "tax-record#1" {
		t.Fatalf("KeyID = %q", s.KeyID())
	}
	for path, want := range map[string]os.FileMode{dir + "/tax-record": 0o700 | os.ModeDir, dir + "/tax-record/1.jwk": 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode() != want {
			t.Fatalf("%s mode = %v (%v), want %v", path, fi.Mode(), err, want)
		}
	}
	if _, err := st.Signer("tax-record", "tax-bureau", UseAuth); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("same key as auth = %v, want ErrKeyMismatch", err)
	}
	if _, err := st.Signer("tax-record", "police", UseRecord); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("same key other owner = %v, want ErrKeyMismatch", err)
	}
	if _, err := st.Signer("../etc", "x", UseRecord); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("path traversal name = %v, want ErrUnknownKey", err)
	}

	// Sign with v1, rotate: v1's signature still verifies with v1, but v1
	// signs nothing new (ErrRetired), and SignJWT, whose header named v1
	// just before the rotation, signs with v2 instead.
	kid1 := s.KeyID()
	msg := []byte("signing input")
	sig1, err := s.Sign(ctx, kid1, msg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := st.Rotate("tax-record")
	if err != nil {
		t.Fatal(err)
	}
	if pub.KID != "tax-record#2" || pub.Status != Active || s.KeyID() != "tax-record#2" {
		t.Fatalf("after Rotate: %+v, KeyID %q", pub, s.KeyID())
	}
	vs, err := st.Versions("tax-record")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Status != Retired || vs[1].Status != Active {
		t.Fatalf("Versions = %+v", vs)
	}
	if !ed25519.Verify(vs[0].Key, msg, sig1) {
		t.Fatal("a signature made by v1 before the rotation does not verify with v1")
	}
	if sig, err := s.Sign(ctx, kid1, msg); !errors.Is(err, ErrRetired) {
		t.Fatalf("Sign with the retired %s = %x, %v; want ErrRetired", kid1, sig, err)
	}
	if _, _, err := s.(BatchSigner).SignBatch(ctx, kid1, [][]byte{msg}); !errors.Is(err, ErrRetired) {
		t.Fatalf("SignBatch with the retired %s = %v; want ErrRetired", kid1, err)
	}
	stale := &staleKID{Signer: s, kid: kid1}
	tok, err := SignJWT(ctx, stale, "test+jwt", jwt.MapClaims{"x": 1})
	if err != nil {
		t.Fatalf("SignJWT across a rotation: %v", err)
	}
	if h, _ := DecodeHeader(tok); h.Kid != "tax-record#2" {
		t.Fatalf("SignJWT across a rotation signed with %q, want tax-record#2", h.Kid)
	}
	stale = &staleKID{Signer: s, kid: kid1}
	toks, errs, err := SignJWTBatch(ctx, stale, "test+jwt", []jwt.Claims{jwt.MapClaims{"x": 1}})
	if err != nil || errs[0] != nil {
		t.Fatalf("SignJWTBatch across a rotation: %v %v", err, errs)
	}
	if h, _ := DecodeHeader(toks[0]); h.Kid != "tax-record#2" {
		t.Fatalf("SignJWTBatch across a rotation signed with %q, want tax-record#2", h.Kid)
	}

	// Batch signing through the BatchSigner capability.
	sigs, errs, err := s.(BatchSigner).SignBatch(ctx, "tax-record#2", [][]byte{[]byte("a"), []byte("b")})
	if err != nil || errs[0] != nil || errs[1] != nil || !ed25519.Verify(vs[1].Key, []byte("b"), sigs[1]) {
		t.Fatalf("SignBatch = %v %v", errs, err)
	}

	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := st.Revoke("tax-record#1", at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(ctx, "tax-record#1", msg); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Sign with revoked = %v, want ErrRevoked", err)
	}
	if _, err := s.Sign(ctx, "tax-record#3", msg); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Sign with unknown version = %v, want ErrUnknownKey", err)
	}
	if _, err := s.Sign(ctx, "other#1", msg); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Sign with another key = %v, want ErrUnknownKey", err)
	}

	h, err := st.HMACer("pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	mac1, _ := h.HMAC(ctx, []byte("110101199003074578"))
	if _, err := st.Signer("pseudonym", "exchange", UseRecord); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("HMAC key as signer = %v, want ErrKeyMismatch", err)
	}

	// A second store over the same folder sees the same keys and states.
	st2 := OpenFileStore(dir)
	vs2, err := st2.Versions("tax-record")
	if err != nil {
		t.Fatal(err)
	}
	vs[0].Status, vs[0].RevokedAt = Revoked, at
	if !reflect.DeepEqual(vs2, vs) {
		t.Fatalf("reopened Versions =\n%+v\nwant\n%+v", vs2, vs)
	}
	h2, err := st2.HMACer("pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	mac2, _ := h2.HMAC(ctx, []byte("110101199003074578"))
	if !hmac.Equal(mac1, mac2) || len(mac1) != 32 {
		t.Fatal("HMAC key not stable across reopen")
	}
	all, err := st2.PublicKeys()
	if err != nil || !reflect.DeepEqual(all, vs) {
		t.Fatalf("PublicKeys = %+v, %v", all, err)
	}
	// A version file is a private JWK a connector can load.
	data, err := os.ReadFile(dir + "/tax-record/2.jwk")
	if err != nil {
		t.Fatal(err)
	}
	if kid, k, err := ParsePrivateJWK(data); err != nil || kid != "tax-record#2" || !k.Public().(ed25519.PublicKey).Equal(vs[1].Key) {
		t.Fatalf("ParsePrivateJWK(version file) = %q, %v", kid, err)
	}
}

func TestFileStoreConcurrent(t *testing.T) {
	st := OpenFileStore(t.TempDir())
	var wg sync.WaitGroup
	kids := make([]string, 8)
	for i := range kids {
		wg.Go(func() {
			s, err := st.Signer("shared", "exchange", UseAudit)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = s.KeyID()
		})
	}
	wg.Wait()
	for _, k := range kids {
		if k != "shared#1" {
			t.Fatalf("kids = %v: a key was made twice", kids)
		}
	}
}

type claims struct {
	jwt.RegisteredClaims
}

// craft builds a compact JWS from raw header and payload JSON, signed by
// sign over the signing input.
func craft(header, payload string, sign func([]byte) []byte) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func TestParseJWT(t *testing.T) {
	ctx := context.Background()
	d := testDirectory(t)
	tokenKey := seedKey(3)
	recordKey := seedKey(2)
	if err := d.Add(PublicKey{KID: "revoked#1", Owner: "x", Use: UseToken, Key: seedKey(4).Public().(ed25519.PublicKey), Status: Revoked, RevokedAt: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_750_000_000, 0)
	good := jwt.RegisteredClaims{Issuer: "onevisit", ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}
	tok, err := SignJWT(ctx, NewLocalSigner("exchange-token#1", tokenKey), "at+jwt", &claims{good})
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"iss":"onevisit","exp":` + jsonNum(now.Add(time.Minute).Unix()) + `}`
	edSign := func(k ed25519.PrivateKey) func([]byte) []byte {
		return func(in []byte) []byte { return ed25519.Sign(k, in) }
	}
	pubBytes := []byte(tokenKey.Public().(ed25519.PublicKey))
	hsSign := func(in []byte) []byte { m := hmac.New(sha256.New, pubBytes); m.Write(in); return m.Sum(nil) }
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsSign := func(in []byte) []byte {
		h := sha256.Sum256(in)
		s, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, h[:])
		return s
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	parts := strings.Split(tok, ".")
	tests := []struct {
		name    string
		token   string
		typ     string
		use     Use
		wantErr error
	}{
		{"good", tok, "at+jwt", UseToken, nil},
		{"typ with application/ prefix", craft(`{"alg":"EdDSA","kid":"exchange-token#1","typ":"application/AT+JWT"}`, payload, edSign(tokenKey)), "at+jwt", UseToken, nil},
		{"alg none", craft(`{"alg":"none","kid":"exchange-token#1","typ":"at+jwt"}`, payload, func([]byte) []byte { return nil }), "at+jwt", UseToken, ErrAlgorithm},
		{"HS256 with the public key as secret", craft(`{"alg":"HS256","kid":"exchange-token#1","typ":"at+jwt"}`, payload, hsSign), "at+jwt", UseToken, ErrAlgorithm},
		{"RS256", craft(`{"alg":"RS256","kid":"exchange-token#1","typ":"at+jwt"}`, payload, rsSign), "at+jwt", UseToken, ErrAlgorithm},
		{"wrong typ", tok, "JWT", UseToken, ErrBadType},
		{"no typ", craft(`{"alg":"EdDSA","kid":"exchange-token#1"}`, payload, edSign(tokenKey)), "at+jwt", UseToken, ErrBadType},
		{"wrong use", tok, "at+jwt", UseAuth, ErrWrongUse},
		{"record key for a token", craft(`{"alg":"EdDSA","kid":"tax-record#2","typ":"at+jwt"}`, payload, edSign(recordKey)), "at+jwt", UseToken, ErrWrongUse},
		{"unknown kid", craft(`{"alg":"EdDSA","kid":"ghost#1","typ":"at+jwt"}`, payload, edSign(tokenKey)), "at+jwt", UseToken, ErrUnknownKey},
		{"no kid", craft(`{"alg":"EdDSA","typ":"at+jwt"}`, payload, edSign(tokenKey)), "at+jwt", UseToken, ErrMalformedJWT},
		{"revoked key", craft(`{"alg":"EdDSA","kid":"revoked#1","typ":"at+jwt"}`, payload, edSign(seedKey(4))), "at+jwt", UseToken, ErrRevoked},
		{"signed by another key", craft(`{"alg":"EdDSA","kid":"exchange-token#1","typ":"at+jwt"}`, payload, edSign(recordKey)), "at+jwt", UseToken, ErrBadSignature},
		{"payload bit flip", parts[0] + "." + flipBit(parts[1], "onevisit", "onevisiu") + "." + parts[2], "at+jwt", UseToken, ErrBadSignature},
		{"signature bit flip", parts[0] + "." + parts[1] + "." + flip(parts[2], 10), "at+jwt", UseToken, ErrBadSignature},
		{"non-canonical signature base64", parts[0] + "." + parts[1] + "." + parts[2][:85] + string(rune(parts[2][85]+1)), "at+jwt", UseToken, ErrMalformedJWT},
		{"jku header", craft(`{"alg":"EdDSA","kid":"exchange-token#1","typ":"at+jwt","jku":"https://evil/jwks"}`, payload, edSign(tokenKey)), "at+jwt", UseToken, ErrMalformedJWT},
		{"duplicate alg", craft(`{"alg":"none","alg":"EdDSA","kid":"exchange-token#1","typ":"at+jwt"}`, payload, edSign(tokenKey)), "at+jwt", UseToken, jsonstrict.ErrDuplicateKey},
		{"case-variant alg", craft(`{"ALG":"none","alg":"EdDSA","kid":"exchange-token#1","typ":"at+jwt"}`, payload, edSign(tokenKey)), "at+jwt", UseToken, jsonstrict.ErrDuplicateKey},
		{"expired", craft(`{"alg":"EdDSA","kid":"exchange-token#1","typ":"at+jwt"}`, `{"exp":1}`, edSign(tokenKey)), "at+jwt", UseToken, jwt.ErrTokenExpired},
		{"two parts", parts[0] + "." + parts[1], "at+jwt", UseToken, ErrMalformedJWT},
		{"garbage", "garbage", "at+jwt", UseToken, ErrMalformedJWT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c claims
			pk, err := ParseJWT(tt.token, d, tt.use, tt.typ, &c, jwt.WithTimeFunc(func() time.Time { return now }))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (pk.KID != "exchange-token#1" || c.Issuer != "onevisit") {
				t.Fatalf("got key %q, iss %q", pk.KID, c.Issuer)
			}
		})
	}
}

func jsonNum(n int64) string { return strconv.FormatInt(n, 10) }

func TestSignJWTBatch(t *testing.T) {
	ctx := context.Background()
	d := testDirectory(t)
	// localSigner implements BatchSigner; onlySigner hides it.
	for _, s := range []Signer{NewLocalSigner("exchange-token#1", seedKey(3)), onlySigner{NewLocalSigner("exchange-token#1", seedKey(3))}} {
		toks, errs, err := SignJWTBatch(ctx, s, "at+jwt", []jwt.Claims{
			&claims{jwt.RegisteredClaims{ID: "a"}}, &claims{jwt.RegisteredClaims{ID: "b"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"a", "b"} {
			var c claims
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if _, err := ParseJWT(toks[i], d, UseToken, "at+jwt", &c); err != nil || c.ID != id {
				t.Fatalf("token %d: %v, id %q", i, err, c.ID)
			}
		}
	}
	if _, err := SignJWT(ctx, NewLocalSigner("k#1", seedKey(3)), "", &claims{}); !errors.Is(err, ErrMalformedJWT) {
		t.Fatalf("empty typ = %v", err)
	}
}

// flipBit changes one bit of a base64url segment's decoded content by
// replacing from with to (which differ in one bit), keeping it valid JSON.
func flipBit(seg, from, to string) string {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || !strings.Contains(string(b), from) {
		panic("flipBit: " + from + " not in segment")
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(b), from, to, 1)))
}

type onlySigner struct{ Signer }

func TestAcceptedBefore(t *testing.T) {
	d := testDirectory(t)
	revokedAt := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	if err := d.SetStatus("tax-record#2", Revoked, revokedAt); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		acceptedAt time.Time
		want       Status
	}{
		{"accepted before revocation", revokedAt.Add(-time.Second), Retired},
		{"accepted at revocation", revokedAt, Revoked},
		{"accepted after revocation", revokedAt.Add(time.Hour), Revoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := AcceptedBefore(d, tt.acceptedAt).PublicKey("tax-record#2")
			if err != nil || k.Status != tt.want {
				t.Fatalf("status = %q, %v, want %q", k.Status, err, tt.want)
			}
		})
	}
}

// staleKID is a Signer whose first KeyID answer is a kid taken just
// before a rotation, as a caller racing the rotation sees it.
type staleKID struct {
	Signer
	kid  string
	used bool
}

func (s *staleKID) KeyID() string {
	if !s.used {
		s.used = true
		return s.kid
	}
	return s.Signer.KeyID()
}
