package policy

import "slices"

// KnownPurpose reports whether some AccessPolicy of the set declares
// purpose, whatever its consumer, dataset or validity. A request stating
// a purpose no policy declares is a mistake (a typo, free text), not a
// question a policy answers: the API refuses it as unknown_purpose
// before deciding.
func (s *Set) KnownPurpose(purpose string) bool {
	if s == nil {
		return false
	}
	for i := range s.docs {
		if s.docs[i].Kind == KindAccessPolicy && slices.Contains(s.docs[i].Purposes, purpose) {
			return true
		}
	}
	return false
}
