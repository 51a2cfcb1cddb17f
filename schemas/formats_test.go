package schemas

import (
	"errors"
	"testing"
	"time"
)

// reasonOf returns the FormatError reason of err, or "" for nil.
func reasonOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FormatError", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
	return fe.Reason
}

func TestValidResidentID(t *testing.T) {
	// now is fixed so "not in the future" is deterministic.
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, chinaTime)
	tests := []struct {
		name, id, wantReason string
	}{
		{"known example with X", "11010519491231002X", ""},
		{"Hangzhou Xihu male", "330106198503120415", ""},
		{"Hangzhou Binjiang female X", "33010819900214028X", ""},
		{"child born 2020", "330106202003080153", ""},
		{"leap day 2000", "110105200002290016", ""},
		{"born today", "330106202603010015", ""},
		{"wrong check character", "110105194912310021", ReasonCheckCharacter},
		{"check digit off by one", "330106198503120416", ReasonCheckCharacter},
		{"lower-case x", "11010519491231002x", ReasonCharacter},
		{"letter inside", "1101051949123100AX", ReasonCharacter},
		{"Y as check", "11010519491231002Y", ReasonCharacter},
		{"too short", "11010519491231002", ReasonLength},
		{"too long", "11010519491231002X0", ReasonLength},
		{"empty", "", ReasonLength},
		{"leading space", " 11010519491231002X", ReasonLength},
		{"trailing newline", "11010519491231002X\n", ReasonLength},
		{"inner space same length", "1101051949 231002X", ReasonCharacter},
		{"full-width digits", "１１０１０５１９４９１２３１００２Ｘ", ReasonLength},
		{"full-width one digit keeps 18 runes", "１10105194912310021", ReasonLength},
		{"15-digit old format", "110105491231002", ReasonLength},
		{"province 00", "000105194912310028", ReasonAreaCode},
		{"province 99", "990105194912310024", ReasonAreaCode},
		{"month 13", "110105194913310027", ReasonBirthDate},
		{"day 32", "110105194912320029", ReasonBirthDate},
		{"February 30", "110105200002300011", ReasonBirthDate},
		{"February 29 in 1900", "110105190002290010", ReasonBirthDate},
		{"year 1899", "110105189912310025", ReasonBirthDate},
		{"tomorrow", "330106202603020016", ReasonBirthDate},
		{"far future", "330106209901010011", ReasonBirthDate},
		{"all zeros", "000000000000000000", ReasonAreaCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Give wrong-reason cases a correct check character, so each
			// case fails for exactly the reason it names.
			id := tt.id
			if tt.wantReason != ReasonCheckCharacter && tt.wantReason != ReasonLength && tt.wantReason != ReasonCharacter {
				if c := ResidentIDCheck(id[:17]); c != 0 {
					id = id[:17] + string(c)
				}
			}
			if got := reasonOf(t, validResidentID(id, now)); got != tt.wantReason {
				t.Errorf("validResidentID(%q) reason = %q, want %q", id, got, tt.wantReason)
			}
		})
	}
}

func TestValidResidentIDUsesClock(t *testing.T) {
	// The exported function judges "the future" against the real clock:
	// a number born in 2999 is refused whatever the date.
	if got := reasonOf(t, ValidResidentID("330106299901010011")); got != ReasonBirthDate {
		t.Errorf("reason = %q, want %q", got, ReasonBirthDate)
	}
	if got := reasonOf(t, ValidResidentID("11010519491231002X")); got != "" {
		t.Errorf("known valid number refused: %q", got)
	}
}

