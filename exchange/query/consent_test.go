package query_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// consentPolicies: school enrolment reads name and birth_date outright
// and gender only with consent; property transfer reads name only with
// consent; only consent-service may publish consents; school enrolment's
// case ids have a format.
const consentPolicies = `kind: AccessPolicy
metadata: {name: school-household}
spec:
  consumer: school-enrolment
  dataset: household
  purposes: [school_enrolment]
  fields: [name, birth_date]
---
kind: AccessPolicy
metadata: {name: school-household-consent}
spec:
  consumer: school-enrolment
  dataset: household
  purposes: [school_enrolment]
  fields: [gender]
  conditions: {consent: required}
---
kind: AccessPolicy
metadata: {name: property-household-consent}
spec:
  consumer: property-transfer
  dataset: household
  purposes: [property_transfer]
  fields: [name]
  conditions: {consent: required}
---
kind: PublisherGrant
metadata: {name: consent-service-consent}
spec:
  publisher: consent-service
  datasets: [consent]
---
kind: Purpose
metadata: {name: school-enrolment}
spec:
  purpose: school_enrolment
  caseIdPattern: '^SE-\d{4}-\d{4,}$'
`

// consentFixture holds the child's household record and, unless
// consents is "-", a consent record of the child signed by issuer
// (consent-service or public-security) with that consents field ("" for
// none).
type consentFixture struct {
	deps   query.Deps
	pol    *policy.Set
	childP string
	held   *view.Entry
}

func newConsentFixture(t *testing.T, issuer, consents string) *consentFixture {
	t.Helper()
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	cat := policy.StaticCatalog{
		"household": {"resident_id", "name", "gender", "birth_date", "ethnicity", "household_id", "relation_to_head", "address", "registration_date"},
		"consent":   {"resident_id", "recorded_at", "consents"},
	}
	pol, err := policy.Parse("policies.yaml", []byte(consentPolicies), cat)
	if err != nil {
		t.Fatal(err)
	}
	dir := keys.NewDirectory()
	signers := map[string]keys.Signer{}
	for _, owner := range []string{"exchange", "public-security", "consent-service"} {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		use, kid := keys.UseRecord, owner+"-record#1"
		if owner == "exchange" {
			use, kid = keys.UseReceipt, "exchange-receipt#1"
		}
		if err := dir.Add(keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: keys.Active}); err != nil {
			t.Fatal(err)
		}
		signers[owner] = keys.NewLocalSigner(kid, priv)
	}
	pseud := pseudonym.New(testHMAC{})
	childP, _ := pseud.Of(context.Background(), child)
	v := view.New(16)
	hold := func(issuer, dataset, id string, fields map[string]any) *view.Entry {
		ds, _ := reg.Dataset(dataset)
		raw, err := record.Sign(context.Background(), signers[issuer], record.Claims{
			Issuer: issuer, Dataset: dataset, Schema: ds.Latest, ID: id,
			IssuedAt: now.Add(-time.Hour), Op: record.Upsert, SubjectField: ds.Subject,
		}, fields)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := record.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		e := view.FromRecord(rec, now.Add(-30*time.Minute).UnixMilli())
		v.Apply(childP, e)
		return e
	}
	held := hold("public-security", "household", "HH-1",
		map[string]any{"resident_id": child, "name": "陈子涵", "birth_date": "2020-03-08", "gender": "male"})
	if consents != "-" {
		fields := map[string]any{"resident_id": child, "recorded_at": "2026-01-10T09:00:00+08:00"}
		if consents != "" {
			fields["consents"] = consents
		}
		hold(issuer, "consent", "CS-1", fields)
	}
	return &consentFixture{
		deps: query.Deps{
			Policy: func() *policy.Set { return pol }, Schemas: reg, View: v, Pseudonym: pseud,
			Receipts: signers["exchange"], Keys: dir, Node: "node-q", Now: func() time.Time { return now },
		},
		pol: pol, childP: childP, held: held,
	}
}

