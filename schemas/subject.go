package schemas

import "fmt"

// SubjectFormat returns the format of the dataset's subject field in its
// latest version: FormatResidentID for datasets about persons,
// FormatCreditCode for datasets about organisations (business_licence),
// "" when the subject field declares no format. ok is false for an
// unknown dataset.
func (r *Registry) SubjectFormat(dataset string) (format string, ok bool) {
	d, ok := r.datasets[dataset]
	if !ok {
		return "", false
	}
	latest := d.versions[len(d.versions)-1]
	if f := latest.fields[latest.subject]; f != nil {
		return f.format, true
	}
	return "", true
}

// ValidSubject checks value as a subject of dataset, by the format of
// the dataset's subject field (SubjectFormat): a resident identity number
// (ValidResidentID) or a unified social credit code (ValidCreditCode).
// A subject field with another format, or none, takes any non-empty
// value. Errors are *FormatError, or name the unknown dataset.
func (r *Registry) ValidSubject(dataset, value string) error {
	format, ok := r.SubjectFormat(dataset)
	if !ok {
		return fmt.Errorf("subject of %q: %w", dataset, ErrUnknownDataset)
	}
	return ValidSubjectFormat(format, value)
}

// ValidSubjectFormat checks value against a subject format:
// FormatResidentID, FormatCreditCode, or any other (including "") which
// takes any non-empty value.
func ValidSubjectFormat(format, value string) error {
	switch format {
	case FormatResidentID:
		return ValidResidentID(value)
	case FormatCreditCode:
		return ValidCreditCode(value)
	}
	if value == "" {
		return &FormatError{Format: format, Reason: ReasonLength}
	}
	return nil
}
