package dev_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/wire"
)

// publishDatasets publishes the sample CSVs of datasets through Kafka, as
// their departments would, and waits until the view holds every record
// published so far (want is the running total).
func publishDatasets(t *testing.T, env *dev.Env, want *int, datasets ...string) {
	t.Helper()
	n, err := env.PublishSampleDatasets(context.Background(), datasets...)
	if err != nil {
		t.Fatal(err)
	}
	*want += n
	waitFor(t, fmt.Sprintf("%d records in the view", *want), func() bool { return env.Node.View().Len() == *want })
}

// caseSummary is what a test compares of a verified bundle: each item's
// verified data by role and dataset, and the missing items.
type caseSummary struct {
	Items    map[string]map[string]any
	Missing  []wire.CaseMissing
	Complete bool
}

func summarise(t *testing.T, a *connectors.CaseAnswer) caseSummary {
	t.Helper()
	s := caseSummary{Items: map[string]map[string]any{}, Complete: a.Complete}
	if len(a.Missing) > 0 {
		s.Missing = a.Missing
	}
	for _, it := range a.Items {
		// Through JSON, so disclosed numbers compare as plain values.
		b, err := json.Marshal(it.Data)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		s.Items[it.Role+"/"+it.Dataset] = m
	}
	return s
}

func requester(t *testing.T, env *dev.Env, client string) *connectors.Requester {
	t.Helper()
	c, err := env.Client(client)
	if err != nil {
		t.Fatal(err)
	}
	return &connectors.Requester{Client: c}
}

const (
	home       = "浙江省杭州市西湖区文三路90号2幢501室"
	fatherName = "陈建国"
	motherName = "林晓燕"
)