// TestDoConsent: fields a policy releases only with consent go only while
// the child's consent record lists (consumer, purpose) with no last day
// or a last day not before today (China time; now is 2026-01-15 17:00
// there); with nothing else left the query is refused consent_required;
// the audit entry says whether a consent was in force and names the
// consent record read.
func TestDoConsent(t *testing.T) {
	school := query.Request{Consumer: "school-enrolment", Role: "consumer", RequestID: "req-1", Dataset: "household",
		Subject: child, Purpose: "school_enrolment", CaseID: "SE-2026-0001"}
	property := school
	property.Consumer, property.Purpose, property.CaseID = "property-transfer", "property_transfer", "PT-1"
	withGender := []string{"birth_date", "gender", "name", "resident_id"}
	without := []string{"birth_date", "name", "resident_id"}

	tests := []struct {
		name            string
		issuer          string // of the consent record
		consents        string // "-": no consent record
		req             query.Request
		wantErr         error
		wantFields      []string
		wantConsent     string
		wantConsentID   string
		wantEntryPolicy string
	}{
		{"consent without a last day releases the conditioned field", "consent-service", "school-enrolment:school_enrolment",
			school, nil, withGender, audit.ConsentInForce, "CS-1", "school-household,school-household-consent"},
		{"consent until today is in force", "consent-service", "property-transfer:property_transfer school-enrolment:school_enrolment:2026-01-15",
			school, nil, withGender, audit.ConsentInForce, "CS-1", "school-household,school-household-consent"},
		{"consent that ended yesterday: the other fields only", "consent-service", "school-enrolment:school_enrolment:2026-01-14",
			school, nil, without, audit.ConsentAbsent, "CS-1", "school-household,school-household-consent"},
		{"consent for another purpose of the same consumer does not count", "consent-service", "school-enrolment:property_transfer",
			school, nil, without, audit.ConsentAbsent, "CS-1", "school-household,school-household-consent"},
		{"consent for another consumer does not count", "consent-service", "property-transfer:school_enrolment",
			school, nil, without, audit.ConsentAbsent, "CS-1", "school-household,school-household-consent"},
		{"no consent record: the other fields only", "consent-service", "-",
			school, nil, without, audit.ConsentAbsent, "", "school-household,school-household-consent"},
		{"consent in force releases a consent-only policy", "consent-service", "property-transfer:property_transfer",
			property, nil, []string{"name", "resident_id"}, audit.ConsentInForce, "CS-1", "property-household-consent"},
		{"withdrawn (a record without the entry): consent_required", "consent-service", "",
			property, query.ErrConsentRequired, nil, audit.ConsentAbsent, "CS-1", "property-household-consent"},
		{"no consent record: consent_required", "consent-service", "-",
			property, query.ErrConsentRequired, nil, audit.ConsentAbsent, "", "property-household-consent"},
		{"a malformed entry consents to nothing", "consent-service", "property-transfer:property_transfer:someday property-transfer",
			property, query.ErrConsentRequired, nil, audit.ConsentAbsent, "CS-1", "property-household-consent"},
		{"a consent record from a client without the grant is ignored", "public-security", "property-transfer:property_transfer",
			property, query.ErrConsentRequired, nil, audit.ConsentAbsent, "", "property-household-consent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newConsentFixture(t, tt.issuer, tt.consents)
			a := &auditor{}
			f.deps.Audit = a
			svc, err := query.New(f.deps)
			if err != nil {
				t.Fatal(err)
			}
			ans, outcome, err := svc.Do(context.Background(), tt.req)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Do error = %v, want %v", err, tt.wantErr)
			}
			entry := audit.Entry{
				Time: now, Kind: audit.KindQuery, Actor: tt.req.Consumer, Role: "consumer", Dataset: "household",
				Purpose: tt.req.Purpose, CaseID: tt.req.CaseID, Subject: f.childP, Decision: audit.DecisionDeny,
				Policy: tt.wantEntryPolicy, PolicyVersion: f.pol.Version(), RequestID: "req-1", Node: "node-q",
				Consent: tt.wantConsent, ConsentRecordID: tt.wantConsentID,
			}
			if tt.wantErr != nil {
				if outcome != query.Deny || !query.Audited(err) || wire.Of(err).Status != 403 {
					t.Errorf("outcome %v, audited %v, status %d; want deny, audited, 403", outcome, query.Audited(err), wire.Of(err).Status)
				}
				entry.Code = "consent_required"
			} else {
				if outcome != query.Permit || !slices.Equal(ans.Fields, tt.wantFields) {
					t.Fatalf("outcome %v fields %v, want permit %v", outcome, ans.Fields, tt.wantFields)
				}
				if want := f.held.Project(tt.wantFields); ans.Record != want {
					t.Errorf("record is not the held record projected onto %v", tt.wantFields)
				}
				wantData := map[string]any{"resident_id": child, "name": "陈子涵", "birth_date": "2020-03-08", "gender": "male"}
				for k := range wantData {
					if !slices.Contains(tt.wantFields, k) {
						delete(wantData, k)
					}
				}
				if !reflect.DeepEqual(ans.Data, wantData) {
					t.Errorf("data %v, want %v", ans.Data, wantData)
				}
				entry.Decision, entry.RecordID, entry.Fields = audit.DecisionPermit, "HH-1", tt.wantFields
			}
			if !reflect.DeepEqual(a.entries, []audit.Entry{entry}) {
				t.Errorf("audit entries:\n got %+v\nwant %+v", a.entries, []audit.Entry{entry})
			}
		})
	}
}

