package connectors

import "testing"

// TestIDWindow: the subscriber's de-duplication remembers exactly the
// last n delivery ids.
func TestIDWindow(t *testing.T) {
	w := newIDWindow(2)
	w.add("a")
	w.add("b")
	tests := []struct {
		name string
		add  string
		want map[string]bool
	}{
		{"both held", "", map[string]bool{"a": true, "b": true, "c": false}},
		{"a third evicts the oldest", "c", map[string]bool{"a": false, "b": true, "c": true}},
		{"and the next", "d", map[string]bool{"b": false, "c": true, "d": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.add != "" {
				w.add(tt.add)
			}
			for id, want := range tt.want {
				if got := w.has(id); got != want {
					t.Errorf("has(%s) = %v, want %v", id, got, want)
				}
			}
		})
	}
}
