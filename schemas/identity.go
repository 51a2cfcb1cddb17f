package schemas

// ContainsIdentity reports whether s has, anywhere inside it, 18
// consecutive characters shaped like a resident identity number (check
// character valid or not) or a unified social credit code:
//
//   - resident identity number: 17 digits, then a digit, X or x; the
//     first two a province-level code (as ValidResidentID checks them)
//     and digits 7-14 a date of 1900-2099 with month 01-12 and day 01-31.
//     The check character is not checked: a number with a typo in it is
//     still a person's number;
//   - unified social credit code: characters 1 and 2 in 1-9 A-H N Y
//     (registration authority, category), characters 3-8 digits starting
//     with a province-level code, characters 9-17 in the code alphabet,
//     and character 18 its valid check character, except inside a run of
//     32 or more lowercase hex digits (a digest such as a derived record
//     id, where 18 digits in a row occur by chance).
//
// The structure keeps random text (hex digests, request ids) from
// matching by chance while any real number, wherever it is embedded
// (an "id:" prefix, a longer token), is found. Strings that travel where
// identity numbers never go (record ids, case ids: message keys, headers,
// the permanent audit log) are refused when this is true.
func ContainsIdentity(s string) bool {
	for i := 0; i+18 <= len(s); i++ {
		if identityAt(s, i) {
			return true
		}
	}
	return false
}

// RedactIdentities returns s with every 18-character window that
// ContainsIdentity would find replaced by "[identity]", for error details
// that quote client input (a field name, a client id) on their way to a
// log.
func RedactIdentities(s string) string {
	if !ContainsIdentity(s) {
		return s
	}
	var b []byte
	for i := 0; i < len(s); {
		if i+18 <= len(s) && identityAt(s, i) {
			b = append(b, "[identity]"...)
			i += 18
			continue
		}
		b = append(b, s[i])
		i++
	}
	return string(b)
}

func identityAt(s string, i int) bool {
	w := s[i : i+18]
	return residentShape(w) || creditShape(w) && !inHexRun(s, i)
}

func residentShape(w string) bool {
	for i := 0; i < 17; i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	if c := w[17]; (c < '0' || c > '9') && c != 'X' && c != 'x' {
		return false
	}
	y, m, d := atoi(w[6:10]), atoi(w[10:12]), atoi(w[12:14])
	return provinces[w[0:2]] && y >= 1900 && y <= 2099 && m >= 1 && m <= 12 && d >= 1 && d <= 31
}

// creditHead is what characters 1 and 2 of a credit code may be.
const creditHead = "123456789ABCDEFGHNY"

func creditShape(w string) bool {
	if !containsByte(creditHead, w[0]) || !containsByte(creditHead, w[1]) {
		return false
	}
	for i := 2; i < 8; i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	return provinces[w[2:4]] && CreditCodeCheck(w[:17]) == w[17] && w[17] != 0
}

// inHexRun: the window at i lies in a run of 32 or more lowercase hex
// digits.
func inHexRun(s string, i int) bool {
	hex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
	lo, hi := i, i
	for lo > 0 && hex(s[lo-1]) {
		lo--
	}
	for hi < len(s) && hex(s[hi]) {
		hi++
	}
	return hi >= i+18 && hi-lo >= 32
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
