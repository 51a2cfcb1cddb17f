package schemas

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// IDBase is the prefix of every schema's $id; the full $id of version N of
// dataset D is IDBase + D + "/vN".
const IDBase = "https://onevisit.example/schemas/"

// Draft2020 is the only $schema the profile accepts.
const Draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Annotation keywords OneVisit reads from a schema's root.
const (
	KeywordSubject       = "x-onevisit-subject"
	KeywordCompatibility = "x-onevisit-compatibility"
)

// Mode is a dataset's declared compatibility mode, as in Confluent Schema
// Registry (non-transitive: each version is checked against the previous).
type Mode string

// The compatibility modes. See the package doc for the exact rules.
const (
	Backward Mode = "BACKWARD"
	Forward  Mode = "FORWARD"
	Full     Mode = "FULL"
	None     Mode = "NONE"
)

func (m Mode) backward() bool { return m == Backward || m == Full }
func (m Mode) forward() bool  { return m == Forward || m == Full }

// field is one property of a version, as the profile allows it.
type field struct {
	types     []string // sorted JSON Schema type names
	format    string   // "" for none
	enum      []string // sorted canonical forms; nil for none
	pattern   string   // "" for none
	lower     bound    // from minimum / exclusiveMinimum
	upper     bound    // from maximum / exclusiveMaximum
	minLength int64    // 0 when absent
	maxLength int64    // -1 when absent
}

// bound is one end of a numeric range; set is false for "unbounded".
type bound struct {
	set       bool
	value     *big.Rat
	exclusive bool
}

func (b bound) String() string {
	if !b.set {
		return "none"
	}
	if b.exclusive {
		return "exclusive " + b.value.RatString()
	}
	return b.value.RatString()
}

// version is one parsed schema file.
type version struct {
	dataset  string
	n        int
	id       string // "household/v1"
	url      string // $id
	subject  string
	mode     Mode
	fields   map[string]*field
	names    []string // sorted field names
	required map[string]bool
}

var (
	rootKeywords = map[string]bool{
		"$schema": true, "$id": true, "$comment": true, "title": true, "description": true,
		"type": true, "properties": true, "required": true, "additionalProperties": true,
		KeywordSubject: true, KeywordCompatibility: true,
	}
	fieldKeywords = map[string]bool{
		"$comment": true, "title": true, "description": true, "examples": true,
		"type": true, "format": true, "enum": true, "pattern": true,
		"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
		"minLength": true, "maxLength": true,
	}
	typeNames = map[string]bool{"string": true, "integer": true, "number": true, "boolean": true, "null": true}
	// knownFormats are the formats a schema may name; each is asserted.
	knownFormats = map[string]bool{
		FormatDate: true, FormatResidentID: true, FormatCreditCode: true, FormatUnitNumber: true,
		"date-time": true, "email": true, "uri": true,
	}
	datasetName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// parseVersion checks doc against the OneVisit schema profile and returns
// its model. dataset and n come from the file's path.
func parseVersion(dataset string, n int, doc any) (*version, error) {
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, badAt("", "schema is not a JSON object")
	}
	for _, k := range sortedKeys(root) {
		if !rootKeywords[k] {
			if k == "$ref" || k == "$dynamicRef" {
				return nil, refError("", root[k])
			}
			return nil, badAt("/"+escape(k), "keyword not in the OneVisit schema profile")
		}
	}
	v := &version{
		dataset:  dataset,
		n:        n,
		id:       fmt.Sprintf("%s/v%d", dataset, n),
		url:      fmt.Sprintf("%s%s/v%d", IDBase, dataset, n),
		fields:   map[string]*field{},
		required: map[string]bool{},
	}
	if s, _ := root["$schema"].(string); s != Draft2020 {
		return nil, badAt("/$schema", "must be "+Draft2020)
	}
	if s, _ := root["$id"].(string); s != v.url {
		return nil, badAt("/$id", "must be "+v.url)
	}
	for _, k := range []string{"$comment", "title", "description"} {
		if x, ok := root[k]; ok {
			if _, ok := x.(string); !ok {
				return nil, badAt("/"+k, "must be a string")
			}
		}
	}
	if s, _ := root["type"].(string); s != "object" {
		return nil, badAt("/type", `must be "object"`)
	}
	if b, ok := root["additionalProperties"].(bool); !ok || b {
		return nil, badAt("/additionalProperties", "must be false")
	}
	props, ok := root["properties"].(map[string]any)
	if !ok || len(props) == 0 {
		return nil, badAt("/properties", "must be a non-empty object")
	}
	for _, name := range sortedKeys(props) {
		f, err := parseField("/properties/"+escape(name), props[name])
		if err != nil {
			return nil, err
		}
		v.fields[name] = f
		v.names = append(v.names, name)
	}
	if x, ok := root["required"]; ok {
		arr, ok := x.([]any)
		if !ok {
			return nil, badAt("/required", "must be an array of field names")
		}
		for i, e := range arr {
			s, ok := e.(string)
			if !ok || v.fields[s] == nil {
				return nil, badAt(fmt.Sprintf("/required/%d", i), "must name a property")
			}
			if v.required[s] {
				return nil, badAt(fmt.Sprintf("/required/%d", i), "repeats a field")
			}
			v.required[s] = true
		}
	}
	subj, _ := root[KeywordSubject].(string)
	if f := v.fields[subj]; f == nil || !v.required[subj] || !slices.Equal(f.types, []string{"string"}) {
		return nil, badAt("/"+KeywordSubject, "must name a required property of type string")
	}
	v.subject = subj
	switch m := Mode(asString(root[KeywordCompatibility])); m {
	case Backward, Forward, Full, None:
		v.mode = m
	default:
		return nil, badAt("/"+KeywordCompatibility, "must be BACKWARD, FORWARD, FULL or NONE")
	}
	return v, nil
}

