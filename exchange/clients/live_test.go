package clients_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/clients"
)

// TestLive: the file's clients plus enrolments; a disabled client is
// unknown to Role and Client but still listed and never re-enrolled.
func TestLive(t *testing.T) {
	boot, err := clients.Parse([]byte(`{"clients":[{"client_id":"officer-a","role":"officer"},{"client_id":"school","role":"consumer"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	l := clients.NewLive(boot)
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"enrol", func() error { return l.Add(clients.Client{ID: "meals", Role: "consumer"}) }, nil},
		{"enrol again", func() error { return l.Add(clients.Client{ID: "meals", Role: "consumer"}) }, clients.ErrDuplicate},
		{"enrol a file client's id", func() error { return l.Add(clients.Client{ID: "school", Role: "publisher"}) }, clients.ErrDuplicate},
		{"enrol an unknown role", func() error { return l.Add(clients.Client{ID: "root", Role: "admin"}) }, clients.ErrInvalid},
		{"enrol a bad id", func() error { return l.Add(clients.Client{ID: "X", Role: "consumer"}) }, clients.ErrInvalid},
		{"disable a file client", func() error { return l.Disable("school", at) }, nil},
		{"disable it again", func() error { return l.Disable("school", at) }, clients.ErrUnknown},
		{"disable an unknown client", func() error { return l.Disable("nobody", at) }, clients.ErrUnknown},
		{"re-enrol a disabled id", func() error { return l.Add(clients.Client{ID: "school", Role: "consumer"}) }, clients.ErrDuplicate},
	}
	for _, s := range steps {
		if err := s.do(); !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.wantErr)
		}
	}
	roles := map[string]string{}
	for _, id := range []string{"officer-a", "school", "meals", "nobody"} {
		if r, ok := l.Role(id); ok {
			roles[id] = r
		}
	}
	if want := map[string]string{"officer-a": "officer", "meals": "consumer"}; !reflect.DeepEqual(roles, want) {
		t.Fatalf("roles %v, want %v", roles, want)
	}
	want := []clients.Entry{
		{Client: clients.Client{ID: "meals", Role: "consumer"}, Source: clients.SourceControl},
		{Client: clients.Client{ID: "officer-a", Role: "officer"}, Source: clients.SourceFile},
		{Client: clients.Client{ID: "school", Role: "consumer"}, Source: clients.SourceFile, Disabled: true, DisabledAt: at},
	}
	if got := l.Entries(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Entries:\n got %+v\nwant %+v", got, want)
	}
	if !l.Known("school") || l.Known("nobody") {
		t.Fatal("Known: school (disabled) must be known, nobody not")
	}
}
