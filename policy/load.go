package policy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	clientRE   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$`)
	purposeRE  = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)
)

const maxPurposeLen = 64

// yamlNode names the YAML library's node type for the parsers in other
// files of the package, so that only this file imports the library.
type yamlNode = yaml.Node

// Load reads every *.yaml and *.yml file under fsys, in lexical path
// order, and builds one Set from all their documents. Field names and
// datasets are checked against cat. On any problem it returns no Set and
// an error joining one *LoadError per problem found.
func Load(fsys fs.FS, cat Catalog) (*Set, error) {
	if cat == nil {
		return nil, errors.New("load policy: nil catalog")
	}
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (path.Ext(p) == ".yaml" || path.Ext(p) == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	slices.Sort(files)
	var docs []Policy
	var errs []error
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("load policy: %w", err)
		}
		d, e := parseFile(f, data, cat)
		docs = append(docs, d...)
		errs = append(errs, e...)
	}
	return build(docs, errs)
}

// Parse builds a Set from the documents of one file; name is used in
// error messages and Policy.Source.
func Parse(name string, data []byte, cat Catalog) (*Set, error) {
	if cat == nil {
		return nil, errors.New("load policy: nil catalog")
	}
	docs, errs := parseFile(name, data, cat)
	return build(docs, errs)
}

func build(docs []Policy, errs []error) (*Set, error) {
	errs = append(errs, checkNames(docs)...)
	errs = append(errs, checkPurposes(docs)...)
	errs = append(errs, checkProcedures(docs)...)
	errs = append(errs, checkSubscriptions(docs)...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("load policy: %w", errors.Join(errs...))
	}
	return newSet(docs), nil
}

// checkNames reports every metadata.name used more than once.
func checkNames(docs []Policy) []error {
	var errs []error
	first := make(map[string]string, len(docs))
	for _, d := range docs {
		if prev, ok := first[d.Name]; ok {
			file, line := splitSource(d.Source)
			errs = append(errs, &LoadError{File: file, Line: line, Kind: ErrDuplicate,
				Msg: fmt.Sprintf("metadata.name %q is already used at %s", d.Name, prev)})
			continue
		}
		first[d.Name] = d.Source
	}
	return errs
}

func splitSource(src string) (string, int) {
	i := strings.LastIndexByte(src, ':')
	n, _ := strconv.Atoi(src[i+1:])
	return src[:i], n
}

// parser collects the problems of one file.
type parser struct {
	file string
	cat  Catalog
	errs []error
}

func parseFile(file string, data []byte, cat Catalog) ([]Policy, []error) {
	p := &parser{file: file, cat: cat}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Policy
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.syntax(err)
			break
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document, as after a trailing "---"
		}
		if d, ok := p.document(root); ok {
			docs = append(docs, d)
		}
	}
	slices.SortStableFunc(p.errs, func(a, b error) int {
		x, y := a.(*LoadError), b.(*LoadError)
		return cmp.Or(cmp.Compare(x.Line, y.Line), cmp.Compare(x.Column, y.Column))
	})
	return docs, p.errs
}

// syntax records an error from the YAML parser, taking its line number
// when it gives one.
func (p *parser) syntax(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			line = n
		}
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.errs = append(p.errs, &LoadError{File: p.file, Line: line, Kind: ErrNotYAML,
		Msg: "not valid YAML: " + msg})
}

func (p *parser) errf(n *yaml.Node, kind error, format string, args ...any) {
	line := max(n.Line, 1)
	p.errs = append(p.errs, &LoadError{File: p.file, Line: line, Column: n.Column, Kind: kind,
		Msg: fmt.Sprintf(format, args...)})
}

// kv is one key: value pair of a mapping.
type kv struct{ key, val *yaml.Node }

// mapping holds a mapping's entries by key, and the mapping node itself
// so that a missing key can be reported at the mapping's line.
type mapping struct {
	at   *yaml.Node // where to report a missing key: the key that holds this mapping
	what string
	m    map[string]kv
}

// mapping checks that n is a mapping whose keys are distinct strings
// from allowed, and returns its entries. at is the node that names the
// mapping (its key in the parent), for reporting missing keys. ok is
// false if n is not a mapping at all.
func (p *parser) mapping(at, n *yaml.Node, what string, allowed ...string) (mapping, bool) {
	mp := mapping{at: at, what: what, m: map[string]kv{}}
	if n.Kind == yaml.AliasNode {
		p.errf(n, ErrBadValue, "%s: aliases are not supported", what)
		return mp, false
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, ErrBadValue, "%s must be a mapping", what)
		return mp, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			p.errf(k, ErrBadValue, "%s: keys must be strings", what)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			p.errf(k, ErrUnknownKey, "unknown key %q in %s (allowed: %s)", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := mp.m[k.Value]; dup {
			p.errf(k, ErrDuplicate, "key %q repeats line %d in %s", k.Value, prev.key.Line, what)
			continue
		}
		mp.m[k.Value] = kv{k, v}
	}
	return mp, true
}

// value returns the node under key, or nil if the key is absent or null.
// A required absent key is reported.
func (p *parser) value(mp mapping, key string, required bool) *yaml.Node {
	e, ok := mp.m[key]
	if !ok || (e.val.Kind == yaml.ScalarNode && e.val.Tag == "!!null") {
		if required {
			at := mp.at
			if ok {
				at = e.key
			}
			p.errf(at, ErrMissing, "%s: %s is required", mp.what, key)
		}
		return nil
	}
	if e.val.Kind == yaml.AliasNode {
		p.errf(e.val, ErrBadValue, "%s.%s: aliases are not supported", mp.what, key)
		return nil
	}
	return e.val
}

// str returns a required or optional string; "" when absent or bad.
func (p *parser) str(mp mapping, key string, required bool) (string, *yaml.Node) {
	n := p.value(mp, key, required)
	if n == nil {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errf(n, ErrBadValue, "%s.%s must be a string", mp.what, key)
		return "", nil
	}
	if required && n.Value == "" {
		p.errf(n, ErrMissing, "%s: %s is required", mp.what, key)
		return "", nil
	}
	return n.Value, n
}

// list returns a list of distinct strings, sorted, with the node of each
// (in the sorted order). A required list must not be empty.
func (p *parser) list(mp mapping, key string, required bool) ([]string, []*yaml.Node) {
	n := p.value(mp, key, required)
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, ErrBadValue, "%s.%s must be a list of strings", mp.what, key)
		return nil, nil
	}
	if len(n.Content) == 0 {
		if required {
			p.errf(n, ErrMissing, "%s.%s must not be empty", mp.what, key)
		}
		return nil, nil
	}
	type item struct {
		s string
		n *yaml.Node
	}
	var items []item
	seen := map[string]bool{}
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Tag != "!!str" || c.Value == "" {
			p.errf(c, ErrBadValue, "%s.%s entries must be non-empty strings", mp.what, key)
			continue
		}
		if seen[c.Value] {
			p.errf(c, ErrDuplicate, "%s.%s lists %q twice", mp.what, key, c.Value)
			continue
		}
		seen[c.Value] = true
		items = append(items, item{c.Value, c})
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.s, b.s) })
	out, nodes := make([]string, len(items)), make([]*yaml.Node, len(items))
	for i, it := range items {
		out[i], nodes[i] = it.s, it.n
	}
	return out, nodes
}

func (p *parser) boolean(mp mapping, key string) bool {
	n := p.value(mp, key, false)
	if n == nil {
		return false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.errf(n, ErrBadValue, "%s.%s must be true or false", mp.what, key)
		return false
	}
	return b // yaml.v3 also spells true as True and TRUE
}

func (p *parser) time(mp mapping, key string) (time.Time, *yaml.Node) {
	n := p.value(mp, key, false)
	if n == nil {
		return time.Time{}, nil
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!timestamp" || n.Tag == "!!str") {
		if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
			return t.UTC(), n
		}
	}
	p.errf(n, ErrBadValue, "%s.%s must be an RFC 3339 time with a zone, like 2026-01-01T00:00:00Z", mp.what, key)
	return time.Time{}, nil
}

func (p *parser) document(root *yaml.Node) (Policy, bool) {
	if root.Kind != yaml.MappingNode {
		p.errf(root, ErrNotYAML, "document must be a mapping with kind, metadata and spec")
		return Policy{}, false
	}
	before := len(p.errs)
	top, _ := p.mapping(root, root, "document", "kind", "metadata", "spec")
	kind, kn := p.str(top, "kind", true)
	pol := Policy{Kind: Kind(kind), Source: fmt.Sprintf("%s:%d", p.file, root.Line)}
	switch pol.Kind {
	case KindPublisherGrant, KindAccessPolicy, KindForbid, KindPurpose, KindProcedure, KindSubscription:
	case "":
		return Policy{}, false // reported by str
	default:
		p.errf(kn, ErrUnknownKind, "unknown kind %q (want PublisherGrant, AccessPolicy, Forbid, Purpose, Procedure or Subscription)", kind)
		return Policy{}, false
	}
	if n := p.value(top, "metadata", true); n != nil {
		if md, ok := p.mapping(top.m["metadata"].key, n, kind+" metadata", "name", "description"); ok {
			var nn *yaml.Node
			pol.Name, nn = p.str(md, "name", true)
			if nn != nil && !nameRE.MatchString(pol.Name) {
				p.errf(nn, ErrBadValue, "metadata.name %q must be lower case letters, digits, '-' and '.', at most 253", pol.Name)
			}
			pol.Description, _ = p.str(md, "description", false)
		}
	}
	if n := p.value(top, "spec", true); n != nil {
		at := top.m["spec"].key
		switch pol.Kind {
		case KindPublisherGrant:
			p.grantSpec(at, n, &pol)
		case KindAccessPolicy:
			p.accessSpec(at, n, &pol)
		case KindForbid:
			p.forbidSpec(at, n, &pol)
		case KindPurpose:
			p.purposeSpec(at, n, &pol)
		case KindProcedure:
			p.procedureSpec(at, n, &pol)
		case KindSubscription:
			p.subscriptionSpec(at, n, &pol)
		}
	}
	return pol, len(p.errs) == before
}

func (p *parser) client(mp mapping, key string, wildcard bool) string {
	s, n := p.str(mp, key, true)
	if n == nil || (wildcard && s == Wildcard) {
		return s
	}
	if !clientRE.MatchString(s) {
		p.errf(n, ErrBadValue, "%s %q is not a client id (letters, digits, '.', '_', '-', at most 128)", key, s)
	}
	return s
}

// dataset checks the dataset against the catalogue and returns its
// fields (nil if unknown).
func (p *parser) dataset(n *yaml.Node, ds string) (map[string]bool, bool) {
	fields, ok := p.cat.Fields(ds)
	if !ok {
		p.errf(n, ErrUnknownDataset, "unknown dataset %q", ds)
		return nil, false
	}
	set := make(map[string]bool, len(fields))
	for _, f := range fields {
		set[f] = true
	}
	return set, true
}

func (p *parser) grantSpec(at, n *yaml.Node, pol *Policy) {
	sp, ok := p.mapping(at, n, "PublisherGrant spec", "publisher", "datasets", "mode")
	if !ok {
		return
	}
	pol.Publisher = p.client(sp, "publisher", false)
	if mode, mn := p.str(sp, "mode", false); mn != nil {
		switch Mode(mode) {
		case ModeReplicated:
		case ModeLive:
			pol.Mode = ModeLive
		default:
			p.errf(mn, ErrBadValue, "mode %q: want replicated (the default) or live", mode)
		}
	}
	var nodes []*yaml.Node
	pol.Datasets, nodes = p.list(sp, "datasets", true)
	for i, ds := range pol.Datasets {
		p.dataset(nodes[i], ds)
	}
}

func (p *parser) accessSpec(at, n *yaml.Node, pol *Policy) {
	sp, ok := p.mapping(at, n, "AccessPolicy spec", "consumer", "dataset", "purposes", "fields",
		"requireCaseId", "validFrom", "validUntil", "limits", "conditions")
	if !ok {
		return
	}
	pol.Consumer = p.client(sp, "consumer", false)
	var dn *yaml.Node
	pol.Dataset, dn = p.str(sp, "dataset", true)
	var nodes []*yaml.Node
	pol.Purposes, nodes = p.list(sp, "purposes", true)
	for i, pu := range pol.Purposes {
		if len(pu) > maxPurposeLen || !purposeRE.MatchString(pu) {
			p.errf(nodes[i], ErrBadValue, "purpose %q must be lower snake case, like school_enrolment, at most %d", pu, maxPurposeLen)
		}
	}
	pol.Fields, nodes = p.list(sp, "fields", true)
	if dn != nil {
		if known, ok := p.dataset(dn, pol.Dataset); ok {
			for i, f := range pol.Fields {
				if !known[f] {
					p.errf(nodes[i], ErrUnknownField, "dataset %s has no field %q", pol.Dataset, f)
				}
			}
		}
	}
	pol.RequireCaseID = p.boolean(sp, "requireCaseId")
	pol.ValidFrom, _ = p.time(sp, "validFrom")
	var un *yaml.Node
	pol.ValidUntil, un = p.time(sp, "validUntil")
	if !pol.ValidFrom.IsZero() && !pol.ValidUntil.IsZero() && pol.ValidUntil.Before(pol.ValidFrom) {
		p.errf(un, ErrBadValidity, "validUntil %s is before validFrom %s",
			pol.ValidUntil.Format(time.RFC3339), pol.ValidFrom.Format(time.RFC3339))
	}
	p.limitsSpec(sp, pol)
	p.conditionsSpec(sp, pol)
}

func (p *parser) forbidSpec(at, n *yaml.Node, pol *Policy) {
	sp, ok := p.mapping(at, n, "Forbid spec", "consumer", "dataset", "fields")
	if !ok {
		return
	}
	pol.Consumer = p.client(sp, "consumer", true)
	var dn *yaml.Node
	pol.Dataset, dn = p.str(sp, "dataset", true)
	var nodes []*yaml.Node
	pol.Fields, nodes = p.list(sp, "fields", true)
	if slices.Contains(pol.Fields, Wildcard) && len(pol.Fields) > 1 {
		p.errf(nodes[0], ErrBadValue, "Forbid spec.fields: \"*\" must be the only entry")
	}
	if dn != nil {
		if known, ok := p.dataset(dn, pol.Dataset); ok {
			for i, f := range pol.Fields {
				if f != Wildcard && !known[f] {
					p.errf(nodes[i], ErrUnknownField, "dataset %s has no field %q", pol.Dataset, f)
				}
			}
		}
	}
}
