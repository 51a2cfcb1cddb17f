package wire

// CaseRequest is the body of POST /v1/cases: a procedure of the
// catalogue, the case id of this instance of it, and the subject of each
// role the procedure's evidence names (a resident ID, or for the company
// role a unified social credit code). A role left out makes its items
// missing (reason no_subject).
type CaseRequest struct {
	Procedure string            `json:"procedure"`
	CaseID    string            `json:"case_id"`
	Subjects  map[string]string `json:"subjects"`
}

// CaseItem is one evidence item the exchange released: exactly what
// POST /v1/query answers for the item's dataset and subject (a record
// with only the released disclosures, its fields, the signed receipt),
// and which item of the procedure it is.
type CaseItem struct {
	Role    string         `json:"role"`
	Dataset string         `json:"dataset"`
	Record  string         `json:"record"`
	Data    map[string]any `json:"data"`
	Receipt string         `json:"receipt"`
}

// CaseMissing is an evidence item the answer lacks: Reason is not_found
// (the exchange holds no record of the subject in the dataset),
// no_subject (the request named no subject for the role) or the code of
// the refusal (denied, consent_required, ...). Holders are the clients
// granted to publish the dataset: the departments that hold it.
type CaseMissing struct {
	Role    string   `json:"role"`
	Dataset string   `json:"dataset"`
	Reason  string   `json:"reason"`
	Holders []string `json:"holders"`
}

// CaseAnswer is the answer to POST /v1/cases: the items released and the
// items missing, each in the order of the procedure's evidence. Complete
// is true when nothing is missing.
type CaseAnswer struct {
	Procedure string        `json:"procedure"`
	Purpose   string        `json:"purpose"`
	CaseID    string        `json:"case_id"`
	Items     []CaseItem    `json:"items"`
	Missing   []CaseMissing `json:"missing"`
	Complete  bool          `json:"complete"`
	RequestID string        `json:"request_id"`
	// Receipt is the exchange's case receipt (typ
	// onevisit-case-receipt+jwt, exchange/receipt.CaseClaims): it lists
	// every item and every missing one, so the bundle is used whole.
	Receipt string `json:"receipt"`
}

// Evidence is one item of a procedure: the record of the subject in Role
// from Dataset, of which the procedure uses Fields.
type Evidence struct {
	Dataset string   `json:"dataset"`
	Role    string   `json:"role"`
	Fields  []string `json:"fields"`
}

// Procedure is one entry of the procedure catalogue (GET /v1/procedures).
type Procedure struct {
	Procedure     string     `json:"procedure"`
	Description   string     `json:"description,omitempty"`
	Purpose       string     `json:"purpose"`
	CaseIDPattern string     `json:"case_id_pattern,omitempty"`
	Service       string     `json:"service"`
	Evidence      []Evidence `json:"evidence"`
	// Roles lists each role's kind of subject: "person" (resident ID) or
	// "organisation" (unified social credit code).
	Roles map[string]string `json:"roles"`
}

// ProcedureList is the body of GET /v1/procedures.
type ProcedureList struct {
	Procedures []Procedure `json:"procedures"`
}
