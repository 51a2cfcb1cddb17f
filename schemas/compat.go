package schemas

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// CompatibilityError is one rule a version breaks against its predecessor.
// It wraps ErrIncompatible.
type CompatibilityError struct {
	Dataset string
	From    string // older schema id, "household/v1"
	To      string // newer schema id, "household/v2"
	// Mode is the direction the change breaks: BACKWARD (new readers
	// cannot read old data), FORWARD (old readers cannot read new data) or
	// FULL (both); "" for subject-changed, which breaks every mode.
	Mode   Mode
	Field  string // "" for a rule about the whole schema
	Rule   string // see the package doc for the list
	Detail string
}

func (e *CompatibilityError) Error() string {
	var b strings.Builder
	mode := string(e.Mode)
	if mode == "" {
		mode = "every mode"
	}
	fmt.Fprintf(&b, "schema %s: %s -> %s breaks %s: ", e.Dataset, e.From, e.To, mode)
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Rule)
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrIncompatible) true.
func (e *CompatibilityError) Unwrap() error { return ErrIncompatible }

// Result is the compatibility check of one dataset's version chain.
type Result struct {
	Dataset  string
	Versions []string // schema ids, oldest first
	Mode     Mode     // declared by the latest version
	Problems []*CompatibilityError
}

// OK reports whether every version is compatible with its predecessor.
func (r Result) OK() bool { return len(r.Problems) == 0 }

// String renders the result for a terminal: one line, then one indented
// line per problem.
func (r Result) String() string {
	var b strings.Builder
	state := "ok"
	if !r.OK() {
		state = "INCOMPATIBLE"
	}
	fmt.Fprintf(&b, "%s: %s (%s; %s)", r.Dataset, state, strings.Join(r.Versions, ", "), r.Mode)
	for _, p := range r.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Check checks every dataset's versions, each against its predecessor, and
// returns nil or an error joining every *CompatibilityError (so errors.Is
// with ErrIncompatible and errors.As with *CompatibilityError work).
func (r *Registry) Check() error {
	var errs []error
	for _, res := range r.CheckResults() {
		for _, p := range res.Problems {
			errs = append(errs, p)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("check schemas: %w", errors.Join(errs...))
}

// CheckResults returns the compatibility check of every dataset, sorted by
// dataset name.
func (r *Registry) CheckResults() []Result {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Result, 0, len(r.names))
	for _, name := range r.names {
		d := r.datasets[name]
		res := Result{Dataset: name, Mode: d.versions[len(d.versions)-1].mode}
		for i, v := range d.versions {
			res.Versions = append(res.Versions, v.id)
			if i > 0 {
				res.Problems = append(res.Problems, compare(d.versions[i-1].version, v.version)...)
			}
		}
		out = append(out, res)
	}
	return out
}

// CheckFS loads the schema files in fsys (as Load) and checks them. A
// load failure is an error wrapping ErrBadSchema; incompatibilities are
// in the results.
func CheckFS(fsys fs.FS) ([]Result, error) {
	r, err := Load(fsys)
	if err != nil {
		return nil, fmt.Errorf("check schemas: %w", err)
	}
	return r.CheckResults(), nil
}

// CheckDir is CheckFS on a folder laid out as schemas/: one folder per
// dataset holding v1.json, v2.json, ...
func CheckDir(dir string) ([]Result, error) {
	return CheckFS(os.DirFS(dir))
}

// compare lists the rules the step from old to new breaks under the union
// of both versions' declared modes.
func compare(old, new *version) []*CompatibilityError {
	var out []*CompatibilityError
	backward := old.mode.backward() || new.mode.backward()
	forward := old.mode.forward() || new.mode.forward()
	report := func(field, rule, detail string, breaksB, breaksF bool) bool {
		b, f := backward && breaksB, forward && breaksF
		if !b && !f {
			return false
		}
		m := Backward
		switch {
		case b && f:
			m = Full
		case f:
			m = Forward
		}
		out = append(out, &CompatibilityError{Dataset: old.dataset, From: old.id, To: new.id, Mode: m, Field: field, Rule: rule, Detail: detail})
		return true
	}
	if old.subject != new.subject {
		out = append(out, &CompatibilityError{Dataset: old.dataset, From: old.id, To: new.id,
			Rule: "subject-changed", Detail: fmt.Sprintf("was %q, now %q", old.subject, new.subject)})
	}
	names := slices.Clone(old.names)
	for _, n := range new.names {
		if old.fields[n] == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		o, n := old.fields[name], new.fields[name]
		oreq, nreq := old.required[name], new.required[name]
		switch {
		case n == nil && oreq:
			report(name, "required-field-removed", "the old version required a field the new one does not define", true, true)
			continue
		case n == nil:
			report(name, "field-removed", "old data may carry a field the new version does not define", true, false)
			continue
		case o == nil && nreq:
			report(name, "required-field-added", "the new version requires a field the old one did not define", true, true)
			continue
		case o == nil:
			report(name, "field-added", "new data may carry a field old readers do not define", false, true)
			continue
		case !oreq && nreq:
			report(name, "field-made-required", "old data may lack a field the new version requires", true, false)
		case oreq && !nreq:
			report(name, "field-made-optional", "new data may lack a field old readers require", false, true)
		}
		for _, a := range aspects {
			newCovers, oldCovers := a.covers(n, o), a.covers(o, n)
			rule := a.name + "-changed"
			switch {
			case newCovers && oldCovers:
				continue
			case oldCovers:
				rule = a.name + "-narrowed"
			case newCovers:
				rule = a.name + "-widened"
			}
			if report(name, rule, a.describe(o, n), !newCovers, !oldCovers) && a.name == "type" {
				break // the other aspects follow from the type change
			}
		}
	}
	return out
}

// aspect is one kind of constraint on a field's values; covers reports
// whether every value reader accepts under it includes every value writer
// accepts.
type aspect struct {
	name     string
	covers   func(reader, writer *field) bool
	describe func(old, new *field) string
}

var aspects = []aspect{
	{"type", coversType, func(o, n *field) string {
		return fmt.Sprintf("was %s, now %s", strings.Join(o.types, "|"), strings.Join(n.types, "|"))
	}},
	{"enum", coversEnum, describeEnum},
	{"format", func(r, w *field) bool { return r.format == "" || r.format == w.format }, func(o, n *field) string {
		return fmt.Sprintf("was %s, now %s", orNone(o.format), orNone(n.format))
	}},
	{"pattern", func(r, w *field) bool { return r.pattern == "" || r.pattern == w.pattern }, func(o, n *field) string {
		return fmt.Sprintf("was %s, now %s", orNone(o.pattern), orNone(n.pattern))
	}},
	{"range", func(r, w *field) bool { return coversLower(r.lower, w.lower) && coversUpper(r.upper, w.upper) }, func(o, n *field) string {
		return fmt.Sprintf("was %s, now %s", describeRange(o), describeRange(n))
	}},
	{"length", coversLength, func(o, n *field) string {
		return fmt.Sprintf("was %s, now %s", describeLength(o), describeLength(n))
	}},
}

func coversType(r, w *field) bool {
	for _, t := range w.types {
		if !slices.Contains(r.types, t) && (t != "integer" || !slices.Contains(r.types, "number")) {
			return false
		}
	}
	return true
}

func coversEnum(r, w *field) bool {
	if r.enum == nil {
		return true
	}
	if w.enum == nil {
		return false
	}
	for _, v := range w.enum {
		if !slices.Contains(r.enum, v) {
			return false
		}
	}
	return true
}

func describeEnum(o, n *field) string {
	if o.enum == nil {
		return "enum added"
	}
	if n.enum == nil {
		return "enum removed"
	}
	var parts []string
	if d := minus(o.enum, n.enum); len(d) > 0 {
		parts = append(parts, "drops "+strings.Join(d, ", "))
	}
	if a := minus(n.enum, o.enum); len(a) > 0 {
		parts = append(parts, "adds "+strings.Join(a, ", "))
	}
	return strings.Join(parts, "; ")
}

// minus returns the display forms of a's values that b lacks.
func minus(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, display(v))
		}
	}
	return out
}

