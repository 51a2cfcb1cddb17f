package query

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Checks of request fields, shared by every route that takes them (a
// policy explanation makes the same checks as a query, so it never
// permits what the query then refuses). Each error is a
// *codes.FieldError naming the field by JSON pointer, so the client sees
// which field and why; none puts the value into the error (the detail
// goes to the log).

// Required returns a missing_field error for the first empty field;
// pairs are pointer, value.
func Required(op string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return &codes.FieldError{Pointer: pairs[i], Err: fmt.Errorf("%s: %s is required: %w", op, pairs[i], codes.ErrMissingField)}
		}
	}
	return nil
}

// CheckSubject checks a resident identity number and says what is wrong
// with it: a wrong check character, a lowercase x, or another format
// problem (length, character, area code, birth date).
func CheckSubject(op, subject string) error {
	err := schemas.ValidResidentID(subject)
	if err == nil {
		return nil
	}
	cause := codes.ErrBadSubject
	var fe *schemas.FormatError
	switch {
	case len(subject) == 18 && subject[17] == 'x' && schemas.ValidResidentID(subject[:17]+"X") == nil:
		cause = codes.ErrLowercaseX
	case errors.As(err, &fe) && fe.Reason == schemas.ReasonCheckCharacter:
		cause = codes.ErrBadCheckCharacter
	}
	return &codes.FieldError{Pointer: "/subject", Err: fmt.Errorf("%s: %v: %w", op, err, cause)}
}

// CheckSubjectOf checks subject as a subject of dataset, whose schema
// says what identifies its subjects: a unified social credit code
// (invalid_credit_code, codes.ErrBadCreditCode) for datasets about
// organisations, otherwise a resident identity number as CheckSubject
// checks it. pointer names the request field ("/subject",
// "/subjects/company"). Call it after CheckDataset.
func CheckSubjectOf(op string, reg *schemas.Registry, dataset, pointer, subject string) error {
	format, _ := reg.SubjectFormat(dataset)
	return CheckSubjectFormat(op, format, pointer, subject)
}

// CheckSubjectFormat checks subject against a subject format
// (schemas.FormatCreditCode, or a resident identity number for any
// other), naming the field by pointer.
func CheckSubjectFormat(op, format, pointer, subject string) error {
	if format == schemas.FormatCreditCode {
		if err := schemas.ValidCreditCode(subject); err != nil {
			return &codes.FieldError{Pointer: pointer, Err: fmt.Errorf("%s: %v: %w", op, err, codes.ErrBadCreditCode)}
		}
		return nil
	}
	err := CheckSubject(op, subject)
	var fe *codes.FieldError
	if errors.As(err, &fe) {
		fe.Pointer = pointer
	}
	return err
}

// CheckDataset refuses a dataset the catalogue does not have.
func CheckDataset(op string, reg *schemas.Registry, dataset string) error {
	if _, ok := reg.Dataset(dataset); !ok {
		return &codes.FieldError{Pointer: "/dataset", Err: fmt.Errorf("%s: %w", op, codes.ErrUnknownDataset)}
	}
	return nil
}

// CheckPurpose refuses a purpose no policy declares: a typo is not a
// denial, and free text never reaches the audit log.
func CheckPurpose(op string, pol *policy.Set, purpose string) error {
	if len(purpose) > codes.MaxPurpose || !pol.KnownPurpose(purpose) {
		return &codes.FieldError{Pointer: "/purpose", Err: fmt.Errorf("%s: %d-byte purpose: %w", op, len(purpose), codes.ErrUnknownPurpose)}
	}
	return nil
}

// caseIDRE is what a case id may look like; schemas.ContainsIdentity
// refuses identity numbers and credit codes inside one too. Case ids are
// written to the permanent audit log.
var caseIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)

// CheckCaseID checks a case id; "" is left to the policy (which may
// require one).
func CheckCaseID(op, caseID string) error {
	if caseID == "" {
		return nil
	}
	if len(caseID) > codes.MaxCaseID || !caseIDRE.MatchString(caseID) || schemas.ContainsIdentity(caseID) {
		return &codes.FieldError{Pointer: "/case_id", Err: fmt.Errorf("%s: %d-byte case id: %w", op, len(caseID), codes.ErrBadCaseID)}
	}
	return nil
}

// CheckCaseIDFormat checks a case id against the format its purpose
// declares (a Purpose document's caseIdPattern, policy.Set.CheckCaseID):
// the error names /case_id and wraps policy.ErrBadCaseID (bad_case_id).
// Call it after CheckPurpose and CheckCaseID have passed.
func CheckCaseIDFormat(op string, pol *policy.Set, purpose, caseID string) error {
	if err := pol.CheckCaseID(purpose, caseID); err != nil {
		return &codes.FieldError{Pointer: "/case_id", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return nil
}
