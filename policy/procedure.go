package policy

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Roles are the roles a procedure's evidence may name for its subjects:
// who the evidence is about. RoleCompany is an organisation, identified
// by its unified social credit code; every other role is a person,
// identified by a resident identity number.
const (
	RoleChild               = "child"
	RoleFather              = "father"
	RoleMother              = "mother"
	RoleDeceased            = "deceased"
	RoleSeller              = "seller"
	RoleBuyer               = "buyer"
	RoleCompany             = "company"
	RoleLegalRepresentative = "legal_representative"
	// RoleApplicant is the person a procedure is for when no other role
	// fits (employment, medical insurance, pension, marriage).
	RoleApplicant = "applicant"
	// RolePartner is the other party of a marriage registration.
	RolePartner = "partner"
)

// Roles lists every role, sorted.
var Roles = []string{RoleApplicant, RoleBuyer, RoleChild, RoleCompany, RoleDeceased, RoleFather,
	RoleLegalRepresentative, RoleMother, RolePartner, RoleSeller}

// Organisation formats: the format a dataset's subject field declares
// when its subjects are organisations (see SubjectCatalog).
const organisationFormat = "unified-social-credit-code"

// SubjectCatalog is an optional capability of a Catalog: the format of a
// dataset's subject field ("resident-id", "unified-social-credit-code").
// With it, the loader checks that a procedure's company evidence comes
// from a dataset about organisations and every other role's from a
// dataset about persons. The schema registry implements it.
type SubjectCatalog interface {
	SubjectFormat(dataset string) (format string, ok bool)
}

// Evidence is one item a procedure needs: the record of the subject in
// Role from Dataset, of which the procedure uses Fields (sorted).
type Evidence struct {
	Dataset string   `json:"dataset"`
	Role    string   `json:"role"`
	Fields  []string `json:"fields"`
}

// Procedure is a Procedure document as Set.Procedures lists it.
type Procedure struct {
	// ID names the procedure in requests, lower snake case.
	ID          string `json:"procedure"`
	Name        string `json:"name"` // metadata.name
	Description string `json:"description,omitempty"`
	// Purpose is the purpose every evidence query states; its Purpose
	// document gives the case-id format (CaseIDPattern).
	Purpose       string     `json:"purpose"`
	CaseIDPattern string     `json:"case_id_pattern,omitempty"`
	Service       string     `json:"service"` // the consumer that runs it
	Evidence      []Evidence `json:"evidence"`
}

