package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Decision errors. (Decision).Err returns a *DenyError that wraps ErrDenied
// and, where one applies, exactly one of the more specific sentinels below.
var (
	// ErrDenied: the request is not allowed. The caller must not return
	// any data; it answers "forbidden" and keeps the reasons for officers.
	ErrDenied error = &codedError{"denied by policy", "denied"}
	// ErrCaseIDRequired: a policy would allow the request if it carried a
	// case id. The caller should ask the client to resend with its case id.
	ErrCaseIDRequired error = &codedError{"case id required", "case_id_required"}
	// ErrPurposeNotAllowed: policies exist for this consumer and dataset,
	// but none for the stated purpose. The caller reports the purpose as
	// not allowed; retrying with a different purpose is the client's
	// choice and must be a true statement of why it asks.
	ErrPurposeNotAllowed error = &codedError{"purpose not allowed", "purpose_not_allowed"}
	// ErrOutsideValidity: a policy for this purpose exists but is not yet
	// valid or has expired. The caller reports it; an officer must renew
	// the policy.
	ErrOutsideValidity error = &codedError{"policy outside its validity window", "policy_expired"}
	// ErrForbidden: permits matched but Forbid documents withheld every
	// field they granted. Nothing will change until an officer changes
	// the Forbid.
	ErrForbidden error = &codedError{"forbidden by policy", "forbidden_by_policy"}
)

// Load errors. Every error from Load and Parse is (or joins) *LoadError
// values; each wraps ErrInvalid and one of the specific sentinels below.
// The caller must refuse the whole policy set: a set that fails to load
// is never partly applied, so keep serving the previous set (or deny
// everything) and show the errors to the officer who wrote the change.
var (
	// ErrInvalid wraps every load error.
	ErrInvalid = errors.New("invalid policy")
	// ErrNotYAML: the file is not well-formed YAML, or a document in it
	// is not a mapping.
	ErrNotYAML = errors.New("not a YAML mapping")
	// ErrUnknownKey: a key that the document's kind does not define
	// (decoding is strict everywhere, so a typo is never ignored).
	ErrUnknownKey = errors.New("unknown key")
	// ErrUnknownKind: kind is not PublisherGrant, AccessPolicy, Forbid,
	// Purpose, Procedure or Subscription.
	ErrUnknownKind = errors.New("unknown kind")
	// ErrMissing: a required key is absent or empty, including an empty
	// list of fields, purposes or datasets.
	ErrMissing = errors.New("missing value")
	// ErrDuplicate: a metadata.name used twice in the set, a key repeated
	// in one mapping, or an entry repeated in one list.
	ErrDuplicate = errors.New("duplicate")
	// ErrUnknownDataset: the catalogue does not know the dataset.
	ErrUnknownDataset = errors.New("unknown dataset")
	// ErrUnknownField: no version of the dataset's schema defines the field.
	ErrUnknownField error = &codedError{"unknown field", "unknown_policy_field"}
	// ErrBadValue: a value of the wrong YAML type or syntax: a purpose
	// that is not lower snake case, a name or client id with characters
	// outside the allowed set, a time that is not RFC 3339, an alias.
	ErrBadValue = errors.New("bad value")
	// ErrBadValidity: validUntil is before validFrom.
	ErrBadValidity = errors.New("validity window ends before it starts")
	// ErrUnknownRole: a procedure's evidence names a subject role that is
	// not one of Roles.
	ErrUnknownRole = errors.New("unknown role")
	// ErrUnknownPurpose: a procedure states a purpose that no Purpose
	// document declares.
	ErrUnknownPurpose = errors.New("unknown purpose")
)

// LoadError is one problem in one policy file, at one line.
type LoadError struct {
	File   string // path of the file as given to Load or Parse
	Line   int    // 1-based line; 1 when the YAML parser gives none
	Column int    // 1-based column, 0 when unknown
	Kind   error  // one of the specific load sentinels (ErrUnknownKey, ...)
	Msg    string // what is wrong, for the officer
}

func (e *LoadError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap lets errors.Is match both ErrInvalid and the specific Kind.
func (e *LoadError) Unwrap() []error { return []error{ErrInvalid, e.Kind} }

// DenyError is the error form of a denied Decision. Reasons say why, for
// officers and logs; do not show them to the requesting client.
type DenyError struct {
	Policy  string
	Reasons []string
	cause   error // a specific sentinel or nil
}

func (e *DenyError) Error() string {
	if len(e.Reasons) == 0 {
		return ErrDenied.Error()
	}
	return strings.Join(e.Reasons, "; ")
}

// Unwrap lets errors.Is match ErrDenied and the specific cause.
func (e *DenyError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrDenied}
	}
	return []error{ErrDenied, e.cause}
}

var (
	_ error = (*LoadError)(nil)
	_ error = (*DenyError)(nil)
)

// codedError is a sentinel that names the stable error code a client sees
// of it (see the error catalogue in exchange/wire, which finds it through
// its Code method; this package imports nothing from the exchange).
type codedError struct{ msg, code string }

func (e *codedError) Error() string { return e.msg }

// Code is the name of the error's code in the exchange's catalogue.
func (e *codedError) Code() string { return e.code }
