package policy

import (
	"os"
	"testing"
)

func TestKnownPurpose(t *testing.T) {
	set, err := Load(os.DirFS("examples"), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, purpose string
		want          bool
	}{
		{"declared by an example policy", "school_enrolment", true},
		{"typo", "school_enrollment", false},
		{"empty", "", false},
		{"free text", "because I want to", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := set.KnownPurpose(tt.purpose); got != tt.want {
				t.Errorf("KnownPurpose(%q) = %v, want %v", tt.purpose, got, tt.want)
			}
		})
	}
	var nilSet *Set
	if nilSet.KnownPurpose("school_enrolment") {
		t.Error("a nil set knows a purpose")
	}
}
