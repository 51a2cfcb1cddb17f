package schemas

import (
	"errors"
	"testing"
)

// TestValidSubject: each dataset's subjects are checked by its subject
// field's format: credit codes for business_licence, resident IDs for
// the datasets about persons.
func TestValidSubject(t *testing.T) {
	reg, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dataset, value string
		wantFormat           string
		wantErr              error
	}{
		{"credit code of a company", "business_licence", "91330106MA2KXY7T3M", FormatCreditCode, nil},
		{"resident ID as a company", "business_licence", "330106202003080153", FormatCreditCode, ErrInvalid},
		{"credit code with a wrong check character", "business_licence", "91330106MA2KXY7T3N", FormatCreditCode, ErrInvalid},
		{"resident ID of a child", "birth", "330106202003080153", FormatResidentID, nil},
		{"credit code as a person", "marriage", "91330106MA2KXY7T3M", FormatResidentID, ErrInvalid},
		{"resident ID of an insured person", "social_insurance", "330106195611040339", FormatResidentID, nil},
		{"unknown dataset", "fishing_licence", "330106202003080153", "", ErrUnknownDataset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if f, _ := reg.SubjectFormat(tc.dataset); f != tc.wantFormat {
				t.Errorf("SubjectFormat(%s) = %q, want %q", tc.dataset, f, tc.wantFormat)
			}
			err := reg.ValidSubject(tc.dataset, tc.value)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("ValidSubject = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
