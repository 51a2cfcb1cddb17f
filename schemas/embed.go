package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"sync"
)

// files holds the schema files shipped with OneVisit.
//
//go:embed */v*.json
var files embed.FS

// Files returns the embedded schema files, laid out as Load expects.
func Files() fs.FS { return files }

var loadDefault = sync.OnceValues(func() (*Registry, error) {
	r, err := Load(files)
	if err != nil {
		return nil, err
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return r, nil
})

// Default returns the registry of the embedded schema files, loaded and
// compatibility-checked once per process; later calls return the same
// *Registry, so Add only to a Clone of it. An error means the binary was built with broken schema files
// (a test in this package prevents that).
func Default() (*Registry, error) {
	r, err := loadDefault()
	if err != nil {
		return nil, fmt.Errorf("default schemas: %w", err)
	}
	return r, nil
}
