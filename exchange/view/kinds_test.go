package view_test

import (
	"bytes"
	"testing"

	"github.com/onevisit/onevisit/exchange/view"
)

// testKey is the store MAC key of the views on disk in these tests.
var testKey = bytes.Repeat([]byte{7}, 32)

// kinds are the two ways to keep a view: the golden behaviour tests run
// the same table against both, so the store on disk decides exactly as
// the map in memory does.
var kinds = []struct {
	name string
	open func(t *testing.T) *view.View
}{
	{"memory", func(*testing.T) *view.View { return view.New(1024) }},
	{"disk", func(t *testing.T) *view.View { return openDisk(t, t.TempDir()) }},
}

// openDisk opens a view on disk in dir, closed when the test ends.
func openDisk(t *testing.T, dir string) *view.View {
	t.Helper()
	v, err := view.Open(dir, testKey, view.Options{CacheBytes: 1 << 20})
	if err != nil {
		t.Fatalf("open view store: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// forEachKind runs test once against each kind of view.
func forEachKind(t *testing.T, test func(t *testing.T, v *view.View)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { test(t, k.open(t)) })
	}
}