func coversLower(r, w bound) bool {
	if !r.set {
		return true
	}
	if !w.set {
		return false
	}
	switch c := r.value.Cmp(w.value); {
	case c < 0:
		return true
	case c > 0:
		return false
	}
	return !r.exclusive || w.exclusive
}

func coversUpper(r, w bound) bool {
	if !r.set {
		return true
	}
	if !w.set {
		return false
	}
	switch c := r.value.Cmp(w.value); {
	case c > 0:
		return true
	case c < 0:
		return false
	}
	return !r.exclusive || w.exclusive
}

func coversLength(r, w *field) bool {
	if r.minLength > w.minLength {
		return false
	}
	if r.maxLength < 0 {
		return true
	}
	return w.maxLength >= 0 && w.maxLength <= r.maxLength
}

func describeRange(f *field) string {
	var parts []string
	if f.lower.set {
		op := ">= "
		if f.lower.exclusive {
			op = "> "
		}
		parts = append(parts, op+f.lower.value.RatString())
	}
	if f.upper.set {
		op := "<= "
		if f.upper.exclusive {
			op = "< "
		}
		parts = append(parts, op+f.upper.value.RatString())
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " and ")
}

func describeLength(f *field) string {
	max := "any"
	if f.maxLength >= 0 {
		max = fmt.Sprint(f.maxLength)
	}
	return fmt.Sprintf("%d..%s characters", f.minLength, max)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}
