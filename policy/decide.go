package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Request asks whether Consumer may read Dataset for Purpose.
type Request struct {
	Consumer string    `json:"consumer"`         // client id of the procedure service
	Dataset  string    `json:"dataset"`          // dataset name
	Purpose  string    `json:"purpose"`          // stated purpose, lower snake case
	CaseID   string    `json:"caseId,omitempty"` // the procedure's case id; "" if none
	Time     time.Time `json:"time,omitzero"`    // when the access happens; zero means now
}

// Decision is the answer to a Request or a MayPublish question.
type Decision struct {
	// Allowed is true only if at least one policy permits and forbids
	// leave at least one field. The zero Decision denies.
	Allowed bool
	// Fields the consumer may read, sorted; empty when denied and for
	// publish decisions.
	Fields []string
	// Policy names the deciding documents: on permit, the permitting
	// policies (comma separated, sorted); on deny, the policies that were
	// considered and did not permit, or the forbids that withheld every
	// field; "" when no policy concerns the request at all.
	Policy string
	// Reasons explain the decision, one sentence each, starting with
	// "permit:", "forbid:" or "deny:". Stable text for golden files and
	// officers; not for the requesting client.
	Reasons []string
	// RequiresConsent is true when ConsentFields is not empty.
	RequiresConsent bool
	// ConsentFields are the Fields that only permitting policies with
	// the condition {consent: required} grant, sorted: the exchange
	// releases them only while the citizen's consent for the purpose is
	// in force. Without it, it releases the other Fields, and refuses the
	// query as consent_required when none is left. Empty on deny.
	ConsentFields []string

	cause error // specific sentinel for Err
}

// Err returns nil for an allowed decision and otherwise a *DenyError that
// wraps ErrDenied and, if one applies, ErrCaseIDRequired,
// ErrPurposeNotAllowed, ErrOutsideValidity or ErrForbidden.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &DenyError{Policy: d.Policy, Reasons: slices.Clone(d.Reasons), cause: d.cause}
}

// decisionJSON is the API form of a Decision.
type decisionJSON struct {
	Decision string   `json:"decision"` // "permit" or "deny"
	Fields   []string `json:"fields"`
	Policy   string   `json:"policy"`
	Reasons  []string `json:"reasons"`
	// RequiresConsent and ConsentFields are left out when there are
	// none, so that decisions without the condition keep their form.
	RequiresConsent bool     `json:"requiresConsent,omitempty"`
	ConsentFields   []string `json:"consentFields,omitempty"`
}

// MarshalJSON writes {"decision":"permit"|"deny","fields":[...],
// "policy":"...","reasons":[...]}; fields and reasons are always arrays.
func (d Decision) MarshalJSON() ([]byte, error) {
	j := decisionJSON{Decision: "deny", Fields: d.Fields, Policy: d.Policy, Reasons: d.Reasons,
		RequiresConsent: d.RequiresConsent, ConsentFields: d.ConsentFields}
	if d.Allowed {
		j.Decision = "permit"
	}
	if j.Fields == nil {
		j.Fields = []string{}
	}
	if j.Reasons == nil {
		j.Reasons = []string{}
	}
	return json.Marshal(j)
}

var _ json.Marshaler = Decision{}

func deny(cause error, policy string, reasons ...string) Decision {
	return Decision{Fields: []string{}, Policy: policy, Reasons: reasons, cause: cause}
}

