package policy

import (
	"slices"
	"time"
)

// Catalog tells the loader which datasets exist and which fields their
// schemas define. The schemas registry implements it: Fields returns every
// field name any version of the dataset defines, and ok=false for a
// dataset it does not know.
type Catalog interface {
	Fields(dataset string) (fields []string, ok bool)
}

// StaticCatalog is a Catalog held in memory: dataset name to field names.
// It serves tests and tools that run before a schema registry exists.
type StaticCatalog map[string][]string

var _ Catalog = StaticCatalog(nil)

// Fields implements Catalog.
func (c StaticCatalog) Fields(dataset string) ([]string, bool) {
	f, ok := c[dataset]
	return f, ok
}

// Kind names a policy document type.
type Kind string

// The document kinds.
const (
	KindPublisherGrant Kind = "PublisherGrant"
	KindAccessPolicy   Kind = "AccessPolicy"
	KindForbid         Kind = "Forbid"
	KindPurpose        Kind = "Purpose"
	KindProcedure      Kind = "Procedure" // see Procedure
	KindSubscription   Kind = "Subscription"
)

// Wildcard, as a Forbid's consumer, means every consumer; as its only
// field, every field of the dataset (including fields added later).
const Wildcard = "*"

// Policy is one loaded document, as Policies lists it. Which fields are
// set depends on Kind:
//
//	PublisherGrant: Publisher, Datasets, Mode
//	AccessPolicy:   Consumer, Dataset, Purposes, Fields, RequireCaseID, ValidFrom, ValidUntil, Limits
//	Forbid:         Consumer (a client id or "*"), Dataset, Fields (names or ["*"])
//	Purpose:        Purposes (exactly one), CaseIDPattern
//	Procedure:      Procedure, Purposes (exactly one), Consumer (the service), Evidence
//	Subscription:   Consumer, Dataset, Purposes (exactly one), Fields
//
// Lists are sorted. A zero ValidFrom or ValidUntil means unbounded.
type Policy struct {
	Kind          Kind      `json:"kind"`
	Name          string    `json:"name"`
	Description   string    `json:"description,omitempty"`
	Source        string    `json:"source,omitempty"` // "file:line" of the document
	Publisher     string    `json:"publisher,omitempty"`
	Datasets      []string  `json:"datasets,omitempty"`
	Consumer      string    `json:"consumer,omitempty"`
	Dataset       string    `json:"dataset,omitempty"`
	Purposes      []string  `json:"purposes,omitempty"`
	Fields        []string  `json:"fields,omitempty"`
	RequireCaseID bool      `json:"requireCaseId,omitempty"`
	ValidFrom     time.Time `json:"validFrom,omitzero"`
	ValidUntil    time.Time `json:"validUntil,omitzero"`
	Limits        Limits    `json:"limits,omitzero"` // AccessPolicy only; zero when none
	// RequireConsent: AccessPolicy conditions {consent: required}.
	RequireConsent bool `json:"requireConsent,omitempty"`
	// CaseIDPattern: a Purpose's anchored Go regexp for case ids; "" when any case id goes.
	CaseIDPattern string `json:"caseIdPattern,omitempty"`
	// Procedure and Evidence: a Procedure document's id and evidence list
	// (in the order written); its service is Consumer.
	Procedure string     `json:"procedure,omitempty"`
	Evidence  []Evidence `json:"evidence,omitempty"`
	// Mode: a PublisherGrant's mode; "" is replicated, ModeLive live.
	Mode Mode `json:"mode,omitempty"`
}

func (p Policy) clone() Policy {
	p.Datasets = slices.Clone(p.Datasets)
	p.Purposes = slices.Clone(p.Purposes)
	p.Fields = slices.Clone(p.Fields)
	p.Evidence = slices.Clone(p.Evidence)
	for i := range p.Evidence {
		p.Evidence[i].Fields = slices.Clone(p.Evidence[i].Fields)
	}
	return p
}

// kindOrder sorts documents: grants, then permits, then forbids, then
// purposes and procedures (by name), then subscriptions.
func kindOrder(k Kind) int {
	switch k {
	case KindPublisherGrant:
		return 0
	case KindAccessPolicy:
		return 1
	case KindForbid:
		return 2
	case KindSubscription:
		return 4
	default:
		return 3
	}
}
