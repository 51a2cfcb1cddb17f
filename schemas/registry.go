package schemas

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// maxSchemaFile bounds the size of one schema file.
const maxSchemaFile = 1 << 20

// Registry holds the compiled schema versions of every dataset. It is
// safe for concurrent use; after Load it changes only by Add (a new
// version of a dataset, runtime.go), and a version never changes.
type Registry struct {
	mu       sync.RWMutex // guards the maps and each dataset's versions and all
	datasets map[string]*dataset
	names    []string
	versions map[string]*compiled // by schema id, "household/v1"
}

type dataset struct {
	name     string
	versions []*compiled // v1, v2, ... in order
	all      []string    // sorted union of field names over versions
}

type compiled struct {
	*version
	schema *jsonschema.Schema
}

// Dataset describes one dataset of a Registry. Its slices are copies.
type Dataset struct {
	// Name is the dataset name, e.g. "household".
	Name string
	// Latest is the schema id of the newest version, e.g. "household/v2".
	Latest string
	// Subject is the field of the latest version that identifies the
	// citizen (x-onevisit-subject).
	Subject string
	// Mode is the compatibility mode the latest version declares.
	Mode Mode
	// Fields are the sorted field names of the latest version.
	Fields []string
	// Required are the sorted required field names of the latest version.
	Required []string
	// Versions are the schema ids of all versions, oldest first.
	Versions []string
}

// refuseLoader is the compiler's only URL loader: it loads nothing, so a
// schema can never make the process fetch a file or a URL.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, errors.New("remote reference refused: schemas are never fetched")
}

var _ jsonschema.URLLoader = refuseLoader{}

// Load reads every dataset from fsys: each top-level folder that holds at
// least one file named v<N>.json is a dataset named after the folder, and
// those files are its versions (see the package doc for the rules). Load
// checks each file against the OneVisit schema profile and compiles it; it
// does not check compatibility between versions (call Check). Errors wrap
// ErrBadSchema.
func Load(fsys fs.FS) (*Registry, error) {
	r, err := load(fsys)
	if err != nil {
		return nil, fmt.Errorf("load schemas: %w", err)
	}
	return r, nil
}

func load(fsys fs.FS) (*Registry, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	c := newCompiler()
	r := &Registry{datasets: map[string]*dataset{}, versions: map[string]*compiled{}}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := versionFiles(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			continue
		}
		if !datasetName.MatchString(e.Name()) {
			return nil, fmt.Errorf("%w: %s: dataset folder names are lower-case letters, digits and _", ErrBadSchema, quote(e.Name()))
		}
		d := &dataset{name: e.Name()}
		for i, name := range files {
			v, err := loadVersion(c, fsys, e.Name(), i+1, name)
			if err != nil {
				return nil, err
			}
			d.versions = append(d.versions, v)
			r.versions[v.id] = v
			for _, f := range v.names {
				if !slices.Contains(d.all, f) {
					d.all = append(d.all, f)
				}
			}
		}
		slices.Sort(d.all)
		r.datasets[d.name] = d
		r.names = append(r.names, d.name)
	}
	if len(r.names) == 0 {
		return nil, fmt.Errorf("%w: no dataset folder with a v<N>.json file", ErrBadSchema)
	}
	slices.Sort(r.names)
	return r, nil
}

// versionFiles lists the version files in a dataset folder in version
// order, checking that they are v1.json, v2.json, ... without gaps. A
// folder without any v<N>.json is no dataset (nil, nil); in a dataset
// folder other .json files are errors; files of other types are ignored.
func versionFiles(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	byN := map[int]string{}
	stray := ""
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		num, ok := strings.CutPrefix(strings.TrimSuffix(name, ".json"), "v")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 || strconv.Itoa(n) != num {
			if stray == "" {
				stray = name
			}
			continue
		}
		byN[n] = name
	}
	if len(byN) == 0 {
		return nil, nil // not a dataset folder
	}
	if stray != "" {
		return nil, fmt.Errorf("%w: %s: schema files are named v1.json, v2.json, ...", ErrBadSchema, path.Join(dir, stray))
	}
	files := make([]string, 0, len(byN))
	for n := 1; n <= len(byN); n++ {
		name, ok := byN[n]
		if !ok {
			return nil, fmt.Errorf("%w: %s: versions must run v1, v2, ... without gaps; v%d is missing", ErrBadSchema, dir, n)
		}
		files = append(files, name)
	}
	return files, nil
}

