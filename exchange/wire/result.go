package wire

// Status is the outcome of one submitted record.
type Status string

const (
	Accepted  Status = "accepted"  // durably written to the accepted topic
	Duplicate Status = "duplicate" // already accepted; not delivered twice
	Rejected  Status = "rejected"  // see Code; written to the dead-letter topic
)

// Result is the answer for one submitted record.
type Result struct {
	Index    int    `json:"index"`
	RecordID string `json:"record_id,omitempty"`
	Status   Status `json:"status"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	Pointer  string `json:"pointer,omitempty"`
}

// PublishRequest is the body of POST /v1/datasets/{dataset}/records: the
// compact records, at most one batch.
type PublishRequest struct {
	Records []string `json:"records"`
}

// PublishResponse is the answer to a publish request: the counts and one
// Result per submitted record, in order.
type PublishResponse struct {
	Accepted  int      `json:"accepted"`
	Duplicate int      `json:"duplicate"`
	Rejected  int      `json:"rejected"`
	Results   []Result `json:"results"`
	RequestID string   `json:"request_id"`
}

// QueryAnswer is the answer to POST /v1/query: the record with only the
// released disclosures, its disclosed fields, and the exchange's signed
// receipt. A requester verifies Record and Receipt itself (see
// exchange/record and exchange/receipt); Data is a convenience.
type QueryAnswer struct {
	Record    string         `json:"record"`
	Data      map[string]any `json:"data"`
	Receipt   string         `json:"receipt"`
	RequestID string         `json:"request_id"`
}

// ErrorBody is the body of an error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is what an error answer says: the code's name and message,
// the JSON pointer of the request field at fault (if any) and the request
// id to quote to the exchange's operators.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Pointer   string `json:"pointer,omitempty"`
	RequestID string `json:"request_id"`
}
