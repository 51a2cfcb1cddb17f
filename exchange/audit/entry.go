package audit

import (
	"bytes"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// Kind says what happened.
type Kind string

// The kinds of audit entry.
const (
	KindQuery        Kind = "query"         // a consumer asked for a subject's record
	KindAccept       Kind = "accept"        // an ingested record was accepted
	KindReject       Kind = "reject"        // an ingested record was rejected
	KindDeny         Kind = "deny"          // a request was refused before any data was read
	KindPolicyChange Kind = "policy_change" // a policy governance step, or a refused control event
	KindKeyChange    Kind = "key_change"    // a key version was made, retired or revoked
	KindToken        Kind = "token"         // an access token was issued or refused
	KindExplain      Kind = "explain"       // a caller asked why a policy decides as it does
	KindCase         Kind = "case"          // a case bundle was assembled (its items are query entries)
	KindDelivery     Kind = "delivery"      // a subscription's record was pushed to its consumer
	KindCorrection   Kind = "correction"    // a correction was requested (by a resident or a consumer), decided, or its record corrected
)

// Decision is the outcome recorded with an entry.
type Decision string

// The decisions an entry can record.
const (
	DecisionPermit    Decision = "permit"
	DecisionDeny      Decision = "deny"
	DecisionAccepted  Decision = "accepted"
	DecisionRejected  Decision = "rejected"
	DecisionDuplicate Decision = "duplicate"
)

// MaxEntrySize bounds the canonical encoding of one entry, in bytes.
const MaxEntrySize = 64 << 10

// Entry is one audit event. See the package doc for the meaning of each
// field and the canonical encoding; MarshalCanonical and ParseEntry are
// the only ways in and out of bytes.
type Entry struct {
	Time          time.Time // when the exchange decided; encoded in UTC
	Kind          Kind
	Actor         string   // client id of the caller
	Role          string   // the caller's role
	Route         string   // the API route called, "METHOD /pattern"
	Consumer      string   // the consumer a request is about, when not the actor
	Dataset       string   // dataset name
	Purpose       string   // declared purpose
	CaseID        string   // the procedure's case id
	Reason        string   // the reason an officer gave
	Subject       string   // pseudonym: lowercase hex HMAC-SHA256, never an identity number
	RecordID      string   // record id
	Fields        []string // fields released, or asked for when denied
	Decision      Decision
	Code          string // stable reason code
	Policy        string // policy name
	PolicyVersion string
	RequestID     string
	Node          string // exchange node that decided
	// Consent is whether the citizen's consent a query's policy requires
	// was in force (ConsentInForce, ConsentAbsent); "" when none was
	// required.
	Consent string
	// ConsentRecordID is the id of the consent record the query read, if
	// the citizen has one.
	ConsentRecordID string
	// Procedure is the procedure of a case bundle (POST /v1/cases), on
	// its summary entry and on the query entry of each of its items.
	Procedure string
	// CaseRole is the role of the subject of a case bundle's item
	// (child, father, company, ...), on the item's query entry.
	CaseRole string
	// ElapsedMicros is a case summary's assembly time in microseconds,
	// from the request to every item decided and audited; 0 when none.
	ElapsedMicros int64
}

// The values of Entry.Consent.
const (
	ConsentInForce = "in_force"
	ConsentAbsent  = "absent"
)

// IndexedEntry is an entry together with its position in the log and the
// exact bytes that were hashed, so the holder can ask for an inclusion
// proof and verify it.
type IndexedEntry struct {
	Index uint64
	Raw   []byte
	Entry Entry
}

//go:embed entry.schema.json
var entrySchema []byte

// EntrySchema returns the JSON Schema (2020-12) that every canonical
// entry validates against.
func EntrySchema() []byte { return bytes.Clone(entrySchema) }

// Validate reports whether e can be written to the log: a time in years
// 1 to 9999, a known kind, a known decision or none, a subject that is a
// 64-character lowercase hex pseudonym or empty, non-empty field names and
// valid UTF-8 everywhere. Errors wrap ErrBadEntry.
func (e Entry) Validate() error {
	if e.Time.IsZero() {
		return fmt.Errorf("%w: time is missing", ErrBadEntry)
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: time year %d outside 1..9999", ErrBadEntry, y)
	}
	switch e.Kind {
	case KindQuery, KindAccept, KindReject, KindDeny, KindPolicyChange, KindKeyChange, KindToken, KindExplain, KindCase, KindDelivery, KindCorrection:
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrBadEntry, e.Kind)
	}
	switch e.Consent {
	case "", ConsentInForce, ConsentAbsent:
	default:
		return fmt.Errorf("%w: unknown consent %q", ErrBadEntry, e.Consent)
	}
	switch e.Decision {
	case "", DecisionPermit, DecisionDeny, DecisionAccepted, DecisionRejected, DecisionDuplicate:
	default:
		return fmt.Errorf("%w: unknown decision %q", ErrBadEntry, e.Decision)
	}
	if e.ElapsedMicros < 0 {
		return fmt.Errorf("%w: elapsed_us is negative", ErrBadEntry)
	}
	if e.Subject != "" && !isPseudonym(e.Subject) {
		return fmt.Errorf("%w: subject is not a 64-character lowercase hex pseudonym", ErrBadEntry)
	}
	for _, f := range e.stringFields() {
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadEntry, f.name)
		}
	}
	for i, f := range e.Fields {
		if f == "" {
			return fmt.Errorf("%w: fields[%d] is empty", ErrBadEntry, i)
		}
		if !utf8.ValidString(f) {
			return fmt.Errorf("%w: fields[%d] is not valid UTF-8", ErrBadEntry, i)
		}
	}
	return nil
}