func parseField(ptr string, x any) (*field, error) {
	obj, ok := x.(map[string]any)
	if !ok {
		return nil, badAt(ptr, "property schema must be an object")
	}
	for _, k := range sortedKeys(obj) {
		if !fieldKeywords[k] {
			if k == "$ref" || k == "$dynamicRef" {
				return nil, refError(ptr, obj[k])
			}
			return nil, badAt(ptr+"/"+escape(k), "keyword not in the OneVisit schema profile")
		}
	}
	f := &field{maxLength: -1}
	switch t := obj["type"].(type) {
	case string:
		f.types = []string{t}
	case []any:
		for _, e := range t {
			s, _ := e.(string)
			f.types = append(f.types, s)
		}
	default:
		return nil, badAt(ptr+"/type", "required: a type name or an array of them")
	}
	slices.Sort(f.types)
	if len(f.types) == 0 || len(slices.Compact(slices.Clone(f.types))) != len(f.types) {
		return nil, badAt(ptr+"/type", "must list distinct type names")
	}
	for _, t := range f.types {
		if !typeNames[t] {
			return nil, badAt(ptr+"/type", "type must be string, integer, number, boolean or null")
		}
	}
	isString := slices.Contains(f.types, "string")
	isNumber := slices.Contains(f.types, "number") || slices.Contains(f.types, "integer")
	for _, k := range []string{"$comment", "title", "description"} {
		if x, ok := obj[k]; ok {
			if _, ok := x.(string); !ok {
				return nil, badAt(ptr+"/"+k, "must be a string")
			}
		}
	}
	if x, ok := obj["examples"]; ok {
		if _, ok := x.([]any); !ok {
			return nil, badAt(ptr+"/examples", "must be an array")
		}
	}
	if x, ok := obj["format"]; ok {
		s, _ := x.(string)
		if !knownFormats[s] {
			return nil, badAt(ptr+"/format", "unknown format")
		}
		if !isString {
			return nil, badAt(ptr+"/format", "format needs type string")
		}
		f.format = s
	}
	if x, ok := obj["pattern"]; ok {
		s, _ := x.(string)
		if s == "" {
			return nil, badAt(ptr+"/pattern", "must be a non-empty string")
		}
		if _, err := regexp.Compile(s); err != nil {
			return nil, badAt(ptr+"/pattern", "not a regular expression")
		}
		if !isString {
			return nil, badAt(ptr+"/pattern", "pattern needs type string")
		}
		f.pattern = s
	}
	if x, ok := obj["enum"]; ok {
		arr, ok := x.([]any)
		if !ok || len(arr) == 0 {
			return nil, badAt(ptr+"/enum", "must be a non-empty array")
		}
		f.enum = []string{}
		for i, e := range arr {
			c, ok := canonical(e)
			if !ok {
				return nil, badAt(fmt.Sprintf("%s/enum/%d", ptr, i), "enum values must be strings, numbers, booleans or null")
			}
			if slices.Contains(f.enum, c) {
				return nil, badAt(fmt.Sprintf("%s/enum/%d", ptr, i), "repeats a value")
			}
			f.enum = append(f.enum, c)
		}
		slices.Sort(f.enum)
	}
	for _, k := range []string{"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"} {
		x, ok := obj[k]
		if !ok {
			continue
		}
		if !isNumber {
			return nil, badAt(ptr+"/"+k, k+" needs type integer or number")
		}
		r, ok := rat(x)
		if !ok {
			return nil, badAt(ptr+"/"+k, "must be a number")
		}
		b := bound{set: true, value: r, exclusive: strings.HasPrefix(k, "exclusive")}
		if strings.HasSuffix(k, "inimum") {
			f.lower = tighterLower(f.lower, b)
		} else {
			f.upper = tighterUpper(f.upper, b)
		}
	}
	for _, k := range []string{"minLength", "maxLength"} {
		x, ok := obj[k]
		if !ok {
			continue
		}
		if !isString {
			return nil, badAt(ptr+"/"+k, k+" needs type string")
		}
		r, ok := rat(x)
		if !ok || !r.IsInt() || r.Sign() < 0 || !r.Num().IsInt64() || r.Num().Int64() > 1<<31 {
			return nil, badAt(ptr+"/"+k, "must be a non-negative integer")
		}
		if k == "minLength" {
			f.minLength = r.Num().Int64()
		} else {
			f.maxLength = r.Num().Int64()
		}
	}
	return f, nil
}

