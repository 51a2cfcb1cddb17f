// Package viewtest puts a view store on a disk that fails, for the tests
// of the view and of what reads it.
package viewtest

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"

	"github.com/onevisit/onevisit/exchange/view"
)

// OpenFailingReads opens the store in dir (written and closed before,
// under key) over a filesystem that fails every read of its table files
// while the returned flag is set (with errorfs.ErrInjected), and with a
// block cache too small to hold a block, so every read goes to the files.
// The view is closed when t ends.
func OpenFailingReads(t testing.TB, dir string, key []byte) (*view.View, *atomic.Bool) {
	t.Helper()
	failing := new(atomic.Bool)
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op, path string) error {
		if failing.Load() && op.OpKind() == errorfs.OpKindRead && strings.HasSuffix(path, ".sst") {
			return errorfs.ErrInjected
		}
		return nil
	}))
	v, err := view.Open(dir, key, view.Options{CacheBytes: 1, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, failing
}
