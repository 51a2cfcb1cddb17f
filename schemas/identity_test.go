package schemas

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func TestContainsIdentity(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"plain token", "HH-2026-000123", false},
		{"empty", "", false},
		{"valid resident id", "330106202003080153", true},
		{"resident id, wrong check digit", "330106202003080150", true},
		{"resident id, lowercase x", "11010519491231002x", true},
		{"resident id inside an id: prefix", "id:330106202003080153", true},
		{"resident id inside a longer token", "hh330106202003080153v2", true},
		{"resident id inside a hex digest", "rec-0123456789abcdef330106202003080153", true},
		{"eighteen digits, no province", "991234567890123456", false},
		{"eighteen digits, no date", "330106000000000000", false},
		{"seventeen digits", "33010620200308015", false},
		{"valid credit code", "91330100MA2H1K3L0B", true},
		{"all-digit credit code", "12330000470051726F", true},
		{"credit code inside", "co.91330100MA2H1K3L0B.2026", true},
		{"credit code, wrong check character", "91330100MA2H1K3L0C", false},
		{"credit code in lower case", "91330100ma2h1k3l0b", false},
		{"letters without a division code", "ABCDEFGHJKLMNPQRTU", false},
		{"dashed resident id", "330106-20200308-0153", false},
		{"sample case id", "SE-2026-0001", false},
		{"derived record id", "rec-5a4f0c9d3e2b1a0912345678901234ab", false},
		{"request id", "c71594ea6018ce094ad5e67bba53ba86", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContainsIdentity(tt.in); got != tt.want {
				t.Errorf("ContainsIdentity(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestContainsIdentityRandomHex: derived record ids (rec- and 32 hex
// digits) and request ids must essentially never look like identities.
func TestContainsIdentityRandomHex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 200000
	hits := 0
	for i := 0; i < n; i++ {
		var b [16]byte
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if ContainsIdentity("rec-" + hex.EncodeToString(b[:])) {
			hits++
		}
	}
	if hits > 2 {
		t.Fatalf("%d of %d random derived ids look like identity numbers", hits, n)
	}
}

func TestRedactIdentities(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"nothing to redact", `unknown field "fields"`, `unknown field "fields"`},
		{"quoted field name", `unknown field "330106202003080153"`, `unknown field "[identity]"`},
		{"two of them", `iss "330106202003080153" and sub "91330100MA2H1K3L0B"`, `iss "[identity]" and sub "[identity]"`},
		{"inside a token", `kid "id:11010519491231002x#1"`, `kid "id:[identity]#1"`},
		{"inside digits", "9330106202003080153", "9[identity]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactIdentities(tt.in)
			if got != tt.want {
				t.Errorf("RedactIdentities(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if ContainsIdentity(got) {
				t.Errorf("RedactIdentities(%q) = %q still contains an identity", tt.in, got)
			}
		})
	}
}

// FuzzContainsIdentity: any input, no panic; what RedactIdentities returns
// holds no resident-ID shape, and text without identities is unchanged.
func FuzzContainsIdentity(f *testing.F) {
	for _, s := range []string{"", "330106202003080153", "id:11010519491231002x", "co.91330100MA2H1K3L0B.2026",
		"rec-5a4f0c9d3e2b1a0912345678901234ab", "\xff\xfe330106202003080153\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := RedactIdentities(s)
		if !ContainsIdentity(s) && r != s {
			t.Fatalf("RedactIdentities(%q) = %q changed text without identities", s, r)
		}
		for i := 0; i+18 <= len(r); i++ {
			if residentShape(r[i : i+18]) {
				t.Fatalf("RedactIdentities(%q) = %q keeps a resident ID at %d", s, r, i)
			}
		}
	})
}