func loadVersion(c *jsonschema.Compiler, fsys fs.FS, dir string, n int, name string) (*compiled, error) {
	file := path.Join(dir, name)
	data, err := readLimited(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSchema, file, err)
	}
	var doc any
	if err := jsonstrict.Decode(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSchema, file, err)
	}
	v, err := parseVersion(dir, n, doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := c.AddResource(v.url, doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSchema, file, err)
	}
	sch, err := c.Compile(v.url)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadSchema, file, err)
	}
	return &compiled{version: v, schema: sch}, nil
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSchemaFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSchemaFile {
		return nil, fmt.Errorf("larger than %d bytes", maxSchemaFile)
	}
	return data, nil
}

func newCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	c.RegisterFormat(&jsonschema.Format{Name: FormatResidentID, Validate: stringFormat(ValidResidentID)})
	c.RegisterFormat(&jsonschema.Format{Name: FormatCreditCode, Validate: stringFormat(ValidCreditCode)})
	c.RegisterFormat(&jsonschema.Format{Name: FormatUnitNumber, Validate: stringFormat(ValidUnitNumber)})
	c.RegisterFormat(&jsonschema.Format{Name: FormatDate, Validate: stringFormat(validDate)})
	return c
}

// stringFormat adapts a string check to jsonschema: formats apply only to
// strings (a value of another type is the "type" keyword's business).
func stringFormat(check func(string) error) func(any) error {
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		return check(s)
	}
}

// lookup resolves a schema id "dataset/vN".
func (r *Registry) lookup(id string) (*compiled, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if v, ok := r.versions[id]; ok {
		return v, nil
	}
	name, _, ok := strings.Cut(id, "/")
	if !ok || r.datasets[name] == nil {
		return nil, &idError{kind: ErrUnknownDataset, id: id}
	}
	return nil, &idError{kind: ErrUnknownVersion, id: id}
}

// Datasets returns the sorted dataset names.
func (r *Registry) Datasets() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.names)
}

// Dataset describes the named dataset.
func (r *Registry) Dataset(name string) (Dataset, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.datasets[name]
	if !ok {
		return Dataset{}, false
	}
	latest := d.versions[len(d.versions)-1]
	out := Dataset{
		Name:    d.name,
		Latest:  latest.id,
		Subject: latest.subject,
		Mode:    latest.mode,
		Fields:  slices.Clone(latest.names),
	}
	for _, f := range latest.names {
		if latest.required[f] {
			out.Required = append(out.Required, f)
		}
	}
	for _, v := range d.versions {
		out.Versions = append(out.Versions, v.id)
	}
	return out, true
}

// Fields returns the sorted names of every field that any version of the
// dataset defines, so a policy can be refused for naming a field that no
// version has.
func (r *Registry) Fields(dataset string) ([]string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.datasets[dataset]
	if !ok {
		return nil, false
	}
	return slices.Clone(d.all), true
}

// SchemaFields returns the sorted field names of one schema version and
// the subject field, or an error wrapping ErrUnknownSchema.
func (r *Registry) SchemaFields(schemaID string) (fields []string, subject string, err error) {
	v, err := r.lookup(schemaID)
	if err != nil {
		return nil, "", fmt.Errorf("schema fields: %w", err)
	}
	return slices.Clone(v.names), v.subject, nil
}
