package vault

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParseKID(t *testing.T) {
	tests := []struct {
		name    string
		kid     string
		want    int
		wantErr error
	}{
		{name: "version 1", kid: "exchange-token#1", want: 1},
		{name: "version 42", kid: "exchange-token#42", want: 42},
		{name: "other key", kid: "exchange-audit#1", wantErr: keys.ErrUnknownKey},
		{name: "no version", kid: "exchange-token", wantErr: keys.ErrUnknownKey},
		{name: "empty version", kid: "exchange-token#", wantErr: keys.ErrUnknownKey},
		{name: "version 0", kid: "exchange-token#0", wantErr: keys.ErrUnknownKey},
		{name: "leading zero", kid: "exchange-token#01", wantErr: keys.ErrUnknownKey},
		{name: "plus sign", kid: "exchange-token#+1", wantErr: keys.ErrUnknownKey},
		{name: "negative", kid: "exchange-token#-1", wantErr: keys.ErrUnknownKey},
		{name: "huge", kid: "exchange-token#99999999999999999999", wantErr: keys.ErrUnknownKey},
		{name: "two hashes", kid: "exchange-token#1#2", wantErr: keys.ErrUnknownKey},
		{name: "case variant name", kid: "Exchange-Token#1", wantErr: keys.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKID(tt.kid, "exchange-token")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("parseKID(%q) error = %v, want %v", tt.kid, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("parseKID(%q) = %d, want %d", tt.kid, got, tt.want)
			}
		})
	}
}

func TestParseVersioned(t *testing.T) {
	sig := bytes.Repeat([]byte{0xab}, 64)
	b64 := base64.StdEncoding.EncodeToString(sig)
	tests := []struct {
		name    string
		in      string
		wantV   int
		want    []byte
		wantErr error
	}{
		{name: "v1", in: "vault:v1:" + b64, wantV: 1, want: sig},
		{name: "v12", in: "vault:v12:" + b64, wantV: 12, want: sig},
		{name: "empty", in: "", wantErr: ErrBadResponse},
		{name: "no prefix", in: b64, wantErr: ErrBadResponse},
		{name: "other prefix", in: "bao:v1:" + b64, wantErr: ErrBadResponse},
		{name: "no version", in: "vault:v:" + b64, wantErr: ErrBadResponse},
		{name: "version 0", in: "vault:v0:" + b64, wantErr: ErrBadResponse},
		{name: "no second colon", in: "vault:v1" + b64, wantErr: ErrBadResponse},
		{name: "short", in: "vault:v1:" + b64[:40], wantErr: ErrBadResponse},
		{name: "long", in: "vault:v1:" + base64.StdEncoding.EncodeToString(append(sig, 1)), wantErr: ErrBadResponse},
		{name: "url alphabet", in: "vault:v1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 64)), wantErr: ErrBadResponse},
		{name: "non-canonical padding bits", in: "vault:v1:" + b64[:len(b64)-3] + "r==", wantErr: ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, got, err := parseVersioned(tt.in, 64)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("parseVersioned() error = %v, want %v", err, tt.wantErr)
			}
			if v != tt.wantV || !bytes.Equal(got, tt.want) {
				t.Fatalf("parseVersioned() = %d, %x, want %d, %x", v, got, tt.wantV, tt.want)
			}
		})
	}
}

func FuzzParseVersioned(f *testing.F) {
	f.Add("vault:v1:" + base64.StdEncoding.EncodeToString(make([]byte, 64)))
	f.Add("vault:v7:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []int{32, 64} {
			v, raw, err := parseVersioned(s, n)
			if err != nil {
				if !errors.Is(err, ErrBadResponse) || raw != nil {
					t.Fatalf("parseVersioned(%q) = %x, %v", s, raw, err)
				}
				continue
			}
			// Exactly one text maps to each accepted value.
			if again := "vault:v" + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(raw); again != s || len(raw) != n {
				t.Fatalf("parseVersioned(%q) accepted a non-canonical form (%q)", s, again)
			}
		}
	})
}

func FuzzParseKID(f *testing.F) {
	f.Add("exchange-token#1")
	f.Add("exchange-token#007")
	f.Fuzz(func(t *testing.T, kid string) {
		v, err := parseKID(kid, "exchange-token")
		if err != nil {
			if !errors.Is(err, keys.ErrUnknownKey) || v != 0 {
				t.Fatalf("parseKID(%q) = %d, %v", kid, v, err)
			}
			return
		}
		if kid != "exchange-token#"+strconv.Itoa(v) || v < 1 {
			t.Fatalf("parseKID(%q) accepted a non-canonical kid as %d", kid, v)
		}
	})
}

