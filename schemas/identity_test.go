package schemas

import "testing"

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
		{"resident id inside a longer token", "hh-330106202003080153-v2", true},
		{"twenty digits", "12345678901234567890", true},
		{"seventeen digits", "12345678901234567", false},
		{"valid credit code", "91330106MA2CFXXX1X", true},
		{"credit code lower case", "91330106ma2cfxxx1x", true},
		{"credit code inside", "co.91330106MA2CFXXX1X.2026", true},
		{"letters without a division code", "ABCDEFGHJKLMNPQRTU", false},
		{"credit alphabet with I", "91330106MA2CFIII1X", false},
		{"dashed resident id", "330106-20200308-0153", false},
		{"sample case id", "SE-2026-0001", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContainsIdentity(tt.in); got != tt.want {
				t.Errorf("ContainsIdentity(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactIdentities(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"nothing to redact", `unknown field "fields"`, `unknown field "fields"`},
		{"quoted field name", `unknown field "330106202003080153"`, `unknown field "[identity]"`},
		{"two of them", `iss "330106202003080153" and sub "91330106MA2CFXXX1X"`, `iss "[identity]" and sub "[identity]"`},
		{"inside a token", `kid "id:11010519491231002x#1"`, `kid "id:[identity]#1"`},
		{"twenty digits", "12345678901234567890", "[identity]90"},
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
