package codes_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// sentinels lists every error the catalogue names, with the code a
// wrapped copy of it must map to. A new catalogue entry needs a case
// here (TestEveryCodeIsReachable fails otherwise).
var sentinels = []struct {
	err  error
	want string
}{
	{auth.ErrUnsupportedGrant, "unsupported_grant_type"},
	{auth.ErrInvalidRequest, "invalid_request"},
	{auth.ErrInvalidClient, "invalid_client"},
	{auth.ErrInvalidToken, "invalid_token"},
	{codes.ErrUnauthenticated, "unauthenticated"},
	{codes.ErrForbidden, "forbidden"},
	{policy.ErrCaseIDRequired, "case_id_required"},
	{policy.ErrPurposeNotAllowed, "purpose_not_allowed"},
	{policy.ErrOutsideValidity, "policy_expired"},
	{policy.ErrForbidden, "forbidden_by_policy"},
	{policy.ErrDenied, "denied"},
	{codes.ErrTooLarge, "body_too_large"},
	{jsonstrict.ErrDuplicateKey, "duplicate_key"},
	{jsonstrict.ErrUnknownField, "unknown_field"},
	{jsonstrict.ErrInvalidUTF8, "invalid_utf8"},
	{jsonstrict.ErrTooDeep, "too_deep"},
	{jsonstrict.ErrSyntax, "malformed_json"},
	{codes.ErrBadSubject, "invalid_subject"},
	{codes.ErrBadRequest, "bad_request"},
	{codes.ErrUnknownDataset, "unknown_dataset"},
	{codes.ErrNotFound, "not_found"},
	{record.ErrTooLarge, "record_too_large"},
	{keys.ErrRevoked, "key_revoked"},
	{record.ErrWrongIssuerKey, "wrong_issuer_key"},
	{record.ErrUnknownKey, "unknown_key"},
	{keys.ErrWrongUse, "wrong_key_use"},
	{record.ErrAlgorithm, "algorithm_not_allowed"},
	{record.ErrType, "bad_type"},
	{record.ErrBadSignature, "bad_signature"},
	{record.ErrDuplicateDisclosure, "duplicate_disclosure"},
	{record.ErrBadDisclosure, "bad_disclosure"},
	{record.ErrMissingClaim, "missing_claim"},
	{record.ErrNotValidNow, "record_not_valid_now"},
	{record.ErrMalformed, "malformed_record"},
	{ingest.ErrDatasetMismatch, "dataset_mismatch"},
	{ingest.ErrIssuerMismatch, "issuer_mismatch"},
	{ingest.ErrNoGrant, "no_grant"},
	{schemas.ErrUnknownSchema, "unknown_schema"},
	{schemas.ErrInvalid, "schema_violation"},
	{ingest.ErrNoSubject, "no_subject"},
	{ingest.ErrBadRecordID, "bad_record_id"},
	{ingest.ErrBadDelete, "bad_delete"},
	{ingest.ErrStale, "stale"},
	{codes.ErrKeysStale, "keys_stale"},
	{keys.ErrUnavailable, "keys_unavailable"},
	{codes.ErrUnavailable, "unavailable"},
	{keys.ErrExchangeKey, "exchange_key"},
	{keys.ErrBadKID, "bad_kid"},
	{keys.ErrKeyInUse, "key_in_use"},
	{record.ErrNoSubjectBinding, "no_subject_binding"},
	{codes.ErrMissingField, "missing_field"},
	{codes.ErrBadCheckCharacter, "bad_check_character"},
	{codes.ErrLowercaseX, "lowercase_check_character"},
	{codes.ErrUnknownPurpose, "unknown_purpose"},
	{codes.ErrBadCaseID, "bad_case_id"},
	{policy.ErrBadCaseID, "bad_case_id"},
	{codes.ErrMethodNotAllowed, "method_not_allowed"},
	{codes.ErrNoRoute, "no_route"},
	{codes.ErrRateLimited, "rate_limited"},
	{auth.ErrTooManyAssertions, "rate_limited"},
	{ingest.ErrIATInFuture, "iat_in_future"},
	{ingest.ErrSchemaNotOfDataset, "schema_not_of_dataset"},
	{ingest.ErrUnwritable, "unwritable"},
	{codes.ErrBadRange, "bad_range"},
	{codes.ErrBeyondLog, "beyond_log"},
	{query.ErrConsentRequired, "consent_required"},
	{query.ErrSourceTimeout, "source_timeout"},
	{query.ErrReplyMismatch, "reply_mismatch"},
	{control.ErrBadEvent, "bad_event"},
	{control.ErrSelfApproval, "self_approval"},
	{control.ErrAlreadyApproved, "already_approved"},
	{control.ErrStaleBase, "stale_base"},
	{control.ErrNeedsApproval, "needs_approval"},
	{control.ErrUnknownProposal, "unknown_proposal"},
	{codes.ErrBadCreditCode, "invalid_credit_code"},
	{query.ErrUnknownProcedure, "unknown_procedure"},
	{query.ErrRoleNotInProcedure, "role_not_in_procedure"},
	{query.ErrProcedureNotYours, "procedure_not_yours"},
	{control.ErrClientExists, "client_exists"},
	{control.ErrUnknownClient, "unknown_client"},
	{schemas.ErrBadSchema, "bad_schema"},
	{schemas.ErrIncompatible, "incompatible_schema"},
	{policy.ErrUnknownField, "unknown_policy_field"},
	{codes.ErrNotReceived, "not_received"},
	{codes.ErrUnknownCorrection, "unknown_correction"},
	{codes.ErrCorrectionDecided, "correction_decided"},
	{codes.ErrRequestSchema, "request_schema"},
}

