package schemas

import (
	"time"
)

// Names of the domain formats, as used in a schema's "format" keyword.
const (
	FormatResidentID = "resident-id"
	FormatCreditCode = "unified-social-credit-code"
	FormatUnitNumber = "real-estate-unit"
	FormatDate       = "date"
)

// Reasons a *FormatError gives. They name the part of the value that is
// wrong, never the value itself, so they are safe to log and to put in a
// dead-letter record.
const (
	ReasonLength         = "length"
	ReasonCharacter      = "character"
	ReasonCheckCharacter = "check character"
	ReasonBirthDate      = "birth date"
	ReasonAreaCode       = "area code"
	ReasonDivision       = "administrative division"
	ReasonParcelType     = "parcel type"
	ReasonParcelSequence = "parcel sequence"
	ReasonFixtureType    = "fixture type"
	ReasonFixtureUnit    = "fixture unit"
	ReasonDate           = "calendar date"
)

// FormatError says why a value does not match a domain format. It wraps
// ErrInvalid. Reason is one of the Reason constants.
type FormatError struct {
	Format string
	Reason string
}

func (e *FormatError) Error() string { return "invalid " + e.Format + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FormatError) Unwrap() error { return ErrInvalid }

// chinaTime is the zone in which "today" is judged for birth dates
// (China Standard Time, UTC+8, no daylight saving), so the check needs no
// time zone database.
var chinaTime = time.FixedZone("CST", 8*60*60)

// residentWeights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for the
// first 17 digits of a resident identity number.
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// residentCheck maps the weighted sum mod 11 to the check character.
const residentCheck = "10X98765432"

// provinces lists the two-digit province-level codes (GB/T 2260) that may
// begin a resident identity number: the 31 mainland provinces, 71 (Taiwan),
// 81 (Hong Kong), 82 (Macao) as used in residence permits, and 83 (Taiwan
// residents' residence permits).
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true, "83": true,
}

// mainland is provinces without the codes used only in identity numbers
// and permits (71, 81, 82, 83): real-estate units lie in the mainland.
func mainland(code string) bool {
	switch code {
	case "71", "81", "82", "83":
		return false
	}
	return provinces[code]
}

// ValidResidentID checks a PRC resident identity number (GB 11643-1999) as
// described in the package documentation. It returns nil or a *FormatError.
func ValidResidentID(s string) error {
	return validResidentID(s, time.Now())
}

func validResidentID(s string, now time.Time) error {
	bad := func(reason string) error { return &FormatError{Format: FormatResidentID, Reason: reason} }
	if len(s) != 18 {
		return bad(ReasonLength)
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return bad(ReasonCharacter)
		}
		sum += int(c-'0') * residentWeights[i]
	}
	last := s[17]
	if (last < '0' || last > '9') && last != 'X' {
		return bad(ReasonCharacter)
	}
	if !provinces[s[0:2]] {
		return bad(ReasonAreaCode)
	}
	if !pastDate(s[6:14], now) {
		return bad(ReasonBirthDate)
	}
	if residentCheck[sum%11] != last {
		return bad(ReasonCheckCharacter)
	}
	return nil
}

// ResidentIDCheck returns the check character for the first 17 digits of a
// resident identity number, or 0 if prefix is not 17 ASCII digits. It is
// what a test or a data generator needs to build valid numbers.
func ResidentIDCheck(prefix string) byte {
	if len(prefix) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := prefix[i]
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * residentWeights[i]
	}
	return residentCheck[sum%11]
}

// pastDate reports whether ymd (YYYYMMDD, ASCII digits already checked) is
// a real calendar date from 1900-01-01 up to today in China.
func pastDate(ymd string, now time.Time) bool {
	y := atoi(ymd[0:4])
	m := atoi(ymd[4:6])
	d := atoi(ymd[6:8])
	if y < 1900 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return false
	}
	ty, tm, td := now.In(chinaTime).Date()
	if y != ty {
		return y < ty
	}
	if m != int(tm) {
		return m < int(tm)
	}
	return d <= td
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// creditAlphabet is the GB 32100-2015 code alphabet in value order: the
// digits and the capital letters without I, O, Z, S and V (31 characters).
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// creditValue maps a byte to its value in creditAlphabet, or -1.
var creditValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(creditAlphabet); i++ {
		t[creditAlphabet[i]] = int8(i)
	}
	return t
}()

// ValidCreditCode checks a unified social credit code (GB 32100-2015) as
// described in the package documentation. It returns nil or a *FormatError.
func ValidCreditCode(s string) error {
	bad := func(reason string) error { return &FormatError{Format: FormatCreditCode, Reason: reason} }
	if len(s) != 18 {
		return bad(ReasonLength)
	}
	for i := 0; i < 18; i++ {
		if creditValue[s[i]] < 0 {
			return bad(ReasonCharacter)
		}
	}
	for i := 2; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return bad(ReasonDivision)
		}
	}
	if CreditCodeCheck(s[:17]) != s[17] {
		return bad(ReasonCheckCharacter)
	}
	return nil
}

// CreditCodeCheck returns the GB 32100 check character for the first 17
// characters of a unified social credit code, or 0 if prefix is not 17
// characters of the code alphabet.
func CreditCodeCheck(prefix string) byte {
	if len(prefix) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := creditValue[prefix[i]]
		if v < 0 {
			return 0
		}
		sum += int(v) * creditWeights[i]
	}
	return creditAlphabet[(31-sum%31)%31]
}

// parcelOwner and parcelRight are the letters allowed in the two-letter
// parcel (宗地/宗海) feature code: ownership, then the kind of right.
const (
	parcelOwner = "GJZ"
	parcelRight = "ABCDEFGHSWXY"
	fixtureType = "FLQW"
)

// ValidUnitNumber checks a 28-character real-estate unit number
// (不动产单元号, GB/T 37346-2019) as described in the package
// documentation. It returns nil or a *FormatError.
func ValidUnitNumber(s string) error {
	bad := func(reason string) error { return &FormatError{Format: FormatUnitNumber, Reason: reason} }
	if len(s) != 28 {
		return bad(ReasonLength)
	}
	digits := func(from, to int) bool {
		for i := from; i < to; i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if !digits(0, 6) || !mainland(s[0:2]) || s[2:6] == "0000" {
		return bad(ReasonDivision)
	}
	if !digits(6, 12) {
		return bad(ReasonDivision)
	}
	if !contains(parcelOwner, s[12]) || !contains(parcelRight, s[13]) {
		return bad(ReasonParcelType)
	}
	if !digits(14, 19) || s[14:19] == "00000" {
		return bad(ReasonParcelSequence)
	}
	if !contains(fixtureType, s[19]) {
		return bad(ReasonFixtureType)
	}
	if !digits(20, 28) {
		return bad(ReasonFixtureUnit)
	}
	noFixture := s[20:28] == "00000000"
	if (s[19] == 'W') != noFixture {
		return bad(ReasonFixtureUnit)
	}
	return nil
}

func contains(set string, c byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}

// validDate checks the "date" format: exactly YYYY-MM-DD with ASCII digits
// and a real calendar date (years 0001-9999). Unlike time.Parse it names no
// value in its error.
func validDate(s string) error {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return &FormatError{Format: FormatDate, Reason: ReasonDate}
	}
	for _, i := range [8]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return &FormatError{Format: FormatDate, Reason: ReasonDate}
		}
	}
	y, m, d := atoi(s[0:4]), atoi(s[5:7]), atoi(s[8:10])
	if y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return &FormatError{Format: FormatDate, Reason: ReasonDate}
	}
	return nil
}
