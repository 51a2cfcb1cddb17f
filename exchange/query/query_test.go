package query_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Subjects of the fixture (connectors/samples): a record is held for
// child, one signed with a key revoked before its acceptance for father,
// nothing for nobody.
const (
	child  = "330106202003080153"
	father = "330106198503120415"
)

var now = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC) // in the past: receipts are checked against the real clock

const policies = `kind: AccessPolicy
metadata: {name: school-household}
spec:
  consumer: school-enrolment
  dataset: household
  purposes: [school_enrolment]
  requireCaseId: true
  fields: [name, birth_date]
---
kind: AccessPolicy
metadata: {name: property-household}
spec:
  consumer: property-transfer
  dataset: household
  purposes: [property_transfer]
  fields: [name]
`

type testHMAC struct{}

func (testHMAC) HMAC(_ context.Context, msg []byte) ([]byte, error) {
	m := hmac.New(sha256.New, []byte("query-test-pseudonym-key-32bytes"))
	m.Write(msg)
	return m.Sum(nil), nil
}

// auditor keeps every entry written; fail makes every write fail.
type auditor struct {
	entries []audit.Entry
	fail    error
}

func (a *auditor) Write(_ context.Context, es ...audit.Entry) error {
	if a.fail != nil {
		return a.fail
	}
	a.entries = append(a.entries, es...)
	return nil
}

