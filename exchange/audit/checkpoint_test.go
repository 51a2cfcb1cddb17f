package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// signNote signs text as a note by s under the key name s.kid, whatever
// the directory says: for checkpoints SignCheckpoint would never produce.
func signNote(s edSigner, text string) string {
	vk, err := note.NewEd25519VerifierKey(s.kid, s.priv.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		panic(err)
	}
	sig := binary.BigEndian.AppendUint32(nil, v.KeyHash())
	sig = append(sig, ed25519.Sign(s.priv, []byte(text))...)
	return text + "\n\u2014 " + s.kid + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

func testCheckpoint() Checkpoint {
	l := buildLog(sampleEntries(10))
	return l.Checkpoint("onevisit/audit", t0)
}

// mustSign signs c as SignCheckpoint does, with s's own public key (s
// need not be in any directory).
func mustSign(t testing.TB, s edSigner, c Checkpoint) string {
	t.Helper()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	return signNote(s, c.text())
}

func TestCheckpointRoundTrip(t *testing.T) {
	audit, _, _, dir := testKeys()
	want := testCheckpoint()
	tok, err := SignCheckpoint(context.Background(), audit, dir, want)
	if err != nil {
		t.Fatal(err)
	}
	if tok != mustSign(t, audit, want) {
		t.Errorf("SignCheckpoint and the hand-built note differ:\n%s\n%s", tok, mustSign(t, audit, want))
	}
	got, err := VerifyCheckpoint(tok, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// The body is the C2SP tlog-checkpoint: origin, size, root, then the
	// time extension line; one signature line named by the kid.
	wantBody := fmt.Sprintf("onevisit/audit\n10\n%s\ntime 2025-03-14T09:26:53.589793Z\n\n\u2014 audit#1 ",
		base64.StdEncoding.EncodeToString(want.Root))
	if !strings.HasPrefix(tok, wantBody) || strings.Count(tok, "\n") != 6 {
		t.Errorf("note\n%s\nwant it to start\n%s", tok, wantBody)
	}
	// A standard note verifier built from the published key opens it.
	vk, err := NoteVerifierKey(dir["audit#1"])
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(tok), note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	if n.Text != want.text() || len(n.Sigs) != 1 || n.Sigs[0].Name != "audit#1" {
		t.Errorf("note.Open gave %+v", n)
	}
	if !strings.HasPrefix(vk, "audit#1+") {
		t.Errorf("verifier key %q is not named by the kid", vk)
	}
}

func TestSignCheckpointRefusesInvalid(t *testing.T) {
	audit, record, _, dir := testKeys()
	good := testCheckpoint()
	tests := []struct {
		name    string
		signer  edSigner
		mutate  func(*Checkpoint)
		wantErr error
	}{
		{"empty origin", audit, func(c *Checkpoint) { c.Origin = "" }, nil},
		{"origin of two lines", audit, func(c *Checkpoint) { c.Origin = "a\nb" }, nil},
		{"short root", audit, func(c *Checkpoint) { c.Root = c.Root[:31] }, nil},
		{"zero time", audit, func(c *Checkpoint) { c.Time = time.Time{} }, nil},
		{"record key", record, func(*Checkpoint) {}, keys.ErrWrongUse},
		{"key not in the directory", edSigner{kid: "stranger#1", priv: audit.priv}, func(*Checkpoint) {}, keys.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Root = append([]byte(nil), good.Root...)
			tc.mutate(&c)
			tok, err := SignCheckpoint(context.Background(), tc.signer, dir, c)
			if err == nil {
				t.Fatalf("signed %q", tok)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	audit, record, revoked, dir := testKeys()
	cp := testCheckpoint()
	good := mustSign(t, audit, cp)
	root := base64.StdEncoding.EncodeToString(cp.Root)
	body := func(origin, size, root, tm string) string {
		return origin + "\n" + size + "\n" + root + "\n" + tm + "\n"
	}
	okTime := "time 2025-03-14T09:26:53.589793Z"
	other := mustSign(t, audit, Checkpoint{Origin: "onevisit/audit", Size: 11, Root: cp.Root, Time: t0})
	sigLine := good[strings.Index(good, "\n\n")+2:]
	sigB64 := strings.Fields(sigLine)[2]
	sig, _ := base64.StdEncoding.DecodeString(sigB64)
	sig[10] ^= 1
	flipped := good[:strings.Index(good, "\n\n")+2] + "\u2014 audit#1 " + base64.StdEncoding.EncodeToString(sig) + "\n"
	witness, _ := newKey("witness", keys.UseAudit, keys.Active)
	cosigned := good + strings.TrimPrefix(signNote(witness, cp.text()), cp.text()+"\n")

	tests := []struct {
		name    string
		token   string
		wantErr error // besides ErrBadSignature, which every failure wraps
	}{
		{"good", good, nil},
		{"with a witness cosignature", cosigned, nil},
		{"record key", mustSign(t, record, cp), keys.ErrWrongUse},
		{"revoked audit key", mustSign(t, revoked, cp), keys.ErrRevoked},
		{"unknown kid", mustSign(t, edSigner{kid: "stranger#1", priv: audit.priv}, cp), keys.ErrUnknownKey},
		{"key of another kid", mustSign(t, edSigner{kid: "audit#1", priv: record.priv}, cp), keys.ErrUnknownKey},
		{"only a witness signature", signNote(witness, cp.text()), keys.ErrUnknownKey},
		{"body swapped", other[:strings.Index(other, "\n\n")+2] + sigLine, nil},
		{"signature bit flip", flipped, nil},
		{"signature missing", cp.text() + "\n", nil},
		{"extra line", signNote(audit, body("onevisit/audit", "10", root, okTime)+"x\n"), nil},
		{"no time line", signNote(audit, "onevisit/audit\n10\n"+root+"\n"), nil},
		{"negative size", signNote(audit, body("onevisit/audit", "-1", root, okTime)), nil},
		{"leading zero size", signNote(audit, body("onevisit/audit", "010", root, okTime)), nil},
		{"empty origin", signNote(audit, body("", "10", root, okTime)), nil},
		{"short root", signNote(audit, body("onevisit/audit", "10", base64.StdEncoding.EncodeToString(cp.Root[:31]), okTime)), nil},
		{"root not base64", signNote(audit, body("onevisit/audit", "10", "!!", okTime)), nil},
		{"time with offset", signNote(audit, body("onevisit/audit", "10", root, "time 2025-03-14T17:26:53+08:00")), nil},
		{"time not canonical", signNote(audit, body("onevisit/audit", "10", root, "time 2025-03-14T09:26:53.500Z")), nil},
		{"not a note", "checkpoint", nil},
		{"empty", "", nil},
		{"too large", good + strings.Repeat("A", MaxCheckpointSize), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyCheckpoint(tc.token, dir)
			if tc.name == "good" || tc.name == "with a witness cosignature" {
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

// fuzzSeedTokens are the checkpoint notes kept as seeds; the first is
// valid, so the fuzzer starts from a note that verifies.
func fuzzSeedTokens(t testing.TB) []string {
	audit, record, _, _ := testKeys()
	cp := testCheckpoint()
	good := mustSign(t, audit, cp)
	return []string{
		good,
		mustSign(t, record, cp),
		cp.text() + "\n",
		signNote(audit, "o\n1e3\n\ntime \n"),
		strings.Replace(good, "\n10\n", "\n11\n", 1),
	}
}

// FuzzVerifyCheckpoint: no note panics; one that verifies is exactly
// what SignCheckpoint makes of the checkpoint it yields (Ed25519 and the
// body encoding are deterministic), so nothing unsigned slipped in.
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
		again, err := SignCheckpoint(context.Background(), audit, dir, cp)
		if err != nil {
			t.Fatalf("re-sign a verified checkpoint: %v", err)
		}
		// The signed body is exactly SignCheckpoint's, and its signature
		// line is among the note's (others are cosignatures, ignored).
		body := cp.text() + "\n"
		if !strings.HasPrefix(token, body) || !strings.Contains(token[len(body)-1:], "\n"+again[len(body):]) {
			t.Fatalf("verified note is not what SignCheckpoint makes:\n in %q\nout %q", token, again)
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
