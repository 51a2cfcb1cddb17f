package wire

import "time"

// CorrectionRequest is the body of POST /v1/corrections: a consumer that
// received a record (a query answer or a delivery) asks the department
// that publishes it to correct one field. Record and Receipt are what it
// received, exactly: they prove which record, which fields, about whom
// and that it was given to this consumer, so the request names no
// identity number of its own.
type CorrectionRequest struct {
	Record  string `json:"record"`
	Receipt string `json:"receipt"`
	Field   string `json:"field"`
	Reason  string `json:"reason"`
}

// CorrectionDecision is the body of POST /v1/corrections/{id}: the
// department's answer.
type CorrectionDecision struct {
	Status string `json:"status"` // CorrectionAccepted or CorrectionRejected
	Reason string `json:"reason"`
}

// The states of a correction.
const (
	CorrectionOpen     = "open"
	CorrectionAccepted = "accepted"
	CorrectionRejected = "rejected"
)

// Correction is one correction request and where it stands.
type Correction struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Dataset    string    `json:"dataset"`
	RecordID   string    `json:"record_id"` // the record to correct
	Field      string    `json:"field"`
	Reason     string    `json:"reason"`
	Filer      string    `json:"filer"`
	Department string    `json:"department"` // the record's issuer, who decides
	Filed      time.Time `json:"filed"`
	// Decision is the department's reason for accepting or rejecting.
	Decision string    `json:"decision,omitempty"`
	Decided  time.Time `json:"decided,omitzero"`
	// CorrectedRecordID is the department's newer record of the same
	// subject, published after it accepted; every consumer that received
	// RecordID in the 30 days before was sent a CorrectionNotice.
	CorrectedRecordID string    `json:"corrected_record_id,omitempty"`
	Corrected         time.Time `json:"corrected,omitzero"`
}

// DeliveryCorrectionNotice is the Kind of a delivery-topic message that is
// a CorrectionNotice rather than a record.
const DeliveryCorrectionNotice = "correction_notice"

// CorrectionNotice tells a consumer that a record it received was
// corrected: Superseded is the record it has, RecordID the department's
// corrected one (query it again, under its policy, to get it). The
// Delivery carrying it has no record; its receipt (jti = the notice id,
// purpose correction_notice, policy = the correction id, record_id =
// RecordID, fields = [Field], record_sha256 of Superseded) is the
// exchange's signature over it, every field included.
type CorrectionNotice struct {
	Correction string `json:"correction"`
	Field      string `json:"field"`
	Superseded string `json:"superseded_record_id"`
	RecordID   string `json:"record_id"`
}