// Roles lists the distinct roles of the procedure's evidence, sorted.
func (p Procedure) Roles() []string {
	var out []string
	for _, e := range p.Evidence {
		out = append(out, e.Role)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// OrganisationRole reports whether role's subjects are organisations
// (identified by a unified social credit code) rather than persons.
func OrganisationRole(role string) bool { return role == RoleCompany }

// Procedures lists the set's procedure catalogue, sorted by ID.
func (s *Set) Procedures() []Procedure {
	if s == nil {
		return nil
	}
	var out []Procedure
	for _, d := range s.docs {
		if d.Kind == KindProcedure {
			out = append(out, s.procedure(d))
		}
	}
	slices.SortFunc(out, func(a, b Procedure) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Procedure returns the procedure named id; ok is false when the set has
// none of that name.
func (s *Set) Procedure(id string) (Procedure, bool) {
	if s == nil {
		return Procedure{}, false
	}
	for _, d := range s.docs {
		if d.Kind == KindProcedure && d.Procedure == id {
			return s.procedure(d), true
		}
	}
	return Procedure{}, false
}

func (s *Set) procedure(d Policy) Procedure {
	p := Procedure{ID: d.Procedure, Name: d.Name, Description: d.Description, Service: d.Consumer,
		CaseIDPattern: s.CaseIDPattern(d.Purposes[0]), Purpose: d.Purposes[0]}
	for _, e := range d.Evidence {
		e.Fields = slices.Clone(e.Fields)
		p.Evidence = append(p.Evidence, e)
	}
	return p
}

// Publishers lists the publishers granted dataset, sorted: the
// departments that hold it, whether they publish its records or answer
// it live.
func (s *Set) Publishers(dataset string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, grants := range []map[pair]Decision{s.grants, s.live} {
		for k := range grants {
			if k.dataset == dataset {
				out = append(out, k.subject)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// procedureSpec parses a Procedure document's spec:
//
//	spec:
//	  procedure: newborn_registration      # lower snake case, unique in the set
//	  purpose: newborn_registration        # declared by a Purpose document
//	  service: newborn-registration        # the consumer that runs it
//	  evidence:
//	    - {dataset: birth, role: child, fields: [name, birth_date]}
func (p *parser) procedureSpec(at, n *yaml.Node, pol *Policy) {
	sp, ok := p.mapping(at, n, "Procedure spec", "procedure", "purpose", "service", "evidence")
	if !ok {
		return
	}
	for _, key := range []string{"procedure", "purpose"} {
		v, vn := p.str(sp, key, true)
		if vn == nil {
			continue
		}
		if len(v) > maxPurposeLen || !purposeRE.MatchString(v) {
			p.errf(vn, ErrBadValue, "Procedure spec.%s %q must be lower snake case, like newborn_registration, at most %d", key, v, maxPurposeLen)
		}
		if key == "procedure" {
			pol.Procedure = v
		} else {
			pol.Purposes = []string{v}
		}
	}
	pol.Consumer = p.client(sp, "service", false)
	en := p.value(sp, "evidence", true)
	if en == nil {
		return
	}
	if en.Kind != yaml.SequenceNode || len(en.Content) == 0 {
		p.errf(en, ErrMissing, "Procedure spec.evidence must be a non-empty list of {dataset, role, fields}")
		return
	}
	seen := map[[2]string]int{}
	for _, item := range en.Content {
		ev, ok := p.evidence(item)
		if !ok {
			continue
		}
		k := [2]string{ev.Dataset, ev.Role}
		if prev, dup := seen[k]; dup {
			p.errf(item, ErrDuplicate, "Procedure spec.evidence lists %s of the %s twice (line %d)", ev.Dataset, ev.Role, prev)
			continue
		}
		seen[k] = item.Line
		pol.Evidence = append(pol.Evidence, ev)
	}
}

// evidence parses one evidence item.
func (p *parser) evidence(n *yaml.Node) (Evidence, bool) {
	before := len(p.errs)
	m, ok := p.mapping(n, n, "Procedure spec.evidence item", "dataset", "role", "fields")
	if !ok {
		return Evidence{}, false
	}
	var ev Evidence
	var dn, rn *yaml.Node
	ev.Dataset, dn = p.str(m, "dataset", true)
	ev.Role, rn = p.str(m, "role", true)
	var nodes []*yaml.Node
	ev.Fields, nodes = p.list(m, "fields", true)
	if rn != nil && !slices.Contains(Roles, ev.Role) {
		p.errf(rn, ErrUnknownRole, "unknown role %q (want one of %s)", ev.Role, strings.Join(Roles, ", "))
	}
	if dn != nil {
		if known, ok := p.dataset(dn, ev.Dataset); ok {
			for i, f := range ev.Fields {
				if !known[f] {
					p.errf(nodes[i], ErrUnknownField, "dataset %s has no field %q", ev.Dataset, f)
				}
			}
			if sc, ok := p.cat.(SubjectCatalog); ok && rn != nil {
				format, _ := sc.SubjectFormat(ev.Dataset)
				if org := format == organisationFormat; org != OrganisationRole(ev.Role) {
					p.errf(rn, ErrBadValue, "role %s is %s, but dataset %s is about %s", ev.Role,
						kindOfRole(OrganisationRole(ev.Role)), ev.Dataset, kindOfRole(org))
				}
			}
		}
	}
	return ev, len(p.errs) == before
}

func kindOfRole(org bool) string {
	if org {
		return "an organisation (credit code)"
	}
	return "a person (resident ID)"
}

// checkProcedures reports every procedure declared twice, every
// procedure whose purpose no Purpose document declares (a typo would make
// every evidence query fail), and every procedure whose purpose declares
// no caseIdPattern: a procedure's cases have a case-id format.
func checkProcedures(docs []Policy) []error {
	var errs []error
	purposes := map[string]string{} // purpose to its caseIdPattern
	for _, d := range docs {
		if d.Kind == KindPurpose && len(d.Purposes) == 1 {
			purposes[d.Purposes[0]] = d.CaseIDPattern
		}
	}
	first := map[string]string{}
	for _, d := range docs {
		if d.Kind != KindProcedure {
			continue
		}
		file, line := splitSource(d.Source)
		if prev, ok := first[d.Procedure]; ok {
			errs = append(errs, &LoadError{File: file, Line: line, Kind: ErrDuplicate,
				Msg: fmt.Sprintf("procedure %s is already declared at %s", d.Procedure, prev)})
			continue
		}
		first[d.Procedure] = d.Source
		if len(d.Purposes) != 1 {
			continue
		}
		switch pat, ok := purposes[d.Purposes[0]]; {
		case !ok:
			errs = append(errs, &LoadError{File: file, Line: line, Kind: ErrUnknownPurpose,
				Msg: fmt.Sprintf("procedure %s: no Purpose document declares purpose %s", d.Procedure, d.Purposes[0])})
		case pat == "":
			errs = append(errs, &LoadError{File: file, Line: line, Kind: ErrMissing,
				Msg: fmt.Sprintf("procedure %s: purpose %s declares no caseIdPattern, the format of the procedure's case ids", d.Procedure, d.Purposes[0])})
		}
	}
	return errs
}

// procedureYAML writes a Procedure document's spec in canonical form.
func procedureYAML(d Policy) string {
	var b strings.Builder
	b.WriteString("  procedure: " + q(d.Procedure) + "\n")
	if len(d.Purposes) == 1 {
		b.WriteString("  purpose: " + q(d.Purposes[0]) + "\n")
	}
	b.WriteString("  service: " + q(d.Consumer) + "\n  evidence:\n")
	for _, e := range d.Evidence {
		b.WriteString("    - dataset: " + q(e.Dataset) + "\n      role: " + q(e.Role) + "\n      fields: " + ql(e.Fields) + "\n")
	}
	return b.String()
}

// procedureVersion is the line a Procedure document adds to the version
// hash (documents of other kinds add none, so their versions stay).
func procedureVersion(d Policy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "procedure %q %q", d.Procedure, d.Consumer)
	for _, e := range d.Evidence {
		fmt.Fprintf(&b, " %q %q %q", e.Dataset, e.Role, e.Fields)
	}
	return b.String()
}