// TestCaseNewbornRegistration: the newborn-registration service gathers
// the child's birth certificate and both parents' households and
// marriage records in one call, each verified by the requester SDK, one
// audit entry per item plus the case's; with the marriage register not
// yet loaded, the same case lists exactly the two marriage items as
// missing, held by civil affairs; a parent left out makes that parent's
// items missing as no_subject.
func TestCaseNewbornRegistration(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	n := 0
	publishDatasets(t, env, &n, "household", "birth")
	req := requester(t, env, "newborn-registration")
	subjects := map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID, "mother": samples.MotherResidentID}
	q := connectors.CaseQuery{Procedure: "newborn_registration", CaseID: "NB-2026-0001", Subjects: subjects}

	births := map[string]any{"resident_id": samples.ChildResidentID, "name": "陈子涵", "gender": "male", "birth_date": "2020-03-08",
		"hospital": "浙江大学医学院附属妇产科医院", "mother_name": motherName, "father_name": fatherName, "certificate_no": "Q330012345"}
	households := map[string]map[string]any{
		"father/household": {"resident_id": samples.GuardianResidentID, "name": fatherName, "household_id": samples.ChildHouseholdID, "address": home},
		"mother/household": {"resident_id": samples.MotherResidentID, "name": motherName, "household_id": samples.ChildHouseholdID, "address": home},
	}
	marriage := func(id, name, spouse string) map[string]any {
		return map[string]any{"resident_id": id, "name": name, "marital_status": "married", "spouse_name": spouse,
			"certificate_no": "J330106-2013-001264", "registered_date": "2013-09-28"}
	}
	civil := []string{"civil-affairs"}

	// Without the marriage register: two items missing, not found.
	a, err := req.Case(ctx, q)
	if err != nil {
		t.Fatalf("case: %v", err)
	}
	want := caseSummary{
		Items: map[string]map[string]any{"child/birth": births, "father/household": households["father/household"], "mother/household": households["mother/household"]},
		Missing: []wire.CaseMissing{
			{Role: "father", Dataset: "marriage", Reason: "not_found", Holders: civil},
			{Role: "mother", Dataset: "marriage", Reason: "not_found", Holders: civil},
		},
	}
	if got := summarise(t, a); !reflect.DeepEqual(got, want) {
		t.Fatalf("bundle without marriages:\n got %+v\nwant %+v", got, want)
	}

	// With it: complete, five verified items.
	publishDatasets(t, env, &n, "marriage")
	a, err = req.Case(ctx, q)
	if err != nil {
		t.Fatalf("case: %v", err)
	}
	want = caseSummary{
		Items: map[string]map[string]any{"child/birth": births, "father/household": households["father/household"], "mother/household": households["mother/household"],
			"father/marriage": marriage(samples.GuardianResidentID, fatherName, motherName),
			"mother/marriage": marriage(samples.MotherResidentID, motherName, fatherName)},
		Complete: true,
	}
	if got := summarise(t, a); !reflect.DeepEqual(got, want) {
		t.Fatalf("complete bundle:\n got %+v\nwant %+v", got, want)
	}
	// Each item's receipt names its record, the purpose and the case.
	for _, it := range a.Items {
		if it.Receipt.RecordID != it.Record.ID || it.Receipt.Purpose != "newborn_registration" || it.Receipt.CaseID != "NB-2026-0001" || it.Receipt.Dataset != it.Dataset {
			t.Errorf("%s/%s: receipt %+v does not match its record %s", it.Role, it.Dataset, it.Receipt, it.Record.ID)
		}
	}
	// One query entry per item, naming the procedure, then the case entry.
	// (A producer retry may write an entry twice; a replayed entry is the
	// same bytes, so entries are counted once each.)
	var entries []audit.Entry
	waitFor(t, "the case's audit entries", func() bool {
		entries = nil
		seen := map[string]bool{}
		for _, e := range abuseAuditEntries(t, env) {
			if k := string(e.MarshalCanonical()); e.RequestID == a.RequestID && !seen[k] {
				seen[k] = true
				entries = append(entries, e)
			}
		}
		return len(entries) > 0 && entries[len(entries)-1].Kind == audit.KindCase
	})
	var items []string
	for _, e := range entries[:len(entries)-1] {
		if e.Kind != audit.KindQuery || e.Decision != audit.DecisionPermit || e.Procedure != "newborn_registration" || e.CaseID != "NB-2026-0001" || e.RecordID == "" {
			t.Errorf("item entry %+v", e)
		}
		items = append(items, e.Dataset)
	}
	slices.Sort(items)
	if want := []string{"birth", "household", "household", "marriage", "marriage"}; !slices.Equal(items, want) {
		t.Errorf("item entries for %v, want %v", items, want)
	}
	if c := entries[len(entries)-1]; c.Code != "case_complete" || c.Procedure != "newborn_registration" || c.ElapsedMicros <= 0 || c.Subject != "" {
		t.Errorf("case entry %+v", c)
	}

	// The mother left out: her items are missing, as no_subject.
	a, err = req.Case(ctx, connectors.CaseQuery{Procedure: "newborn_registration", CaseID: "NB-2026-0002",
		Subjects: map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID}})
	if err != nil {
		t.Fatalf("case: %v", err)
	}
	wantMissing := []wire.CaseMissing{
		{Role: "mother", Dataset: "household", Reason: "no_subject", Holders: []string{"public-security"}},
		{Role: "mother", Dataset: "marriage", Reason: "no_subject", Holders: civil},
	}
	if got := summarise(t, a); len(got.Items) != 3 || !reflect.DeepEqual(got.Missing, wantMissing) || got.Complete {
		t.Errorf("bundle without the mother: %+v, want 3 items and missing %+v", got, wantMissing)
	}
}

// TestCaseCompanyEstablishment: a case keyed by a unified social credit
// code: the company's licence and its legal representative's household,
// each verified, the company's record bound to the credit code.
func TestCaseCompanyEstablishment(t *testing.T) {
	env := startDev(t)
	n := 0
	publishDatasets(t, env, &n, "household", "business_licence")
	a, err := requester(t, env, "company-registration").Case(context.Background(), connectors.CaseQuery{
		Procedure: "company_establishment", CaseID: "CE-2026-0001",
		Subjects: map[string]string{"company": samples.NewCompanyCreditCode, "legal_representative": samples.MotherResidentID},
	})
	if err != nil {
		t.Fatalf("case: %v", err)
	}
	want := caseSummary{
		Items: map[string]map[string]any{
			"company/business_licence": {"credit_code": samples.NewCompanyCreditCode, "company_name": "杭州晓燕文化创意有限公司",
				"company_type": "有限责任公司(自然人独资)", "legal_representative": motherName, "registered_capital": 50.0,
				"established_date": "2026-11-20", "address": "浙江省杭州市西湖区文三路90号2幢502室", "status": "active"},
			"legal_representative/household": {"resident_id": samples.MotherResidentID, "name": motherName, "household_id": samples.ChildHouseholdID, "address": home},
		},
		Complete: true,
	}
	if got := summarise(t, a); !reflect.DeepEqual(got, want) {
		t.Fatalf("bundle:\n got %+v\nwant %+v", got, want)
	}
	if _, id, err := a.Items[0].Record.Subject(); err != nil || id != samples.NewCompanyCreditCode {
		t.Errorf("licence record bound to %q (%v), want the credit code", id, err)
	}
}

