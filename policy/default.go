package policy

import "embed"

//go:embed examples/*.yaml
var examples embed.FS

// Default loads the example policies embedded in the binary (the files
// under policy/examples), checked against cat. It is what `onevisit dev`
// runs with when no policy directory is given.
func Default(cat Catalog) (*Set, error) {
	return Load(examples, cat)
}