func TestResidentIDCheck(t *testing.T) {
	tests := []struct {
		name, prefix string
		want         byte
	}{
		{"X", "11010519491231002", 'X'},
		{"digit", "33010619850312041", '5'},
		{"short", "1101051949123100", 0},
		{"non-digit", "1101051949123100A", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResidentIDCheck(tt.prefix); got != tt.want {
				t.Errorf("ResidentIDCheck(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
}

func TestValidCreditCode(t *testing.T) {
	tests := []struct {
		name, code, wantReason string
	}{
		{"published example", "91350100M000100Y43", ""},
		{"Hangzhou company", "91330100MA2H1K3L0B", ""},
		{"public institution", "12330000470051726F", ""},
		{"check value 0", "91330106MA27XQ5P2R", ""},
		{"wrong check character", "91350100M000100Y44", ReasonCheckCharacter},
		{"transposed characters", "91350100M000010Y43", ReasonCheckCharacter},
		{"lower case", "91350100m000100Y43", ReasonCharacter},
		{"letter I", "91350100I000100Y43", ReasonCharacter},
		{"letter O", "91350100O000100Y43", ReasonCharacter},
		{"letter Z", "91350100Z000100Y43", ReasonCharacter},
		{"letter S", "91350100S000100Y43", ReasonCharacter},
		{"letter V", "91350100V000100Y43", ReasonCharacter},
		{"space", "91350100 000100Y43", ReasonCharacter},
		{"letter in division", "9135A100M000100Y43", ReasonDivision},
		{"too short", "91350100M000100Y4", ReasonLength},
		{"too long", "91350100M000100Y430", ReasonLength},
		{"empty", "", ReasonLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(t, ValidCreditCode(tt.code)); got != tt.wantReason {
				t.Errorf("ValidCreditCode(%q) reason = %q, want %q", tt.code, got, tt.wantReason)
			}
		})
	}
}

func TestCreditCodeCheck(t *testing.T) {
	// Every prefix gets the one check character that makes it valid, and
	// every other alphabet character at position 18 is refused.
	prefix := "91330108MA2CF7U16"
	c := CreditCodeCheck(prefix)
	if c != 'Y' {
		t.Fatalf("CreditCodeCheck(%q) = %q, want 'Y'", prefix, c)
	}
	for i := 0; i < len(creditAlphabet); i++ {
		err := ValidCreditCode(prefix + string(creditAlphabet[i]))
		if (creditAlphabet[i] == c) != (err == nil) {
			t.Errorf("check character %q: err = %v", creditAlphabet[i], err)
		}
	}
	if CreditCodeCheck("91330108MA2CF7U1I") != 0 {
		t.Error("CreditCodeCheck accepted a character outside the alphabet")
	}
}

func TestValidUnitNumber(t *testing.T) {
	tests := []struct {
		name, unit, wantReason string
	}{
		{"flat in Xihu", "330106003012GB00123F00020301", ""},
		{"collective homestead", "330110105003JC00411F00010001", ""},
		{"land without fixture", "330109007004GB00052W00000000", ""},
		{"forest", "330127101002JE00007L00010001", ""},
		{"too short", "330106003012GB00123F0002030", ReasonLength},
		{"too long", "330106003012GB00123F000203011", ReasonLength},
		{"province 99", "990106003012GB00123F00020301", ReasonDivision},
		{"Hong Kong code", "810106003012GB00123F00020301", ReasonDivision},
		{"province only", "330000003012GB00123F00020301", ReasonDivision},
		{"letter in zone", "330106003A12GB00123F00020301", ReasonDivision},
		{"owner letter X", "330106003012XB00123F00020301", ReasonParcelType},
		{"right letter Z", "330106003012GZ00123F00020301", ReasonParcelType},
		{"lower-case parcel", "330106003012gb00123F00020301", ReasonParcelType},
		{"sequence zero", "330106003012GB00000F00020301", ReasonParcelSequence},
		{"letter in sequence", "330106003012GB0012AF00020301", ReasonParcelSequence},
		{"fixture letter K", "330106003012GB00123K00020301", ReasonFixtureType},
		{"fixture unit letter", "330106003012GB00123F0002030A", ReasonFixtureUnit},
		{"W with a unit", "330106003012GB00123W00020301", ReasonFixtureUnit},
		{"F without a unit", "330106003012GB00123F00000000", ReasonFixtureUnit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(t, ValidUnitNumber(tt.unit)); got != tt.wantReason {
				t.Errorf("ValidUnitNumber(%q) reason = %q, want %q", tt.unit, got, tt.wantReason)
			}
		})
	}
}

func TestValidDate(t *testing.T) {
	tests := []struct {
		name, date, wantReason string
	}{
		{"ordinary", "2026-03-01", ""},
		{"leap day", "2024-02-29", ""},
		{"not a leap year", "2023-02-29", ReasonDate},
		{"month 13", "2023-13-01", ReasonDate},
		{"day 0", "2023-01-00", ReasonDate},
		{"slashes", "2023/01/01", ReasonDate},
		{"no padding", "2023-1-01", ReasonDate},
		{"with time", "2023-01-01T00:00:00Z", ReasonDate},
		{"year 0", "0000-01-01", ReasonDate},
		{"compact", "20230101", ReasonDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(t, validDate(tt.date)); got != tt.wantReason {
				t.Errorf("validDate(%q) reason = %q, want %q", tt.date, got, tt.wantReason)
			}
		})
	}
}
