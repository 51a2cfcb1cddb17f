package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
)

var b64 = base64.RawURLEncoding

// signRaw builds a compact JWS over exactly the given header and payload
// JSON, signed by s: for payloads SignCheckpoint would never produce.
func signRaw(s edSigner, header, payload string) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return in + "." + b64.EncodeToString(ed25519.Sign(s.priv, []byte(in)))
}

func testCheckpoint() Checkpoint {
	l := buildLog(sampleEntries(10))
	return l.Checkpoint("onevisit/audit", t0)
}

func mustSign(t testing.TB, s keys.Signer, c Checkpoint) string {
	t.Helper()
	tok, err := SignCheckpoint(context.Background(), s, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCheckpointRoundTrip(t *testing.T) {
	audit, _, _, dir := testKeys()
	want := testCheckpoint()
	tok := mustSign(t, audit, want)
	got, err := VerifyCheckpoint(tok, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// The header is the fixed profile; the payload carries exactly four
	// members.
	parts := strings.Split(tok, ".")
	hdr, _ := b64.DecodeString(parts[0])
	if want := `{"alg":"EdDSA","kid":"audit#1","typ":"onevisit-checkpoint+jwt"}`; string(hdr) != want {
		t.Errorf("header %s, want %s", hdr, want)
	}
	payload, _ := b64.DecodeString(parts[1])
	wantPayload := fmt.Sprintf(`{"origin":"onevisit/audit","size":10,"root":"%s","time":"2025-03-14T09:26:53.589793Z"}`,
		base64.StdEncoding.EncodeToString(want.Root))
	if string(payload) != wantPayload {
		t.Errorf("payload %s, want %s", payload, wantPayload)
	}
}

func TestSignCheckpointRefusesInvalid(t *testing.T) {
	audit, _, _, _ := testKeys()
	good := testCheckpoint()
	tests := []struct {
		name   string
		mutate func(*Checkpoint)
	}{
		{"empty origin", func(c *Checkpoint) { c.Origin = "" }},
		{"short root", func(c *Checkpoint) { c.Root = c.Root[:31] }},
		{"zero time", func(c *Checkpoint) { c.Time = time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Root = append([]byte(nil), good.Root...)
			tc.mutate(&c)
			if tok, err := SignCheckpoint(context.Background(), audit, c); err == nil {
				t.Errorf("signed %q", tok)
			}
		})
	}
	if _, err := SignCheckpoint(context.Background(), edSigner{kid: "", priv: audit.priv}, good); !errors.Is(err, keys.ErrMalformedJWT) {
		t.Errorf("empty kid: error = %v, want keys.ErrMalformedJWT", err)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	audit, record, revoked, dir := testKeys()
	cp := testCheckpoint()
	good := mustSign(t, audit, cp)
	parts := strings.Split(good, ".")
	root := base64.StdEncoding.EncodeToString(cp.Root)
	hdr := `{"alg":"EdDSA","kid":"audit#1","typ":"onevisit-checkpoint+jwt"}`
	payload := func(origin, size, root, tm string) string {
		return fmt.Sprintf(`{"origin":%s,"size":%s,"root":%s,"time":%s}`, origin, size, root, tm)
	}
	okPayload := payload(`"onevisit/audit"`, "10", `"`+root+`"`, `"2025-03-14T09:26:53.589793Z"`)
	otherTok := mustSign(t, audit, Checkpoint{Origin: "onevisit/audit", Size: 11, Root: cp.Root, Time: t0})
	hs256 := func() string {
		in := b64.EncodeToString([]byte(`{"alg":"HS256","kid":"audit#1","typ":"onevisit-checkpoint+jwt"}`)) + "." + b64.EncodeToString([]byte(okPayload))
		m := hmac.New(sha256.New, dir["audit#1"].Key)
		m.Write([]byte(in))
		return in + "." + b64.EncodeToString(m.Sum(nil))
	}()
	receipt, err := keys.SignJWT(context.Background(), audit, "onevisit-receipt+jwt", &checkpointClaims{
		Origin: "onevisit/audit", Size: 10, Root: root, Time: "2025-03-14T09:26:53.589793Z"})
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(parts[2])
	flipped[3] ^= 1

	tests := []struct {
		name    string
		token   string
		wantErr error // besides ErrBadSignature, which every failure wraps
	}{
		{"good", good, nil},
		{"raw profile", signRaw(audit, hdr, okPayload), nil},
		{"record key", mustSign(t, record, cp), keys.ErrWrongUse},
		{"revoked audit key", mustSign(t, revoked, cp), keys.ErrRevoked},
		{"unknown kid", mustSign(t, edSigner{kid: "stranger#1", priv: audit.priv}, cp), keys.ErrUnknownKey},
		{"key of another kid", mustSign(t, edSigner{kid: "audit#1", priv: record.priv}, cp), keys.ErrBadSignature},
		{"wrong typ", receipt, keys.ErrBadType},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","kid":"audit#1","typ":"onevisit-checkpoint+jwt"}`)) + "." + parts[1] + ".", keys.ErrAlgorithm},
		{"HS256 with the public key", hs256, keys.ErrAlgorithm},
		{"payload swapped", parts[0] + "." + strings.Split(otherTok, ".")[1] + "." + parts[2], keys.ErrBadSignature},
		{"signature bit flip", parts[0] + "." + parts[1] + "." + string(flipped), keys.ErrBadSignature},
		{"signature missing", parts[0] + "." + parts[1] + ".", keys.ErrBadSignature},
		{"crit header", signRaw(audit, `{"alg":"EdDSA","crit":["x"],"kid":"audit#1","typ":"onevisit-checkpoint+jwt","x":1}`, okPayload), keys.ErrMalformedJWT},
		{"duplicate size", signRaw(audit, hdr, `{"origin":"onevisit/audit","size":10,"size":11,"root":"`+root+`","time":"2025-03-14T09:26:53Z"}`), keys.ErrMalformedJWT},
		{"extra claim", signRaw(audit, hdr, `{"origin":"onevisit/audit","size":10,"root":"`+root+`","time":"2025-03-14T09:26:53Z","exp":1}`), keys.ErrMalformedJWT},
		{"negative size", signRaw(audit, hdr, payload(`"onevisit/audit"`, "-1", `"`+root+`"`, `"2025-03-14T09:26:53Z"`)), keys.ErrMalformedJWT},
		{"fractional size", signRaw(audit, hdr, payload(`"onevisit/audit"`, "1.5", `"`+root+`"`, `"2025-03-14T09:26:53Z"`)), keys.ErrMalformedJWT},
		{"empty origin", signRaw(audit, hdr, payload(`""`, "10", `"`+root+`"`, `"2025-03-14T09:26:53Z"`)), nil},
		{"short root", signRaw(audit, hdr, payload(`"onevisit/audit"`, "10", `"`+base64.StdEncoding.EncodeToString(cp.Root[:31])+`"`, `"2025-03-14T09:26:53Z"`)), nil},
		{"root not base64", signRaw(audit, hdr, payload(`"onevisit/audit"`, "10", `"!!"`, `"2025-03-14T09:26:53Z"`)), nil},
		{"time with offset", signRaw(audit, hdr, payload(`"onevisit/audit"`, "10", `"`+root+`"`, `"2025-03-14T17:26:53+08:00"`)), nil},
		{"time missing", signRaw(audit, hdr, `{"origin":"onevisit/audit","size":10,"root":"`+root+`"}`), nil},
		{"not a JWS", "checkpoint", keys.ErrMalformedJWT},
		{"empty", "", keys.ErrMalformedJWT},
		{"too large", good + strings.Repeat("A", MaxCheckpointSize), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyCheckpoint(tc.token, dir)
			if tc.name == "good" || tc.name == "raw profile" {
				if err != nil {
					t.Fatalf("VerifyCheckpoint: %v", err)
				}
				if !reflect.DeepEqual(got, cp) {
					t.Errorf("got %+v, want %+v", got, cp)
				}
				return
			}
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error = %v, want ErrBadSignature", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want it to wrap %v", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "verify checkpoint: ") {
				t.Errorf("error %q does not start with the operation", err)
			}
		})
	}
}

// fuzzSeedTokens are the checkpoint tokens kept as seeds; the first is
// valid, so the fuzzer starts from a token that verifies.
func fuzzSeedTokens(t testing.TB) []string {
	audit, record, _, _ := testKeys()
	cp := testCheckpoint()
	good := mustSign(t, audit, cp)
	parts := strings.Split(good, ".")
	return []string{
		good,
		mustSign(t, record, cp),
		parts[0] + "." + parts[1] + ".",
		b64.EncodeToString([]byte(`{"alg":"none","typ":"onevisit-checkpoint+jwt"}`)) + "." + parts[1] + ".",
		signRaw(audit, `{"alg":"EdDSA","kid":"audit#1","typ":"onevisit-checkpoint+jwt"}`, `{"origin":"o","size":1e3,"root":"","time":""}`),
	}
}

// FuzzVerifyCheckpoint: no token panics; one that verifies is exactly
// what SignCheckpoint makes of the checkpoint it yields (Ed25519 and the
// claims encoding are deterministic), so nothing unsigned slipped in.
func FuzzVerifyCheckpoint(f *testing.F) {
	for _, s := range fuzzSeedTokens(f) {
		f.Add(s)
	}
	audit, _, _, dir := testKeys()
	f.Fuzz(func(t *testing.T, token string) {
		cp, err := VerifyCheckpoint(token, dir)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v does not wrap ErrBadSignature", err)
			}
			return
		}
		again, err := SignCheckpoint(context.Background(), audit, cp)
		if err != nil {
			t.Fatalf("re-sign a verified checkpoint: %v", err)
		}
		if again != token {
			t.Fatalf("verified token is not what SignCheckpoint makes:\n in %s\nout %s", token, again)
		}
	})
}

// TestWriteFuzzSeeds rewrites the seed corpus files under testdata/fuzz
// with -update, so they stay valid when the key derivation or the
// canonical form changes.
func TestWriteFuzzSeeds(t *testing.T) {
	if !testkit.Update() {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	write := func(fuzz, name string, seed []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), seed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, tok := range fuzzSeedTokens(t) {
		write("FuzzVerifyCheckpoint", fmt.Sprintf("seed-%d", i), testkit.SeedFile(tok))
	}
	for _, tc := range goldenEntries {
		write("FuzzParseEntry", "seed-"+tc.name, testkit.SeedFile(tc.entry.MarshalCanonical()))
	}
	write("FuzzParseEntry", "seed-noncanonical", testkit.SeedFile([]byte(`{"kind":"token","time":"2025-03-14T09:26:53Z"}`)))
	write("FuzzParseEntry", "seed-duplicate", testkit.SeedFile([]byte(`{"time":"2025-03-14T09:26:53Z","kind":"token","kind":"query"}`)))
}