// TestCaseRefusals: bad case requests, as plain HTTP, each refused whole
// with a stable code naming the field; a procedure the caller does not
// run is refused 403, and nothing is released.
func TestCaseRefusals(t *testing.T) {
	env := startDev(t)
	n := 0
	publishDatasets(t, env, &n, "household", "birth")
	nb, school := "Bearer "+token(t, env, "newborn-registration"), "Bearer "+token(t, env, "school-enrolment")
	good := map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID}
	body := func(proc, caseID string, subjects map[string]string) []byte {
		b, _ := json.Marshal(map[string]any{"procedure": proc, "case_id": caseID, "subjects": subjects})
		return b
	}
	tests := []struct {
		name        string
		authz       string
		body        []byte
		wantStatus  int
		wantCode    string
		wantPointer string
	}{
		{"another service's procedure", school, body("newborn_registration", "NB-2026-0001", good), http.StatusForbidden, "procedure_not_yours", ""},
		{"unknown procedure", nb, body("birth_registration", "NB-2026-0001", good), http.StatusBadRequest, "unknown_procedure", "/procedure"},
		{"role not in the procedure", nb, body("newborn_registration", "NB-2026-0001", map[string]string{"buyer": samples.GuardianResidentID}), http.StatusBadRequest, "role_not_in_procedure", "/subjects/buyer"},
		{"free text as a role", nb, body("newborn_registration", "NB-2026-0001", map[string]string{"the baby": samples.ChildResidentID}), http.StatusBadRequest, "role_not_in_procedure", "/subjects"},
		{"credit code as a child", nb, body("newborn_registration", "NB-2026-0001", map[string]string{"child": samples.NewCompanyCreditCode}), http.StatusBadRequest, "invalid_subject", "/subjects/child"},
		{"wrong check character", nb, body("newborn_registration", "NB-2026-0001", map[string]string{"child": samples.ChildResidentID[:17] + "4"}), http.StatusBadRequest, "bad_check_character", "/subjects/child"},
		{"case id of another procedure", nb, body("newborn_registration", "SE-2026-0001", good), http.StatusBadRequest, "bad_case_id", "/case_id"},
		{"no case id", nb, body("newborn_registration", "", good), http.StatusBadRequest, "missing_field", "/case_id"},
		{"no subjects", nb, body("newborn_registration", "NB-2026-0001", nil), http.StatusBadRequest, "missing_field", "/subjects"},
		{"unknown member", nb, []byte(`{"procedure":"newborn_registration","case_id":"NB-2026-0001","subjects":{},"fields":["gender"]}`), http.StatusBadRequest, "unknown_field", "/fields"},
		{"subject not a string", nb, []byte(`{"procedure":"newborn_registration","case_id":"NB-2026-0001","subjects":{"child":330106202003080153}}`), http.StatusBadRequest, "request_schema", "/subjects/child"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := call(t, "POST", env.BaseURL+"/v1/cases", tc.authz, tc.body, nil)
			e := decodeAPIError(t, b)
			if resp.StatusCode != tc.wantStatus || e.Error.Code != tc.wantCode || e.Error.Pointer != tc.wantPointer {
				t.Errorf("status %d code %s pointer %q, want %d %s %q: %s", resp.StatusCode, e.Error.Code, e.Error.Pointer,
					tc.wantStatus, tc.wantCode, tc.wantPointer, b)
			}
		})
	}

	// The company role takes a credit code, and only a valid one.
	cr := "Bearer " + token(t, env, "company-registration")
	resp, b := call(t, "POST", env.BaseURL+"/v1/cases", cr, body("company_establishment", "CE-2026-0001",
		map[string]string{"company": samples.GuardianResidentID}), nil)
	if e := decodeAPIError(t, b); resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid_credit_code" || e.Error.Pointer != "/subjects/company" {
		t.Errorf("resident ID as a company: %d %s", resp.StatusCode, b)
	}

	// The SDK sees the same refusal as a typed API error.
	_, err := requester(t, env, "school-enrolment").Case(context.Background(), connectors.CaseQuery{
		Procedure: "newborn_registration", CaseID: "NB-2026-0001", Subjects: good})
	var apiErr *connectors.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "procedure_not_yours" {
		t.Errorf("SDK case for another service's procedure: %v, want procedure_not_yours", err)
	}
}