func TestOfWrappedSentinels(t *testing.T) {
	for _, tt := range sentinels {
		t.Run(tt.want+"/"+tt.err.Error(), func(t *testing.T) {
			for _, err := range []error{
				tt.err,
				fmt.Errorf("x: %w", tt.err),
				fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", tt.err)),
				errors.Join(errors.New("unrelated"), tt.err),
			} {
				if got := wire.Of(err).Name; got != tt.want {
					t.Errorf("Of(%q) = %s, want %s", err, got, tt.want)
				}
			}
		})
	}
}

// TestCodeNamesAreConsistent: two sentinels that share a code name must
// share its status, message and retryability.
func TestCodeNamesAreConsistent(t *testing.T) {
	byName := map[string]wire.Code{}
	for _, tt := range sentinels {
		c := wire.Of(tt.err)
		if prev, ok := byName[c.Name]; ok && prev != c {
			t.Errorf("code %s: %+v from one sentinel, %+v from %q", c.Name, prev, c, tt.err)
		}
		byName[c.Name] = c
	}
	for _, c := range wire.All() {
		if prev, ok := byName[c.Name]; ok && prev != c {
			t.Errorf("All() lists %+v, Of gives %+v", c, prev)
		}
	}
}

func TestEveryCodeIsReachable(t *testing.T) {
	reached := map[string]bool{wire.Internal.Name: true}
	for _, tt := range sentinels {
		reached[wire.Of(tt.err).Name] = true
	}
	for _, c := range wire.All() {
		if !reached[c.Name] {
			t.Errorf("code %s is in the catalogue but no case in sentinels reaches it", c.Name)
		}
	}
}

func TestOfUnknownIsInternal(t *testing.T) {
	for _, err := range []error{
		errors.New("boom"),
		fmt.Errorf("x: %w", context.Canceled),
		// A bare key-directory miss is not a record's unknown kid: the
		// catalogue names record.ErrUnknownKey, which wraps this one.
		fmt.Errorf("x: %w", keys.ErrUnknownKey),
		nil,
	} {
		if got := wire.Of(err); got != wire.Internal {
			t.Errorf("Of(%v) = %+v, want Internal", err, got)
		}
	}
	if wire.Internal.Status != http.StatusInternalServerError || wire.Internal.Name != "internal" {
		t.Errorf("Internal = %+v", wire.Internal)
	}
}