// tighterLower returns the more restrictive of two lower bounds.
func tighterLower(a, b bound) bound {
	if !a.set {
		return b
	}
	switch c := a.value.Cmp(b.value); {
	case c > 0:
		return a
	case c < 0:
		return b
	}
	if b.exclusive {
		return b
	}
	return a
}

// tighterUpper returns the more restrictive of two upper bounds.
func tighterUpper(a, b bound) bound {
	if !a.set {
		return b
	}
	switch c := a.value.Cmp(b.value); {
	case c < 0:
		return a
	case c > 0:
		return b
	}
	if b.exclusive {
		return b
	}
	return a
}

// rat parses a json.Number into an exact rational.
func rat(x any) (*big.Rat, bool) {
	n, ok := x.(json.Number)
	if !ok {
		return nil, false
	}
	if !numberOK(string(n)) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(string(n))
	return r, ok
}

// canonical renders an enum value so equal JSON values compare equal
// (1 and 1.0 are the same number).
func canonical(x any) (string, bool) {
	switch t := x.(type) {
	case string:
		return "s" + t, true
	case bool:
		if t {
			return "btrue", true
		}
		return "bfalse", true
	case nil:
		return "null", true
	case json.Number:
		r, ok := rat(t)
		if !ok {
			return "", false
		}
		return "n" + r.RatString(), true
	}
	return "", false
}

// display turns a canonical enum value back into text for messages.
func display(c string) string {
	if c == "null" {
		return "null"
	}
	return c[1:] // drop the one-letter kind prefix
}

func asString(x any) string {
	s, _ := x.(string)
	return s
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// escape escapes one JSON pointer token (RFC 6901).
func escape(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// profileError is a schema file problem at a JSON pointer inside the file.
type profileError struct {
	pointer string
	reason  string
}

func (e *profileError) Error() string {
	if e.pointer == "" {
		return e.reason
	}
	return e.pointer + ": " + e.reason
}

func (e *profileError) Unwrap() error { return ErrBadSchema }

func badAt(ptr, reason string) error { return &profileError{pointer: ptr, reason: reason} }

// refError refuses a reference: a remote one by name, a local one because
// the profile keeps every field's rules in the field.
func refError(ptr string, target any) error {
	s, _ := target.(string)
	if strings.HasPrefix(s, "#") {
		return badAt(ptr+"/$ref", "references are not in the OneVisit schema profile")
	}
	return badAt(ptr+"/$ref", "remote reference refused: schemas are never fetched")
}

// maxNumberLen and maxExponent bound the numbers the package will do exact
// arithmetic on: a JSON number such as 1e999999999 is legal but would make
// big.Rat allocate gigabytes. No OneVisit field needs more.
const (
	maxNumberLen = 64
	maxExponent  = 400
)

// numberOK reports whether s is a JSON number within maxNumberLen
// characters whose exponent is at most maxExponent in magnitude.
func numberOK(s string) bool {
	if len(s) > maxNumberLen || !validNumber(s) {
		return false
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	exp := strings.TrimLeft(s[i+1:], "+-")
	exp = strings.TrimLeft(exp, "0")
	return len(exp) <= 3 && atoi(exp) <= maxExponent
}

// validNumber reports whether s is a number in JSON syntax (RFC 8259).
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s) && len(s) > 0
}
