package cli_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit"
)

// publishSamples publishes the sample CSVs of datasets through Kafka
// with their departments' keys, and waits until the view holds them.
func publishSamples(t *testing.T, env *dev.Env, datasets ...string) {
	t.Helper()
	want, err := env.PublishSampleDatasets(t.Context(), datasets...)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the samples in the view", func() bool { return env.Node.View().Len() == want })
}

// TestCaseCommandAndReport: `onevisit case` prints a verified newborn
// registration bundle and a company-establishment bundle with the
// missing item; `onevisit report` then counts both from the verified
// audit log.
func TestCaseCommandAndReport(t *testing.T) {
	ctx, env, creds := startDevExchange(t)
	publishSamples(t, env, "household", "birth", "marriage")

	code, out, errOut := run(t, ctx, "case", "--credentials", creds("newborn-registration"), "--procedure", "newborn_registration",
		"--case-id", "NB-2026-0001", "--subject", "child="+samples.ChildResidentID, "--subject", "father="+samples.GuardianResidentID,
		"--subject", "mother="+samples.MotherResidentID)
	if code != 0 {
		t.Fatalf("case: exit %d: %s", code, errOut)
	}
	type item struct{ Role, Dataset, Issuer string }
	var got struct {
		Verified, Complete bool
		Procedure          string
		Items              []item
		Missing            []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("case output is not JSON: %v\n%s", err, out)
	}
	want := []item{
		{"child", "birth", "hospital"}, {"father", "household", "public-security"}, {"mother", "household", "public-security"},
		{"father", "marriage", "civil-affairs"}, {"mother", "marriage", "civil-affairs"},
	}
	if !got.Verified || !got.Complete || got.Procedure != "newborn_registration" || !reflect.DeepEqual(got.Items, want) || len(got.Missing) != 0 {
		t.Errorf("case output %+v, want a complete verified bundle of %v", got, want)
	}

	// The licence register is not loaded: the company's item is missing,
	// held by market regulation.
	code, out, errOut = run(t, ctx, "case", "--credentials", creds("company-registration"), "--procedure", "company_establishment",
		"--case-id", "CE-2026-0001", "--subject", "company="+samples.NewCompanyCreditCode, "--subject", "legal_representative="+samples.MotherResidentID)
	if code != 0 {
		t.Fatalf("case: exit %d: %s", code, errOut)
	}
	got.Missing = nil
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	wantMissing := []map[string]any{{"role": "company", "dataset": "business_licence", "reason": "not_found", "holders": []any{"market-regulation"}}}
	if got.Complete || !reflect.DeepEqual(got.Missing, wantMissing) {
		t.Errorf("company case: complete %t missing %v, want %v", got.Complete, got.Missing, wantMissing)
	}

	// A bad flag is a usage error (exit 2); a refused case exits 1.
	if code, _, _ := run(t, ctx, "case", "--credentials", creds("newborn-registration"), "--procedure", "newborn_registration",
		"--case-id", "NB-2026-0001", "--subject", "child"); code != 2 {
		t.Errorf("--subject without =: exit %d, want 2", code)
	}
	if code, _, errOut := run(t, ctx, "case", "--credentials", creds("school-enrolment"), "--procedure", "newborn_registration",
		"--case-id", "NB-2026-0001", "--subject", "child="+samples.ChildResidentID); code != 1 {
		t.Errorf("another service's procedure: exit %d (%s), want 1", code, errOut)
	}

	var rep struct {
		Procedures []map[string]any `json:"procedures"`
	}
	testkit.WaitFor(t, 20*time.Second, "both cases in the audit log", func() bool {
		code, out, errOut := run(t, ctx, "report", "--credentials", creds("security-officer"), "--since", "2026-01-01", "-o", "json")
		if code != 0 {
			t.Fatalf("report: exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		// The checkpoint may commit to a case's item entries before the
		// case's own summary entry: wait until both cases are counted.
		return len(rep.Procedures) == 2 && rep.Procedures[0]["cases"] == 1.0 && rep.Procedures[1]["cases"] == 1.0
	})
	for _, p := range rep.Procedures {
		if p["assembly_p50_ms"].(float64) <= 0 || p["assembly_p99_ms"].(float64) < p["assembly_p50_ms"].(float64) {
			t.Errorf("%v: assembly times", p)
		}
		delete(p, "assembly_p50_ms")
		delete(p, "assembly_p99_ms")
	}
	wantRep := []map[string]any{
		{"procedure": "company_establishment", "cases": 1.0, "cases_complete": 0.0, "records_delivered": 1.0},
		{"procedure": "newborn_registration", "cases": 1.0, "cases_complete": 1.0, "records_delivered": 5.0},
	}
	if !reflect.DeepEqual(rep.Procedures, wantRep) {
		t.Errorf("report %v, want %v", rep.Procedures, wantRep)
	}
	// Nothing since tomorrow.
	code, out, _ = run(t, ctx, "report", "--credentials", creds("security-officer"), "--since", time.Now().AddDate(0, 0, 2).Format(time.DateOnly), "-o", "json")
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Procedures) != 0 {
		t.Errorf("report since the day after tomorrow: exit %d %s", code, out)
	}
}