// TestProceduresCatalogue: GET /v1/procedures lists the seed catalogue,
// public, each procedure with its service, purpose, case-id format and
// evidence, and the kind of subject of each role.
func TestProceduresCatalogue(t *testing.T) {
	env := startDev(t)
	resp, b := call(t, "GET", env.BaseURL+"/v1/procedures", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/procedures: %d %s", resp.StatusCode, b)
	}
	var list wire.ProcedureList
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range list.Procedures {
		got = append(got, fmt.Sprintf("%s by %s for %s (%s): %d items, roles %v", p.Procedure, p.Service, p.Purpose, p.CaseIDPattern, len(p.Evidence), p.Roles))
	}
	want := []string{
		`company_cancellation by company-registration for company_cancellation (^CC-\d{4}-\d{4,}$): 2 items, roles map[company:organisation legal_representative:person]`,
		`company_establishment by company-registration for company_establishment (^CE-\d{4}-\d{4,}$): 2 items, roles map[company:organisation legal_representative:person]`,
		`death_registration by death-registration for death_registration (^DR-\d{4}-\d{4,}$): 4 items, roles map[deceased:person]`,
		`employment by employment-service for employment (^EM-\d{4}-\d{4,}$): 3 items, roles map[applicant:person company:organisation]`,
		`marriage_registration by marriage-registration for marriage_registration (^MR-\d{4}-\d{4,}$): 4 items, roles map[applicant:person partner:person]`,
		`medical_insurance_reimbursement by medical-insurance for medical_insurance_reimbursement (^MI-\d{4}-\d{4,}$): 2 items, roles map[applicant:person]`,
		`newborn_registration by newborn-registration for newborn_registration (^NB-\d{4}-\d{4,}$): 5 items, roles map[child:person father:person mother:person]`,
		`pension_claim by pension-service for pension_claim (^PC-\d{4}-\d{4,}$): 2 items, roles map[applicant:person]`,
		`real_estate_transfer by property-transfer for property_transfer (^PT-\d{4}-\d{4,}$): 3 items, roles map[seller:person]`,
		`school_enrolment by school-enrolment for school_enrolment (^SE-\d{4}-\d{4,}$): 3 items, roles map[child:person father:person]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("catalogue:\n%s\nwant\n%s", fmt.Sprint(got), fmt.Sprint(want))
	}
	// The requester SDK reads the same catalogue.
	sdk, err := requester(t, env, "newborn-registration").Procedures(context.Background())
	if err != nil || !reflect.DeepEqual(sdk, list.Procedures) {
		t.Errorf("Requester.Procedures = %+v, %v; want the catalogue GET /v1/procedures lists", sdk, err)
	}
}

// TestCaseRealEstateTransferConsent: an item whose policy needs the
// citizen's consent is released in a bundle only while the consent is in
// force; without it the item is missing with the refusal's code,
// consent_required, and the rest of the bundle is still released.
func TestCaseRealEstateTransferConsent(t *testing.T) {
	env := startDev(t)
	n := 0
	publishDatasets(t, env, &n, "household", "property", "tax", "consent")
	req := requester(t, env, "property-transfer")
	bundle := func(seller, caseID string) caseSummary {
		a, err := req.Case(context.Background(), connectors.CaseQuery{Procedure: "real_estate_transfer", CaseID: caseID, Subjects: map[string]string{"seller": seller}})
		if err != nil {
			t.Fatalf("case: %v", err)
		}
		return summarise(t, a)
	}
	// 陈建国 consents to property transfer: all three items.
	if got := bundle(samples.GuardianResidentID, "PT-2026-0001"); !got.Complete || len(got.Items) != 3 ||
		!reflect.DeepEqual(got.Items["seller/household"], map[string]any{"resident_id": samples.GuardianResidentID, "name": fatherName, "household_id": samples.ChildHouseholdID, "address": home}) {
		t.Errorf("consenting seller's bundle: %+v", got)
	}
	// 陈德明 has no consent in force: his household item is missing.
	got := bundle("330106195611040339", "PT-2026-0002")
	wantMissing := []wire.CaseMissing{{Role: "seller", Dataset: "household", Reason: "consent_required", Holders: []string{"public-security"}}}
	var items []string
	for k := range got.Items {
		items = append(items, k)
	}
	slices.Sort(items)
	if got.Complete || !reflect.DeepEqual(got.Missing, wantMissing) || !slices.Equal(items, []string{"seller/property", "seller/tax"}) {
		t.Errorf("seller without consent: items %v missing %+v, want property and tax, and %+v", items, got.Missing, wantMissing)
	}
}