type fixture struct {
	deps   query.Deps
	dir    *keys.Directory
	pol    *policy.Set
	pseud  *pseudonym.Pseudonymizer
	held   *view.Entry // the child's record as the view holds it
	childP string      // the child's pseudonym
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	hh, _ := reg.Dataset("household")
	cat := policy.StaticCatalog{"household": {"resident_id", "name", "gender", "birth_date", "ethnicity", "household_id", "relation_to_head", "address", "registration_date"}}
	pol, err := policy.Parse("policies.yaml", []byte(policies), cat)
	if err != nil {
		t.Fatal(err)
	}
	dir := keys.NewDirectory()
	add := func(kid, owner string, use keys.Use) keys.Signer {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.Add(keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: keys.Active}); err != nil {
			t.Fatal(err)
		}
		return keys.NewLocalSigner(kid, priv)
	}
	receipts := add("exchange-receipt#1", "exchange", keys.UseReceipt)
	recKey := add("public-security-record#1", "public-security", keys.UseRecord)
	oldKey := add("public-security-record#0", "public-security", keys.UseRecord)
	pseud := pseudonym.New(testHMAC{})
	v := view.New(16)
	hold := func(s keys.Signer, id, subject string) *view.Entry {
		raw, err := record.Sign(context.Background(), s, record.Claims{
			Issuer: "public-security", Dataset: "household", Schema: hh.Latest, ID: id,
			IssuedAt: now.Add(-time.Hour), Op: record.Upsert, SubjectField: hh.Subject,
		}, map[string]any{"resident_id": subject, "name": "陈子涵", "birth_date": "2020-03-08", "ethnicity": "汉族", "gender": "男"})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := record.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pseud.Of(context.Background(), subject)
		if err != nil {
			t.Fatal(err)
		}
		e := view.FromRecord(rec, now.Add(-30*time.Minute).UnixMilli())
		v.Apply(p, e)
		return e
	}
	held := hold(recKey, "HH-1", child)
	hold(oldKey, "HH-2", father)
	// Revoked an hour before the father's record was accepted.
	if err := dir.SetStatus("public-security-record#0", keys.Revoked, now.Add(-90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	childP, _ := pseud.Of(context.Background(), child)
	return &fixture{
		deps: query.Deps{
			Policy: func() *policy.Set { return pol }, Schemas: reg, View: v, Pseudonym: pseud,
			Receipts: receipts, Keys: dir, Node: "node-q", Now: func() time.Time { return now },
		},
		dir: dir, pol: pol, pseud: pseud, held: held, childP: childP,
	}
}

// TestDo runs the query flow over one fixture and compares, for each
// request, the whole answer, the outcome, the error (errors.Is against
// its sentinel, the field pointer, whether it was audited) and every
// audit entry written.
func TestDo(t *testing.T) {
	f := newFixture(t)
	fatherP, _ := f.pseud.Of(context.Background(), father)
	nobody := "330106199001010018"
	if err := schemas.ValidResidentID(nobody); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	nobodyP, _ := f.pseud.Of(context.Background(), nobody)
	base := query.Request{Consumer: "school-enrolment", Role: "consumer", RequestID: "req-1", Dataset: "household", Subject: child, Purpose: "school_enrolment", CaseID: "SE-2026-0001"}
	// deny is the entry of a refusal once every field passed.
	deny := audit.Entry{
		Time: now, Kind: audit.KindQuery, Actor: "school-enrolment", Role: "consumer", Dataset: "household",
		Purpose: "school_enrolment", CaseID: "SE-2026-0001", Subject: f.childP, Decision: audit.DecisionDeny,
		RequestID: "req-1", Node: "node-q",
	}
	with := func(e audit.Entry, edit func(*audit.Entry)) []audit.Entry { edit(&e); return []audit.Entry{e} }
	overLimit := errors.Join(errors.New("over its limits"), codes.ErrRateLimited)
	permitFields := []string{"birth_date", "name", "resident_id"}

	tests := []struct {
		name        string
		req         func(*query.Request)
		deps        func(*query.Deps, *auditor)
		want        query.Answer // Record and Receipt are checked separately when permitted
		wantOutcome query.Outcome
		wantErr     error
		wantPointer string
		wantAudited bool
		wantEntries []audit.Entry
	}{
		{
			name:        "permit: the policy's fields and the subject field, nothing else",
			want:        query.Answer{Data: map[string]any{"resident_id": child, "name": "陈子涵", "birth_date": "2020-03-08"}, Fields: permitFields},
			wantOutcome: query.Permit,
			wantEntries: with(deny, func(e *audit.Entry) {
				e.Decision, e.Code, e.RecordID, e.Fields = audit.DecisionPermit, "", "HH-1", permitFields
				e.Policy, e.PolicyVersion = "school-household", f.pol.Version()
			}),
		},
		{
			name:        "no case id: denied by policy, audited",
			req:         func(q *query.Request) { q.CaseID = "" },
			wantOutcome: query.Deny, wantErr: policy.ErrCaseIDRequired, wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) {
				e.CaseID, e.Code, e.Policy, e.PolicyVersion = "", "case_id_required", "school-household", f.pol.Version()
			}),
		},
		{
			name:        "a purpose declared for another consumer: denied",
			req:         func(q *query.Request) { q.Purpose = "property_transfer" },
			wantOutcome: query.Deny, wantErr: policy.ErrPurposeNotAllowed, wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) {
				e.Purpose, e.Code, e.Policy, e.PolicyVersion = "property_transfer", "purpose_not_allowed", "school-household", f.pol.Version()
			}),
		},
		{
			name:        "a purpose no policy declares: refused by field, kept out of the entry",
			req:         func(q *query.Request) { q.Purpose = "curiosity" },
			wantOutcome: query.Error, wantErr: codes.ErrUnknownPurpose, wantPointer: "/purpose", wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) { e.Purpose, e.Code = "", "unknown_purpose" }),
		},
		{
			name:        "a case id holding an identity number: refused, kept out of the entry",
			req:         func(q *query.Request) { q.CaseID = "SE-" + father },
			wantOutcome: query.Error, wantErr: codes.ErrBadCaseID, wantPointer: "/case_id", wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) { e.CaseID, e.Code = "", "bad_case_id" }),
		},
		{
			name:        "missing subject",
			req:         func(q *query.Request) { q.Subject = "" },
			wantOutcome: query.Error, wantErr: codes.ErrMissingField, wantPointer: "/subject", wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) { e.Dataset, e.Subject, e.Code = "", "", "missing_field" }),
		},
		{
			name:        "unknown dataset",
			req:         func(q *query.Request) { q.Dataset = "weather" },
			wantOutcome: query.Error, wantErr: codes.ErrUnknownDataset, wantPointer: "/dataset", wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) { e.Dataset, e.Subject, e.Code = "", "", "unknown_dataset" }),
		},
		{
			name:        "wrong check character",
			req:         func(q *query.Request) { q.Subject = child[:17] + "4" },
			wantOutcome: query.Error, wantErr: codes.ErrBadCheckCharacter, wantPointer: "/subject", wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) { e.Subject, e.Code = "", "bad_check_character" }),
		},
		{
			name:        "nothing held for the subject",
			req:         func(q *query.Request) { q.Subject = nobody },
			wantOutcome: query.NotFound, wantErr: codes.ErrNotFound, wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) {
				e.Subject, e.Code, e.Policy, e.PolicyVersion = nobodyP, "not_found", "school-household", f.pol.Version()
			}),
		},
		{
			name:        "record signed with a key revoked before its acceptance",
			req:         func(q *query.Request) { q.Subject = father },
			wantOutcome: query.Error, wantErr: keys.ErrRevoked, wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) {
				e.Subject, e.RecordID, e.Code, e.Policy, e.PolicyVersion = fatherP, "HH-2", "key_revoked", "school-household", f.pol.Version()
			}),
		},
		{
			name:        "over the limits, audited",
			req:         func(q *query.Request) { q.Limit = func(*policy.Set) (bool, error) { return true, overLimit } },
			wantOutcome: query.Error, wantErr: codes.ErrRateLimited, wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) { e.Dataset, e.Subject, e.Code = "", "", "rate_limited" }),
		},
		{
			name:        "over the limits, sampled away: no entry, yet marked audited",
			req:         func(q *query.Request) { q.Limit = func(*policy.Set) (bool, error) { return false, overLimit } },
			wantOutcome: query.Error, wantErr: codes.ErrRateLimited, wantAudited: true,
		},
		{
			name:        "key versions stale: refused and audited",
			deps:        func(d *query.Deps, _ *auditor) { d.Fresh = func() error { return codes.ErrKeysStale } },
			wantOutcome: query.Error, wantErr: codes.ErrKeysStale, wantAudited: true,
			wantEntries: with(deny, func(e *audit.Entry) {
				e.Code, e.Policy, e.PolicyVersion = "keys_stale", "school-household", f.pol.Version()
			}),
		},
		{
			name:        "view not caught up: unavailable, nothing audited",
			deps:        func(d *query.Deps, _ *auditor) { d.Ready = func() error { return errors.New("starting") } },
			wantOutcome: query.Error, wantErr: codes.ErrUnavailable,
		},
		{
			name:        "audit log unwritable: unavailable, nothing released",
			deps:        func(_ *query.Deps, a *auditor) { a.fail = errors.New("brokers away") },
			wantOutcome: query.Error, wantErr: codes.ErrUnavailable,
		},
		{
			name:        "audit log unwritable on a refusal: unavailable, not marked audited",
			req:         func(q *query.Request) { q.CaseID = "" },
			deps:        func(_ *query.Deps, a *auditor) { a.fail = errors.New("brokers away") },
			wantOutcome: query.Deny, wantErr: codes.ErrUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &auditor{}
			d := f.deps
			d.Audit = a
			if tt.deps != nil {
				tt.deps(&d, a)
			}
			s, err := query.New(d)
			if err != nil {
				t.Fatal(err)
			}
			q := base
			if tt.req != nil {
				tt.req(&q)
			}
			ans, outcome, err := s.Do(context.Background(), q)
			if outcome != tt.wantOutcome {
				t.Errorf("outcome = %q, want %q", outcome, tt.wantOutcome)
			}
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := codes.Pointer(err); err != nil && got != tt.wantPointer {
				t.Errorf("pointer = %q, want %q", got, tt.wantPointer)
			}
			if got := query.Audited(err); err != nil && got != tt.wantAudited {
				t.Errorf("Audited = %v, want %v", got, tt.wantAudited)
			}
			if !reflect.DeepEqual(a.entries, tt.wantEntries) {
				t.Errorf("audit entries:\n got %+v\nwant %+v", a.entries, tt.wantEntries)
			}
			if err != nil {
				if !reflect.DeepEqual(ans, query.Answer{}) {
					t.Errorf("refused query released %+v", ans)
				}
				return
			}
			checkPermit(t, f, q, ans, tt.want)
		})
	}
}

