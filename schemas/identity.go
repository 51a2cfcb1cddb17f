package schemas

// ContainsIdentity reports whether s has, anywhere inside it, 18
// consecutive characters shaped like a resident identity number or a
// unified social credit code, valid check character or not, in upper or
// lower case:
//
//   - resident identity number: 17 digits, then a digit or X (x);
//   - unified social credit code: two characters of the code alphabet,
//     six digits (the administrative division), then ten characters of
//     the code alphabet (0-9 A-H J-N P-R T U W-Y, either case).
//
// Strings that travel where identity numbers never go (record ids, case
// ids: message keys, headers, the permanent audit log) are refused when
// this is true. It errs on the side of refusing: a 20-digit counter is an
// identity shape too.
func ContainsIdentity(s string) bool {
	for i := 0; i+18 <= len(s); i++ {
		if residentShape(s[i:i+18]) || creditShape(s[i:i+18]) {
			return true
		}
	}
	return false
}

func residentShape(w string) bool {
	for i := 0; i < 17; i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	c := w[17]
	return c >= '0' && c <= '9' || c == 'X' || c == 'x'
}

func creditShape(w string) bool {
	for i := 0; i < 18; i++ {
		c := w[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if i >= 2 && i < 8 {
			if c < '0' || c > '9' {
				return false
			}
			continue
		}
		if creditValue[c] < 0 {
			return false
		}
	}
	return true
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
		if i+18 <= len(s) && (residentShape(s[i:i+18]) || creditShape(s[i:i+18])) {
			b = append(b, "[identity]"...)
			i += 18
			continue
		}
		b = append(b, s[i])
		i++
	}
	return string(b)
}