func TestParseKeyRecord(t *testing.T) {
	pk1 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	pk2 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)).Public().(ed25519.PublicKey)
	t1 := time.Date(2026, 11, 26, 17, 45, 53, 451211419, time.UTC)
	t2 := t1.Add(time.Hour)
	version := func(pk ed25519.PublicKey, ts time.Time) map[string]any {
		return map[string]any{"name": "ed25519", "public_key": base64.StdEncoding.EncodeToString(pk), "creation_time": ts.Format(time.RFC3339Nano)}
	}
	record := func(f func(m map[string]any)) map[string]any {
		m := map[string]any{
			"type": "ed25519", "derived": false, "latest_version": json.Number("2"), "min_encryption_version": json.Number("0"),
			"keys": map[string]any{"1": version(pk1, t1), "2": version(pk2, t2)},
		}
		if f != nil {
			f(m)
		}
		return m
	}
	cfg := Config{Key: "tax-bureau-record", Owner: "tax-bureau", Use: keys.UseRecord}
	tests := []struct {
		name    string
		data    map[string]any
		cfg     Config
		want    []keys.PublicKey
		wantErr error
	}{
		{name: "two versions", data: record(nil), cfg: cfg, want: []keys.PublicKey{
			{KID: "tax-bureau-record#1", Owner: "tax-bureau", Use: keys.UseRecord, Key: pk1, Status: keys.Retired, Created: t1},
			{KID: "tax-bureau-record#2", Owner: "tax-bureau", Use: keys.UseRecord, Key: pk2, Status: keys.Active, Created: t2},
		}},
		{name: "hmac-only aes key", cfg: Config{Key: "exchange-pseudonym"}, data: record(func(m map[string]any) {
			m["type"] = "aes256-gcm96"
			m["keys"] = map[string]any{"1": json.Number("1795715153"), "2": json.Number("1795718753")}
		})},
		{name: "aes key for signing", cfg: cfg, data: record(func(m map[string]any) { m["type"] = "aes256-gcm96" }), wantErr: ErrKeyType},
		{name: "derived", cfg: cfg, data: record(func(m map[string]any) { m["derived"] = true }), wantErr: ErrKeyType},
		{name: "no type", cfg: cfg, data: record(func(m map[string]any) { delete(m, "type") }), wantErr: ErrBadResponse},
		{name: "latest not a number", cfg: cfg, data: record(func(m map[string]any) { m["latest_version"] = "2" }), wantErr: ErrBadResponse},
		{name: "latest has no key", cfg: cfg, data: record(func(m map[string]any) { m["latest_version"] = json.Number("3") }), wantErr: ErrBadResponse},
		{name: "version beyond latest", cfg: cfg, data: record(func(m map[string]any) { m["latest_version"] = json.Number("1") }), wantErr: ErrBadResponse},
		{name: "min encryption beyond latest", cfg: cfg, data: record(func(m map[string]any) { m["min_encryption_version"] = json.Number("3") }), wantErr: ErrBadResponse},
		{name: "short public key", cfg: cfg, data: record(func(m map[string]any) {
			m["keys"].(map[string]any)["1"].(map[string]any)["public_key"] = base64.StdEncoding.EncodeToString(pk1[:31])
		}), wantErr: ErrBadResponse},
		{name: "bad creation time", cfg: cfg, data: record(func(m map[string]any) {
			m["keys"].(map[string]any)["2"].(map[string]any)["creation_time"] = "yesterday"
		}), wantErr: ErrBadResponse},
		{name: "bad version name", cfg: cfg, data: record(func(m map[string]any) {
			m["keys"].(map[string]any)["01"] = version(pk1, t1)
		}), wantErr: ErrBadResponse},
		{name: "no keys", cfg: cfg, data: record(func(m map[string]any) { m["keys"] = map[string]any{} }), wantErr: ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseKeyRecord(tt.data, tt.cfg, t1)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("parseKeyRecord() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if st != nil {
					t.Fatal("parseKeyRecord() returned state with an error")
				}
				return
			}
			if !reflect.DeepEqual(st.versions, tt.want) {
				t.Fatalf("versions = %+v\nwant %+v", st.versions, tt.want)
			}
			if st.latest != 2 || !strings.HasPrefix(st.typ, tt.data["type"].(string)) {
				t.Fatalf("latest = %d, type = %s", st.latest, st.typ)
			}
		})
	}
}