// TestOfOrder checks that errors wrapping several sentinels get the most
// specific code, with real errors from the layers that make them.
func TestOfOrder(t *testing.T) {
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Default(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec := signedRecords(t)
	decide := func(r policy.Request) error {
		r.Time = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		return pol.Decide(r).Err()
	}
	tests := []struct {
		name        string
		err         error
		want        string
		wantPointer string
	}{
		{"record and keys unknown key", fmt.Errorf("x: %w", record.ErrUnknownKey), "unknown_key", ""},
		{"both unknown-key sentinels joined", errors.Join(keys.ErrUnknownKey, record.ErrUnknownKey), "unknown_key", ""},
		{"keys.ErrRevoked", fmt.Errorf("verify: %w", keys.ErrRevoked), "key_revoked", ""},
		{"revoked beats bad signature", fmt.Errorf("%w: %w", record.ErrBadSignature, keys.ErrRevoked), "key_revoked", ""},
		{"wrong issuer key beats wrong use", fmt.Errorf("%w: %w", record.ErrWrongIssuerKey, keys.ErrWrongUse), "wrong_issuer_key", ""},
		{"case id beats denied", decide(policy.Request{Consumer: "school-enrolment", Dataset: "household", Purpose: "school_enrolment"}), "case_id_required", ""},
		{"purpose beats denied", decide(policy.Request{Consumer: "school-enrolment", Dataset: "household", Purpose: "marketing", CaseID: "c"}), "purpose_not_allowed", ""},
		{"plain denial", decide(policy.Request{Consumer: "nobody", Dataset: "household", Purpose: "school_enrolment", CaseID: "c"}), "denied", ""},
		{"record verify: unknown kid", rec.unknownKey, "unknown_key", ""},
		{"record verify: revoked key", rec.revoked, "key_revoked", ""},
		{"record verify: auth key used for a record", rec.authKey, "wrong_issuer_key", ""},
		{"record verify: another department's key", rec.otherOwner, "wrong_issuer_key", ""},
		{"record verify: tampered", rec.tampered, "bad_signature", ""},
		{"schema violation with pointer", fmt.Errorf("ingest: %w", reg.Validate("household/v1", map[string]any{
			"resident_id": "330106202003080154", "name": "x", "gender": "male", "birth_date": "2020-03-08", "ethnicity": "汉族",
			"household_id": "h", "relation_to_head": "child", "address": "a", "registration_date": "2020-03-20",
		})), "schema_violation", "/resident_id"},
		{"schema: missing required field", reg.Validate("household/v1", map[string]any{"resident_id": "330106202003080153"}), "schema_violation", "/address"},
		{"unknown schema version", reg.Validate("household/v9", map[string]any{}), "unknown_schema", ""},
		{"unknown schema dataset", reg.Validate("pets/v1", map[string]any{}), "unknown_schema", ""},
		{"strict JSON: duplicate", jsonstrict.Decode([]byte(`{"a":1,"A":2}`), new(any)), "duplicate_key", ""},
		{"strict JSON: bad UTF-8", jsonstrict.Decode([]byte("\"\xff\""), new(any)), "invalid_utf8", ""},
		{"strict JSON: unknown field", jsonstrict.Decode([]byte(`{"b":1}`), &struct {
			A int `json:"a"`
		}{}), "unknown_field", "/b"},
		{"strict JSON: syntax", jsonstrict.Decode([]byte(`{`), new(any)), "malformed_json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("the layer returned no error")
			}
			if got := wire.Of(tt.err).Name; got != tt.want {
				t.Errorf("Of(%q) = %s, want %s", tt.err, got, tt.want)
			}
			if got := wire.Pointer(tt.err); got != tt.wantPointer {
				t.Errorf("Pointer(%q) = %q, want %q", tt.err, got, tt.wantPointer)
			}
		})
	}
}

type recordErrors struct {
	unknownKey, revoked, authKey, otherOwner, tampered error
}

// signedRecords makes real records and real verification failures.
func signedRecords(t *testing.T) recordErrors {
	t.Helper()
	ctx := context.Background()
	dir := keys.NewDirectory()
	add := func(kid, owner string, use keys.Use, st keys.Status) keys.Signer {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k := keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: st}
		if st == keys.Revoked {
			k.RevokedAt = time.Unix(1, 0)
		}
		if err := dir.Add(k); err != nil {
			t.Fatal(err)
		}
		return keys.NewLocalSigner(kid, priv)
	}
	good := add("ps-record#1", "public-security", keys.UseRecord, keys.Active)
	revoked := add("ps-record#0", "public-security", keys.UseRecord, keys.Revoked)
	auth := add("ps-auth#1", "public-security", keys.UseAuth, keys.Active)
	other := add("tax-record#1", "tax-bureau", keys.UseRecord, keys.Active)
	_, unlisted, _ := ed25519.GenerateKey(rand.Reader)
	ghost := keys.NewLocalSigner("ghost#1", unlisted)

	c := record.Claims{Issuer: "public-security", Dataset: "household", Schema: "household/v1", ID: "r1", IssuedAt: time.Unix(1700000000, 0), Op: record.Upsert}
	sign := func(s keys.Signer) string {
		r, err := record.Sign(ctx, s, c, map[string]any{"name": "x"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	verify := func(compact string) error {
		_, err := record.Verify(compact, dir)
		return err
	}
	g := sign(good)
	parts := strings.SplitN(g, ".", 3)
	tampered := parts[0] + "." + parts[1] + "." + flip(parts[2])
	return recordErrors{
		unknownKey: verify(sign(ghost)),
		revoked:    verify(sign(revoked)),
		authKey:    verify(sign(auth)),
		otherOwner: verify(sign(other)),
		tampered:   verify(tampered),
	}
}

// flip changes the first character of a base64url signature.
func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}
