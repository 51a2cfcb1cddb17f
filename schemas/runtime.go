package schemas

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// Versions at runtime. A running exchange registers a new version of a
// dataset it serves, approved through its control plane, without a
// restart: Prepare checks the schema file as Load would (the profile,
// strict JSON, compiling) and against the dataset's latest version under
// the union of both versions' compatibility modes, as Check would; Add
// makes a prepared version the dataset's latest. Records of every version
// stay valid: each names its schema id.

// Prepared is a schema version checked against a Registry, not yet added.
type Prepared struct {
	v    *compiled
	data []byte
}

// ID is the prepared version's schema id, e.g. "household/v2".
func (p *Prepared) ID() string { return p.v.id }

// Dataset is the prepared version's dataset.
func (p *Prepared) Dataset() string { return p.v.dataset }

// Fields are the prepared version's sorted field names.
func (p *Prepared) Fields() []string { return slices.Clone(p.v.names) }

// Prepare checks data, a schema file, as the next version of an existing
// dataset: its $id must name that dataset and the version after the
// latest. It fails with ErrBadSchema (not strict JSON, outside the
// profile, not the next version of a known dataset) or an error joining
// the *CompatibilityError values (ErrIncompatible). The Registry is not
// changed. A version the Registry holds already, with the same fields
// and subject, is prepared too (Add of it does nothing): a node whose
// schema files have caught up with versions approved at runtime replays
// them to the same outcome as the other nodes.
func (r *Registry) Prepare(data []byte) (*Prepared, error) {
	if len(data) > maxSchemaFile {
		return nil, fmt.Errorf("prepare schema: %w: larger than %d bytes", ErrBadSchema, maxSchemaFile)
	}
	var doc any
	if err := jsonstrict.Decode(data, &doc); err != nil {
		return nil, fmt.Errorf("prepare schema: %w: %v", ErrBadSchema, err)
	}
	root, _ := doc.(map[string]any)
	id, _ := root["$id"].(string)
	name, n, ok := strings.Cut(strings.TrimPrefix(id, IDBase), "/v")
	if !strings.HasPrefix(id, IDBase) || !ok {
		return nil, fmt.Errorf("prepare schema: %w: /$id %q is not %s<dataset>/v<N>", ErrBadSchema, id, IDBase)
	}
	r.mu.RLock()
	d := r.datasets[name]
	have := r.versions[name+"/v"+n]
	var latest *compiled
	if d != nil {
		latest = d.versions[len(d.versions)-1]
	}
	r.mu.RUnlock()
	if d == nil {
		return nil, fmt.Errorf("prepare schema: %w: /$id names dataset %q, which this exchange does not serve", ErrBadSchema, name)
	}
	if have != nil {
		return r.prepareHeld(have, doc, data)
	}
	if want := fmt.Sprint(latest.n + 1); n != want {
		return nil, fmt.Errorf("prepare schema: %w: /$id names version %s of %s; the next version is v%s", ErrBadSchema, n, name, want)
	}
	v, err := parseVersion(name, latest.n+1, doc)
	if err != nil {
		return nil, fmt.Errorf("prepare schema %s/v%s: %w", name, n, err)
	}
	c := newCompiler()
	if err := c.AddResource(v.url, doc); err != nil {
		return nil, fmt.Errorf("prepare schema %s: %w: %v", v.id, ErrBadSchema, err)
	}
	sch, err := c.Compile(v.url)
	if err != nil {
		return nil, fmt.Errorf("prepare schema %s: %w: %v", v.id, ErrBadSchema, err)
	}
	if problems := compare(latest.version, v); len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = p
		}
		return nil, fmt.Errorf("prepare schema %s: %w", v.id, errors.Join(errs...))
	}
	return &Prepared{v: &compiled{version: v, schema: sch}, data: slices.Clone(data)}, nil
}

// prepareHeld prepares a version the registry holds already: the same
// fields and subject, or ErrBadSchema.
func (r *Registry) prepareHeld(have *compiled, doc any, data []byte) (*Prepared, error) {
	v, err := parseVersion(have.dataset, have.n, doc)
	if err != nil {
		return nil, fmt.Errorf("prepare schema %s: %w", have.id, err)
	}
	if v.subject != have.subject || !slices.Equal(v.names, have.names) {
		return nil, fmt.Errorf("prepare schema %s: %w: a different %s is loaded already", have.id, ErrBadSchema, have.id)
	}
	return &Prepared{v: have, data: slices.Clone(data)}, nil
}

// Recheck prepares p's file again against the registry as it is now:
// before a version prepared earlier is added, another may have been.
func (r *Registry) Recheck(p *Prepared) error {
	_, err := r.Prepare(p.data)
	return err
}

// Held reports whether the registry holds p's version already.
func (r *Registry) Held(p *Prepared) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.versions[p.v.id]
	return ok
}

// Add makes p its dataset's latest version. It fails with ErrBadSchema
// when the dataset moved on since Prepare (another version was added).
// Adding a version the Registry holds already, with the same fields and
// subject (a node whose files already had it), is a no-op.
func (r *Registry) Add(p *Prepared) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.datasets[p.v.dataset]
	if d == nil {
		return fmt.Errorf("add schema %s: %w: unknown dataset", p.v.id, ErrBadSchema)
	}
	if have, ok := r.versions[p.v.id]; ok {
		if have.subject == p.v.subject && slices.Equal(have.names, p.v.names) {
			return nil
		}
		return fmt.Errorf("add schema %s: %w: a different %s is loaded already", p.v.id, ErrBadSchema, p.v.id)
	}
	if latest := d.versions[len(d.versions)-1]; latest.n+1 != p.v.n {
		return fmt.Errorf("add schema %s: %w: the latest version is %s now", p.v.id, ErrBadSchema, latest.id)
	}
	d.versions = append(d.versions, p.v)
	r.versions[p.v.id] = p.v
	all := slices.Clone(d.all)
	for _, f := range p.v.names {
		if !slices.Contains(all, f) {
			all = append(all, f)
		}
	}
	slices.Sort(all)
	d.all = all
	return nil
}

// Clone returns a registry with the same versions that changes on its
// own: a running node clones the registry it is given (Default's is
// shared by the whole process) before it Adds to it.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := &Registry{datasets: make(map[string]*dataset, len(r.datasets)), names: slices.Clone(r.names), versions: make(map[string]*compiled, len(r.versions))}
	for k, d := range r.datasets {
		c.datasets[k] = &dataset{name: d.name, versions: slices.Clone(d.versions), all: slices.Clone(d.all)}
	}
	for k, v := range r.versions {
		c.versions[k] = v
	}
	return c
}
