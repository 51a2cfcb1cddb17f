package query_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/query"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
)

// casePolicies add a procedure over the fixture's household records: the
// child's name (the policy also allows birth_date, the procedure does
// not use it) and the father's name and birth date.
const casePolicies = policies + `---
kind: Purpose
metadata: {name: school-enrolment}
spec: {purpose: school_enrolment, caseIdPattern: '^SE-\d{4}-\d{4,}$'}
---
kind: PublisherGrant
metadata: {name: public-security-household}
spec: {publisher: public-security, datasets: [household]}
---
kind: Procedure
metadata: {name: procedure-school-enrolment}
spec:
  procedure: school_enrolment
  purpose: school_enrolment
  service: school-enrolment
  evidence:
    - {dataset: household, role: child, fields: [name]}
    - {dataset: household, role: father, fields: [name, birth_date]}
`

// syncAuditor keeps every entry written, safe for Case's concurrent items.
type syncAuditor struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    error
}

func (a *syncAuditor) Write(_ context.Context, es ...audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.entries = append(a.entries, es...)
	return nil
}

type caseItem struct {
	Role, Dataset string
	Data          map[string]any
	Fields        []string
}

// TestCase runs case bundles over the fixture and compares the items,
// the missing items, the error (errors.Is against its sentinel, pointer,
// audited) and every audit entry written (the case entry's elapsed time
// is only checked to be set).
func TestCase(t *testing.T) {
	f := newFixture(t)
	cat := policy.StaticCatalog{"household": {"resident_id", "name", "gender", "birth_date", "ethnicity", "household_id", "relation_to_head", "address", "registration_date"}}
	pol, err := policy.Parse("case.yaml", []byte(casePolicies), cat)
	if err != nil {
		t.Fatal(err)
	}
	f.deps.Policy = func() *policy.Set { return pol }
	fatherP, _ := f.pseud.Of(context.Background(), father)
	nobody := "330106199001010018"
	base := query.CaseRequest{Consumer: "school-enrolment", Role: "consumer", RequestID: "req-c", Procedure: "school_enrolment",
		CaseID: "SE-2026-0001", Subjects: map[string]string{"child": child}}
	// refused is the entry of a case refused whole.
	refused := audit.Entry{Time: now, Kind: audit.KindQuery, Actor: "school-enrolment", Role: "consumer", Route: query.CaseRoute,
		Decision: audit.DecisionDeny, RequestID: "req-c", Node: "node-q", PolicyVersion: pol.Version()}
	withCode := func(e audit.Entry, code string, edit func(*audit.Entry)) audit.Entry {
		e.Code = code
		if edit != nil {
			edit(&e)
		}
		return e
	}
	item := func(role, subject, record string, d audit.Decision, code string, fields []string) audit.Entry {
		return audit.Entry{CaseRole: role, Time: now, Kind: audit.KindQuery, Actor: "school-enrolment", Role: "consumer", Dataset: "household",
			Purpose: "school_enrolment", CaseID: "SE-2026-0001", Subject: subject, RecordID: record, Fields: fields, Decision: d, Code: code,
			Policy: "school-household", PolicyVersion: pol.Version(), RequestID: "req-c", Node: "node-q", Procedure: "school_enrolment"}
	}
	summary := func(code string) audit.Entry {
		return audit.Entry{Time: now, Kind: audit.KindCase, Actor: "school-enrolment", Role: "consumer", Route: query.CaseRoute,
			Purpose: "school_enrolment", CaseID: "SE-2026-0001", Decision: audit.DecisionPermit, Code: code, PolicyVersion: pol.Version(),
			RequestID: "req-c", Node: "node-q", Procedure: "school_enrolment"}
	}
	childItem := caseItem{Role: "child", Dataset: "household", Data: map[string]any{"resident_id": child, "name": "陈子涵"}, Fields: []string{"name", "resident_id"}}
	holders := []string{"public-security"}

	tests := []struct {
		name        string
		req         func(*query.CaseRequest)
		audit       func(*syncAuditor)
		wantItems   []caseItem
		wantMissing []query.MissingItem
		wantErr     error
		wantPointer string
		wantAudited bool
		wantEntries []audit.Entry
		wantLimits  int
	}{
		{
			name:        "the child only: its item narrowed to the procedure's fields, the father's items no_subject",
			wantItems:   []caseItem{childItem},
			wantMissing: []query.MissingItem{{Role: "father", Dataset: "household", Reason: query.MissingNoSubject, Holders: holders}},
			wantEntries: []audit.Entry{item("child", f.childP, "HH-1", audit.DecisionPermit, "", childItem.Fields), summary("case_incomplete")},
			wantLimits:  1,
		},
		{
			name:        "the father's record signed with a key revoked before its acceptance: missing, key_revoked",
			req:         func(r *query.CaseRequest) { r.Subjects = map[string]string{"child": child, "father": father} },
			wantItems:   []caseItem{childItem},
			wantMissing: []query.MissingItem{{Role: "father", Dataset: "household", Reason: "key_revoked", Holders: holders}},
			wantEntries: []audit.Entry{item("child", f.childP, "HH-1", audit.DecisionPermit, "", childItem.Fields),
				item("father", fatherP, "HH-2", audit.DecisionDeny, "key_revoked", nil), summary("case_incomplete")},
			wantLimits: 2,
		},
		{
			name:        "no record held: missing, not_found",
			req:         func(r *query.CaseRequest) { r.Subjects = map[string]string{"child": nobody} },
			wantMissing: []query.MissingItem{{Role: "child", Dataset: "household", Reason: "not_found", Holders: holders}, {Role: "father", Dataset: "household", Reason: query.MissingNoSubject, Holders: holders}},
			wantEntries: func() []audit.Entry {
				p, _ := f.pseud.Of(context.Background(), nobody)
				return []audit.Entry{item("child", p, "", audit.DecisionDeny, "not_found", nil), summary("case_incomplete")}
			}(),
			wantLimits: 1,
		},
		{
			name:    "unknown procedure",
			req:     func(r *query.CaseRequest) { r.Procedure = "birth_registration" },
			wantErr: query.ErrUnknownProcedure, wantPointer: "/procedure", wantAudited: true,
			wantEntries: []audit.Entry{withCode(refused, "unknown_procedure", nil)},
		},
		{
			name:    "another service's procedure",
			req:     func(r *query.CaseRequest) { r.Consumer = "property-transfer" },
			wantErr: query.ErrProcedureNotYours, wantAudited: true,
			wantEntries: []audit.Entry{withCode(refused, "procedure_not_yours", func(e *audit.Entry) {
				e.Actor, e.Procedure, e.Purpose = "property-transfer", "school_enrolment", "school_enrolment"
			})},
		},
		{
			name:    "case id in another format",
			req:     func(r *query.CaseRequest) { r.CaseID = "NB-2026-0001" },
			wantErr: policy.ErrBadCaseID, wantPointer: "/case_id", wantAudited: true,
			wantEntries: []audit.Entry{withCode(refused, "bad_case_id", func(e *audit.Entry) { e.Procedure, e.Purpose = "school_enrolment", "school_enrolment" })},
		},
		{
			name:    "a role the procedure does not name",
			req:     func(r *query.CaseRequest) { r.Subjects = map[string]string{"child": child, "seller": father} },
			wantErr: query.ErrRoleNotInProcedure, wantPointer: "/subjects/seller", wantAudited: true,
			wantEntries: []audit.Entry{withCode(refused, "role_not_in_procedure", func(e *audit.Entry) {
				e.Procedure, e.Purpose, e.CaseID = "school_enrolment", "school_enrolment", "SE-2026-0001"
			})},
		},
		{
			name:    "a bad subject for its role",
			req:     func(r *query.CaseRequest) { r.Subjects = map[string]string{"father": "91330106MA2KXY7T3M"} },
			wantErr: codes.ErrBadSubject, wantPointer: "/subjects/father", wantAudited: true,
			wantEntries: []audit.Entry{withCode(refused, "invalid_subject", func(e *audit.Entry) {
				e.Procedure, e.Purpose, e.CaseID = "school_enrolment", "school_enrolment", "SE-2026-0001"
			})},
		},
		{
			name: "over the caller's limits: refused whole before any item",
			req: func(r *query.CaseRequest) {
				r.Limit = func(*policy.Set, string) (bool, error) { return true, codes.ErrRateLimited }
			},
			wantErr: codes.ErrRateLimited, wantAudited: true,
			wantEntries: []audit.Entry{withCode(refused, "rate_limited", func(e *audit.Entry) {
				e.Procedure, e.Purpose, e.CaseID = "school_enrolment", "school_enrolment", "SE-2026-0001"
			})},
		},
		{
			name:    "the audit log is away: unavailable, nothing released",
			audit:   func(a *syncAuditor) { a.fail = errors.New("broker away") },
			wantErr: codes.ErrUnavailable, wantLimits: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &syncAuditor{}
			if tc.audit != nil {
				tc.audit(a)
			}
			d := f.deps
			d.Audit = a
			s, err := query.New(d)
			if err != nil {
				t.Fatal(err)
			}
			r := base
			limits := 0
			r.Limit = func(_ *policy.Set, purpose string) (bool, error) {
				if purpose != "school_enrolment" {
					t.Errorf("limits counted for purpose %q, want the procedure's school_enrolment", purpose)
				}
				limits++
				return false, nil
			}
			if tc.req != nil {
				tc.req(&r)
			}
			ans, err := s.Case(context.Background(), r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if got := wire.Pointer(err); got != tc.wantPointer {
					t.Errorf("pointer %q, want %q", got, tc.wantPointer)
				}
				if query.Audited(err) != tc.wantAudited {
					t.Errorf("Audited = %t, want %t", query.Audited(err), tc.wantAudited)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			var items []caseItem
			for _, it := range ans.Items {
				if it.Record == "" || it.Receipt == "" {
					t.Errorf("%s/%s: no record or receipt", it.Role, it.Dataset)
				}
				items = append(items, caseItem{it.Role, it.Dataset, it.Data, it.Fields})
			}
			if !reflect.DeepEqual(items, tc.wantItems) || !reflect.DeepEqual(ans.Missing, tc.wantMissing) {
				t.Errorf("items %+v missing %+v,\nwant %+v missing %+v", items, ans.Missing, tc.wantItems, tc.wantMissing)
			}
			if err == nil && ans.Complete() != (len(tc.wantMissing) == 0) {
				t.Errorf("Complete() = %t", ans.Complete())
			}
			got := a.entries
			// Items run concurrently: their entries in evidence order.
			for i := range got {
				if got[i].Kind == audit.KindCase {
					if got[i].ElapsedMicros <= 0 {
						t.Errorf("case entry without its assembly time: %+v", got[i])
					}
					got[i].ElapsedMicros = 0
				}
			}
			if len(got) > 2 && got[0].Subject != f.childP {
				got[0], got[1] = got[1], got[0]
			}
			if !reflect.DeepEqual(got, tc.wantEntries) {
				t.Errorf("audit entries\n got %+v\nwant %+v", got, tc.wantEntries)
			}
			if limits != tc.wantLimits {
				t.Errorf("limits counted %d times, want %d (once per item with a subject, none for a case refused before)", limits, tc.wantLimits)
			}
		})
	}
}