// Decide applies the set to one request. It never fails: anything not
// explicitly permitted is denied, with reasons.
//
// A policy permits when it names the consumer, dataset and purpose, the
// time is inside its validity window and, if it requires one, the request
// has a case id. The fields of all permitting policies are united; then
// every Forbid for the consumer (or "*") and dataset removes its fields.
func (s *Set) Decide(r Request) Decision {
	switch {
	case s == nil:
		return deny(nil, "", "deny: no policy set is loaded")
	case r.Consumer == "":
		return deny(nil, "", "deny: the request names no consumer")
	case r.Dataset == "":
		return deny(nil, "", "deny: the request names no dataset")
	case r.Purpose == "":
		return deny(nil, "", "deny: the request states no purpose")
	}
	e := s.entries[pair{r.Consumer, r.Dataset}]
	if e == nil {
		return deny(nil, "", "deny: no policy lets "+r.Consumer+" read "+r.Dataset+" for any purpose")
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}

	var buf [4]uint64
	var acc bitset
	if w := (len(e.names) + 63) / 64; w <= len(buf) {
		acc = buf[:w]
	} else {
		acc = make(bitset, w)
	}
	var first *permit
	var firstReason string
	var free bitset // fields some permitting policy grants without consent; nil while none needs it
	n := 0
	for _, p := range e.permits {
		reason, ok := p.allows(r, t)
		if !ok {
			continue
		}
		if n == 0 {
			first, firstReason = p, reason
		}
		n++
		for i, w := range p.bits {
			acc[i] |= w
		}
		if p.consent && free == nil {
			free = make(bitset, len(acc))
			for _, q := range e.permits[:slices.Index(e.permits, p)] {
				if _, ok := q.allows(r, t); ok {
					for i, w := range q.bits {
						free[i] |= w
					}
				}
			}
		} else if !p.consent && free != nil {
			for i, w := range p.bits {
				free[i] |= w
			}
		}
	}
	if n == 0 {
		return e.explainDeny(r, t)
	}

	// Forbids beat permits.
	var forbidReasons, forbidNames []string
	for _, f := range e.forbids {
		removed := false
		for i, w := range f.bits {
			if acc[i]&w != 0 {
				removed = true
				break
			}
		}
		if !removed {
			continue
		}
		gone := make(bitset, len(acc))
		for i, w := range f.bits {
			gone[i] = acc[i] & w
			acc[i] &^= w
		}
		forbidNames = append(forbidNames, f.name)
		forbidReasons = append(forbidReasons, fmt.Sprintf("forbid: policy %s withholds %s of %s from %s",
			f.name, strings.Join(gone.names(e.names), ", "), e.dataset, e.consumer))
	}

	d := Decision{Allowed: true}
	if n == 1 {
		d.Policy = first.name
		d.Reasons = make([]string, 0, 1+len(forbidReasons))
		d.Reasons = append(d.Reasons, firstReason)
	} else {
		var names []string
		for _, p := range e.permits {
			if reason, ok := p.allows(r, t); ok {
				names = append(names, p.name)
				d.Reasons = append(d.Reasons, reason)
			}
		}
		d.Policy = strings.Join(names, ",")
	}
	d.Reasons = append(d.Reasons, forbidReasons...)
	if n == 1 && forbidReasons == nil {
		d.Fields = slices.Clone(first.fields)
		if first.consent {
			d.RequiresConsent, d.ConsentFields = true, slices.Clone(first.fields)
		}
		return d
	}
	if acc.empty() {
		d.Allowed = false
		d.Fields = []string{}
		d.Policy = strings.Join(forbidNames, ",")
		d.cause = ErrForbidden
		d.Reasons = append(d.Reasons, fmt.Sprintf("deny: forbids leave no field of %s for %s", e.dataset, e.consumer))
		return d
	}
	d.Fields = acc.names(e.names)
	if free != nil {
		need := make(bitset, len(acc))
		for i := range acc {
			need[i] = acc[i] &^ free[i]
		}
		if !need.empty() {
			d.RequiresConsent, d.ConsentFields = true, need.names(e.names)
		}
	}
	return d
}

// allows reports whether p permits r at t, with the permit reason.
func (p *permit) allows(r Request, t time.Time) (string, bool) {
	i := slices.Index(p.purposes, r.Purpose)
	if i < 0 ||
		(!p.from.IsZero() && t.Before(p.from)) ||
		(!p.until.IsZero() && t.After(p.until)) ||
		(p.requireCase && r.CaseID == "") {
		return "", false
	}
	return p.reasons[i], true
}

// explainDeny builds the reasons when no permit of e applies. The most
// specific sentinel wins: a missing case id (everything else matched),
// then the validity window, then the purpose.
func (e *entry) explainDeny(r Request, t time.Time) Decision {
	d := deny(ErrPurposeNotAllowed, e.policyNames)
	rank := 0
	note := func(reason string, cause error, rk int) {
		d.Reasons = append(d.Reasons, reason)
		if rk > rank {
			rank, d.cause = rk, cause
		}
	}
	for _, p := range e.permits {
		switch {
		case !slices.Contains(p.purposes, r.Purpose):
			note(fmt.Sprintf("deny: policy %s does not allow purpose %s (only %s)", p.name, r.Purpose, p.purposeList),
				ErrPurposeNotAllowed, 1)
		case !p.from.IsZero() && t.Before(p.from):
			note(p.reasonEarly, ErrOutsideValidity, 2)
		case !p.until.IsZero() && t.After(p.until):
			note(p.reasonLate, ErrOutsideValidity, 2)
		default: // allows failed, so only the case id is left
			note(p.reasonCase, ErrCaseIDRequired, 3)
		}
	}
	return d
}

// MayPublish decides whether publisher may publish records of dataset,
// from the PublisherGrant documents. Default deny.
func (s *Set) MayPublish(publisher, dataset string) Decision {
	if s == nil {
		return deny(nil, "", "deny: no policy set is loaded")
	}
	d, ok := s.grants[pair{publisher, dataset}]
	if !ok {
		return deny(nil, "", "deny: no grant lets "+publisher+" publish "+dataset)
	}
	d.Reasons = slices.Clone(d.Reasons)
	return d
}
