package policy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// YAML returns the set's documents in the policy file format, canonical:
// documents in the order Policies lists them, keys in a fixed order,
// lists sorted, strings quoted, times in UTC, no comments and no file
// positions. Parse of the result (with the same catalogue) gives a set
// with the same Version, and two sets with the same Version give the same
// bytes. It is what a control-plane event carries and its proposer signs:
// every node parses the same bytes into the same set.
func (s *Set) YAML() []byte {
	var b bytes.Buffer
	if s == nil {
		return nil
	}
	for i, d := range s.docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString("kind: " + string(d.Kind) + "\nmetadata:\n  name: " + q(d.Name) + "\n")
		if d.Description != "" {
			b.WriteString("  description: " + q(d.Description) + "\n")
		}
		b.WriteString("spec:\n")
		switch d.Kind {
		case KindPublisherGrant:
			b.WriteString("  publisher: " + q(d.Publisher) + "\n  datasets: " + ql(d.Datasets) + "\n")
			if d.Mode == ModeLive {
				b.WriteString("  mode: live\n")
			}
		case KindAccessPolicy:
			b.WriteString("  consumer: " + q(d.Consumer) + "\n  dataset: " + q(d.Dataset) +
				"\n  purposes: " + ql(d.Purposes) + "\n  fields: " + ql(d.Fields) + "\n")
			if d.RequireCaseID {
				b.WriteString("  requireCaseId: true\n")
			}
			if !d.ValidFrom.IsZero() {
				b.WriteString("  validFrom: " + q(d.ValidFrom.UTC().Format(time.RFC3339Nano)) + "\n")
			}
			if !d.ValidUntil.IsZero() {
				b.WriteString("  validUntil: " + q(d.ValidUntil.UTC().Format(time.RFC3339Nano)) + "\n")
			}
			if !d.Limits.IsZero() {
				b.WriteString("  limits:\n")
				if d.Limits.Rate != "" {
					b.WriteString("    rate: " + q(d.Limits.Rate) + "\n    burst: " + strconv.Itoa(d.Limits.Burst) + "\n")
				}
				if d.Limits.Daily != 0 {
					b.WriteString("    daily: " + strconv.FormatInt(d.Limits.Daily, 10) + "\n")
				}
			}
			if d.RequireConsent {
				b.WriteString("  conditions:\n    consent: required\n")
			}
		case KindForbid:
			b.WriteString("  consumer: " + q(d.Consumer) + "\n  dataset: " + q(d.Dataset) + "\n  fields: " + ql(d.Fields) + "\n")
		case KindPurpose:
			if len(d.Purposes) == 1 {
				b.WriteString("  purpose: " + q(d.Purposes[0]) + "\n")
			}
			if d.CaseIDPattern != "" {
				b.WriteString("  caseIdPattern: " + q(d.CaseIDPattern) + "\n")
			}
		case KindProcedure:
			b.WriteString(procedureYAML(d))
		case KindSubscription:
			b.WriteString("  consumer: " + q(d.Consumer) + "\n  dataset: " + q(d.Dataset) + "\n")
			if len(d.Purposes) == 1 {
				b.WriteString("  purpose: " + q(d.Purposes[0]) + "\n")
			}
			b.WriteString("  fields: " + ql(d.Fields) + "\n")
		}
	}
	return b.Bytes()
}

// q quotes a string as a YAML double-quoted scalar, escaping every rune
// that is not printable (YAML allows no raw control characters, C1
// controls or line separators in one).
func q(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r > 0xFFFF:
			fmt.Fprintf(&b, "\\U%08X", r)
		default:
			fmt.Fprintf(&b, "\\u%04X", r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func ql(xs []string) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(x))
	}
	b.WriteByte(']')
	return b.String()
}
