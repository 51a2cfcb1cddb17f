package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ErrBadCaseID: the case id does not match the case-id format its
// purpose declares (a Purpose document's caseIdPattern). The caller
// refuses the query as bad_case_id before deciding; the client must send
// the case id of the procedure it is running, in that procedure's format.
var ErrBadCaseID error = &codedError{"case id does not match the purpose's format", "bad_case_id"}

// maxPatternLen bounds a caseIdPattern, so a policy cannot hold a
// pathological expression (Go's regexp runs in linear time anyway).
const maxPatternLen = 256

// KnownPurpose reports whether the set declares purpose: a Purpose
// document names it, or some AccessPolicy lists it, whatever its
// consumer, dataset or validity. A request stating a purpose the set does
// not declare is a mistake (a typo, free text), not a question a policy
// answers: the API refuses it as unknown_purpose before deciding.
func (s *Set) KnownPurpose(purpose string) bool {
	if s == nil {
		return false
	}
	for i := range s.docs {
		if (s.docs[i].Kind == KindAccessPolicy || s.docs[i].Kind == KindPurpose) && slices.Contains(s.docs[i].Purposes, purpose) {
			return true
		}
	}
	return false
}

// CheckCaseID reports whether caseID has the format the Purpose document
// of purpose declares. It returns nil when the purpose declares no
// caseIdPattern (or no Purpose document names it), and when caseID is
// empty: whether a case id is required is the access policy's business
// (requireCaseId, ErrCaseIDRequired), not the format's. Otherwise the
// error wraps ErrBadCaseID and names the purpose, never the case id
// itself (it may carry personal data).
func (s *Set) CheckCaseID(purpose, caseID string) error {
	if s == nil || caseID == "" {
		return nil
	}
	re := s.caseIDs[purpose]
	if re == nil || re.MatchString(caseID) {
		return nil
	}
	return fmt.Errorf("check case id: purpose %s wants case ids matching %s: %w", purpose, s.patterns[purpose], ErrBadCaseID)
}

// CaseIDPattern returns the caseIdPattern the Purpose document of
// purpose declares, as written, or "" when it declares none.
func (s *Set) CaseIDPattern(purpose string) string {
	if s == nil {
		return ""
	}
	return s.patterns[purpose]
}

// compilePattern compiles a caseIdPattern for matching: the pattern as
// written must start with ^ and end with $, and it is matched as
// ^(?:pattern)$, so that an alternation such as ^a|b$ cannot match a
// case id by a part of it.
func compilePattern(pat string) (*regexp.Regexp, error) {
	switch {
	case len(pat) > maxPatternLen:
		return nil, fmt.Errorf("is longer than %d characters", maxPatternLen)
	case !strings.HasPrefix(pat, "^") || !strings.HasSuffix(pat, "$") || strings.HasSuffix(pat, `\$`):
		return nil, errors.New("must be anchored: start with ^ and end with $")
	}
	if _, err := regexp.Compile(pat); err != nil {
		return nil, fmt.Errorf("is not a Go regular expression: %v", err)
	}
	return regexp.Compile(`^(?:` + pat + `)$`)
}

// purposeSpec parses a Purpose document's spec:
//
//	spec:
//	  purpose: school_enrolment
//	  caseIdPattern: '^SE-\d{4}-\d{4,}$'   # optional
func (p *parser) purposeSpec(at, n *yamlNode, pol *Policy) {
	sp, ok := p.mapping(at, n, "Purpose spec", "purpose", "caseIdPattern")
	if !ok {
		return
	}
	pu, pn := p.str(sp, "purpose", true)
	if pn != nil {
		if len(pu) > maxPurposeLen || !purposeRE.MatchString(pu) {
			p.errf(pn, ErrBadValue, "purpose %q must be lower snake case, like school_enrolment, at most %d", pu, maxPurposeLen)
		}
		pol.Purposes = []string{pu}
	}
	pat, patn := p.str(sp, "caseIdPattern", false)
	if patn == nil {
		return
	}
	if _, err := compilePattern(pat); err != nil {
		p.errf(patn, ErrBadValue, "Purpose spec.caseIdPattern %s", err)
		return
	}
	pol.CaseIDPattern = pat
}

// conditionsSpec parses an AccessPolicy's optional conditions block:
//
//	conditions: {consent: required}
//
// consent is "required" or "none" (the default).
func (p *parser) conditionsSpec(sp mapping, pol *Policy) {
	n := p.value(sp, "conditions", false)
	if n == nil {
		return
	}
	cm, ok := p.mapping(sp.m["conditions"].key, n, "AccessPolicy spec.conditions", "consent")
	if !ok {
		return
	}
	v, vn := p.str(cm, "consent", true)
	switch {
	case vn == nil:
	case v == "required":
		pol.RequireConsent = true
	case v == "none":
	default:
		p.errf(vn, ErrBadValue, "spec.conditions.consent %q must be required or none", v)
	}
}

// checkPurposes reports every purpose declared by more than one Purpose
// document.
func checkPurposes(docs []Policy) []error {
	var errs []error
	first := map[string]string{}
	for _, d := range docs {
		if d.Kind != KindPurpose || len(d.Purposes) != 1 {
			continue
		}
		if prev, ok := first[d.Purposes[0]]; ok {
			file, line := splitSource(d.Source)
			errs = append(errs, &LoadError{File: file, Line: line, Kind: ErrDuplicate,
				Msg: fmt.Sprintf("purpose %s is already declared at %s", d.Purposes[0], prev)})
			continue
		}
		first[d.Purposes[0]] = d.Source
	}
	return errs
}

// compilePurposes indexes the case-id formats of the Purpose documents.
// They were checked at load, so compiling cannot fail here.
func compilePurposes(docs []Policy) (map[string]*regexp.Regexp, map[string]string) {
	res, pats := map[string]*regexp.Regexp{}, map[string]string{}
	for _, d := range docs {
		if d.Kind != KindPurpose || d.CaseIDPattern == "" || len(d.Purposes) != 1 {
			continue
		}
		if re, err := compilePattern(d.CaseIDPattern); err == nil {
			res[d.Purposes[0]], pats[d.Purposes[0]] = re, d.CaseIDPattern
		}
	}
	return res, pats
}