// TestDoCaseIDFormat: a plain case id that does not match its purpose's
// caseIdPattern is refused bad_case_id (400) naming /case_id, before the
// policy decides, and stays out of the audit entry; a purpose without a
// pattern takes any plain case id.
func TestDoCaseIDFormat(t *testing.T) {
	tests := []struct {
		name, purpose, consumer, caseID string
		wantErr                         error
	}{
		{"matches", "school_enrolment", "school-enrolment", "SE-2026-0001", nil},
		{"longer sequence matches", "school_enrolment", "school-enrolment", "SE-2026-123456", nil},
		{"free form", "school_enrolment", "school-enrolment", "SE-7", policy.ErrBadCaseID},
		{"another procedure's prefix", "school_enrolment", "school-enrolment", "PT-2026-0001", policy.ErrBadCaseID},
		{"a matching prefix with a tail", "school_enrolment", "school-enrolment", "SE-2026-0001-x", policy.ErrBadCaseID},
		{"no pattern declared: any plain case id", "property_transfer", "property-transfer", "anything-1", query.ErrConsentRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newConsentFixture(t, "consent-service", "-")
			a := &auditor{}
			f.deps.Audit = a
			svc, err := query.New(f.deps)
			if err != nil {
				t.Fatal(err)
			}
			q := query.Request{Consumer: tt.consumer, Role: "consumer", RequestID: "req-1", Dataset: "household",
				Subject: child, Purpose: tt.purpose, CaseID: tt.caseID}
			_, _, err = svc.Do(context.Background(), q)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Do error = %v, want %v", err, tt.wantErr)
			}
			if len(a.entries) != 1 {
				t.Fatalf("%d audit entries, want 1", len(a.entries))
			}
			if tt.wantErr != policy.ErrBadCaseID {
				if a.entries[0].CaseID != tt.caseID {
					t.Errorf("entry case id %q, want %q", a.entries[0].CaseID, tt.caseID)
				}
				return
			}
			if wire.Pointer(err) != "/case_id" || wire.Of(err).Name != "bad_case_id" || wire.Of(err).Status != 400 || !query.Audited(err) {
				t.Errorf("error %v: pointer %q code %s status %d audited %v; want /case_id bad_case_id 400 audited",
					err, wire.Pointer(err), wire.Of(err).Name, wire.Of(err).Status, query.Audited(err))
			}
			want := audit.Entry{
				Time: now, Kind: audit.KindQuery, Actor: tt.consumer, Role: "consumer", Dataset: "household",
				Purpose: tt.purpose, Subject: f.childP, Decision: audit.DecisionDeny, Code: "bad_case_id",
				RequestID: "req-1", Node: "node-q",
			}
			if !reflect.DeepEqual(a.entries[0], want) {
				t.Errorf("audit entry:\n got %+v\nwant %+v", a.entries[0], want)
			}
		})
	}
}
