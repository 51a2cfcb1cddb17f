package connectors_test

import (
	"testing"

	"github.com/onevisit/onevisit/connectors"
)

// TestAPIErrorNamesField: the SDK's error (what the CLI prints) names the
// field the exchange pointed at.
func TestAPIErrorNamesField(t *testing.T) {
	tests := []struct {
		name string
		err  connectors.APIError
		want string
	}{
		{"with pointer", connectors.APIError{Status: 400, Code: "missing_field", Message: "a required field is missing or empty (see pointer)", Pointer: "/case_id", RequestID: "r1"},
			"exchange answered 400 missing_field at /case_id: a required field is missing or empty (see pointer) (request r1)"},
		{"without pointer", connectors.APIError{Status: 403, Code: "denied", Message: "no policy allows this access", RequestID: "r2"},
			"exchange answered 403 denied: no policy allows this access (request r2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