// checkPermit checks a permitted answer whole: the data and fields, the
// record (the held record projected onto exactly those fields) and the
// receipt (every claim, verified with the exchange's receipt key).
func checkPermit(t *testing.T, f *fixture, q query.Request, ans, want query.Answer) {
	t.Helper()
	if !reflect.DeepEqual(ans.Data, want.Data) || !reflect.DeepEqual(ans.Fields, want.Fields) {
		t.Errorf("answer data %v fields %v, want %v %v", ans.Data, ans.Fields, want.Data, want.Fields)
	}
	if wantRec := f.held.Project(want.Fields); ans.Record != wantRec {
		t.Errorf("record = %q, want the held record projected onto %v", ans.Record, want.Fields)
	}
	rec, err := record.Verify(ans.Record, f.dir)
	if err != nil {
		t.Fatalf("released record does not verify: %v", err)
	}
	subj, id, err := rec.Subject()
	if err != nil || id != q.Subject {
		t.Fatalf("released record bound to %q (%v), want the subject asked about", id, err)
	}
	got, err := receipt.Verify(ans.Receipt, f.dir, ans.Record, q.Consumer)
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	// The issue time is compared as an instant (a decoded time has
	// another location), the rest of the claims as a whole.
	if got.IssuedAt == nil || !got.IssuedAt.Time.Equal(now) {
		t.Errorf("receipt iat = %v, want %v", got.IssuedAt, now)
	}
	got.IssuedAt = nil
	wantRcpt := receipt.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: receipt.Issuer, Subject: q.Consumer, ID: q.RequestID},
		RecordID:         "HH-1", RecordIssuer: "public-security", Dataset: q.Dataset, Purpose: q.Purpose, CaseID: q.CaseID,
		Fields: want.Fields, Policy: "school-household", RecordSHA256: receipt.Digest(ans.Record),
		RecordAcceptedAt: f.held.AcceptedAt, SubjectSD: subj.Digest,
	}
	if !reflect.DeepEqual(got, wantRcpt) {
		t.Errorf("receipt claims:\n got %+v\nwant %+v", got, wantRcpt)
	}
}