func isPseudonym(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type namedString struct{ name, value string }

// stringFields lists the string members after time, kind and fields in
// canonical order.
func (e Entry) stringFields() []namedString {
	return []namedString{
		{"actor", e.Actor},
		{"role", e.Role},
		{"route", e.Route},
		{"consumer", e.Consumer},
		{"dataset", e.Dataset},
		{"purpose", e.Purpose},
		{"case_id", e.CaseID},
		{"reason", e.Reason},
		{"subject", e.Subject},
		{"record_id", e.RecordID},
		// fields goes here in the encoding
		{"decision", string(e.Decision)},
		{"code", e.Code},
		{"policy", e.Policy},
		{"policy_version", e.PolicyVersion},
		{"request_id", e.RequestID},
		{"node", e.Node},
		{"consent", e.Consent},
		{"consent_record_id", e.ConsentRecordID},
		{"procedure", e.Procedure},
		{"case_role", e.CaseRole},
		// elapsed_us goes here in the encoding, after every string
	}
}

// MarshalCanonical returns the canonical encoding of e (see the package
// doc): one JSON object, no white space, members in schema order, empty
// members left out, strings escaped as RFC 8785 does. Equal entries give
// equal bytes. It does not validate; call Validate first, or the result
// may not parse.
func (e Entry) MarshalCanonical() []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"time":`...)
	b = appendString(b, e.Time.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Kind))
	for _, f := range e.stringFields() {
		if f.name == "decision" && len(e.Fields) > 0 {
			b = append(b, `,"fields":[`...)
			for i, v := range e.Fields {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, v)
			}
			b = append(b, ']')
		}
		if f.value == "" {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		b = appendString(b, f.value)
	}
	if e.ElapsedMicros > 0 {
		b = append(b, `,"elapsed_us":`...)
		b = strconv.AppendInt(b, e.ElapsedMicros, 10)
	}
	return append(b, '}')
}

// appendString writes s as a JSON string: '"' and '\' escaped, the five
// control characters with short forms as \b \t \n \f \r, the other
// control characters below U+0020 as \u00xx (lowercase hex), everything
// else as literal UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"', c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// wireEntry is the decoding target: every member the schema names, and no
// other (jsonstrict refuses unknown members).
type wireEntry struct {
	Time          string   `json:"time"`
	Kind          string   `json:"kind"`
	Actor         string   `json:"actor"`
	Role          string   `json:"role"`
	Route         string   `json:"route"`
	Consumer      string   `json:"consumer"`
	Dataset       string   `json:"dataset"`
	Purpose       string   `json:"purpose"`
	CaseID        string   `json:"case_id"`
	Reason        string   `json:"reason"`
	Subject       string   `json:"subject"`
	RecordID      string   `json:"record_id"`
	Fields        []string `json:"fields"`
	Decision      string   `json:"decision"`
	Code          string   `json:"code"`
	Policy        string   `json:"policy"`
	PolicyVersion string   `json:"policy_version"`
	RequestID     string   `json:"request_id"`
	Node          string   `json:"node"`
	Consent       string   `json:"consent"`
	ConsentRecord string   `json:"consent_record_id"`
	Procedure     string   `json:"procedure"`
	CaseRole      string   `json:"case_role"`
	ElapsedUS     int64    `json:"elapsed_us"`
}

// ParseEntry decodes one entry and accepts it only if it is valid and in
// canonical form, byte for byte: MarshalCanonical(ParseEntry(b)) == b.
// So every entry has exactly one encoding, and what a verifier reads is
// what was hashed. Errors wrap ErrBadEntry (and the jsonstrict sentinel
// where the JSON itself is at fault).
func ParseEntry(b []byte) (Entry, error) {
	if len(b) > MaxEntrySize {
		return Entry{}, fmt.Errorf("parse entry: %w: %d bytes, limit %d", ErrBadEntry, len(b), MaxEntrySize)
	}
	var w wireEntry
	if err := jsonstrict.Decode(b, &w); err != nil {
		return Entry{}, fmt.Errorf("parse entry: %w: %w", ErrBadEntry, err)
	}
	if w.Time == "" {
		return Entry{}, fmt.Errorf("parse entry: %w: time is missing", ErrBadEntry)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil || !strings.HasSuffix(w.Time, "Z") {
		return Entry{}, fmt.Errorf("parse entry: %w: time %q is not RFC 3339 UTC", ErrBadEntry, w.Time)
	}
	e := Entry{
		Time: t.UTC(), Kind: Kind(w.Kind), Actor: w.Actor, Role: w.Role, Route: w.Route, Consumer: w.Consumer,
		Dataset: w.Dataset, Purpose: w.Purpose, CaseID: w.CaseID, Reason: w.Reason, Subject: w.Subject, RecordID: w.RecordID,
		Fields: w.Fields, Decision: Decision(w.Decision), Code: w.Code, Policy: w.Policy,
		PolicyVersion: w.PolicyVersion, RequestID: w.RequestID, Node: w.Node,
		Consent: w.Consent, ConsentRecordID: w.ConsentRecord, Procedure: w.Procedure, CaseRole: w.CaseRole, ElapsedMicros: w.ElapsedUS,
	}
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("parse entry: %w", err)
	}
	if !bytes.Equal(e.MarshalCanonical(), b) {
		return Entry{}, fmt.Errorf("parse entry: %w: not in canonical form", ErrBadEntry)
	}
	return e, nil
}
