package bus

import "testing"

// TestTransportIsSharedPerSettings: writers and clients made from equal
// settings share one transport (one metadata refresher), and different
// credentials never share one.
func TestTransportIsSharedPerSettings(t *testing.T) {
	a := Config{Brokers: []string{"127.0.0.1:1"}, SASLMechanism: "PLAIN", User: "u1", Password: "p"}
	t1, err := a.Transport()
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := a.Transport()
	if t1 != t2 {
		t.Errorf("two transports for equal settings")
	}
	b := a
	b.User = "u2"
	t3, _ := b.Transport()
	if t3 == t1 {
		t.Errorf("settings with another user share a transport")
	}
	w, err := a.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Transport != t1 {
		t.Errorf("the writer does not use the shared transport")
	}
}
