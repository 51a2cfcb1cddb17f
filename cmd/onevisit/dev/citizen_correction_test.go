package dev_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/wire"
)

// residentCorrections is GET /v1/me/corrections over plain HTTP.
func residentCorrections(t *testing.T, base, idToken string) (int, []wire.Correction, []byte) {
	t.Helper()
	resp, b := call(t, "GET", base+"/v1/me/corrections", "Bearer "+idToken, nil, nil)
	var out struct {
		Corrections []wire.Correction `json:"corrections"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("GET /v1/me/corrections: %v: %s", err, b)
		}
	}
	return resp.StatusCode, out.Corrections, b
}

// TestCitizenCorrectionRoutedToDepartment, over plain HTTP: the child,
// signed in with an ID token, asks for a correction of the address in
// their household record; it is filed about the record the exchange holds
// of the child, routed to the public security bureau's inbox with the
// resident as filer; the bureau lists it among its open corrections and
// accepts it with the ordinary API; the child's list then shows it
// accepted with the bureau's answer, and the child's audit entries hold
// the filing and the decision. The father, signed in too, sees none of
// it; a dataset the exchange holds no record of the child in is refused
// not_found naming /dataset.
func TestCitizenCorrectionRoutedToDepartment(t *testing.T) {
	env := startDev(t)
	childQueried(t, env)
	child := pseudonymOf(t, env, samples.ChildResidentID)
	rec, ok := env.Node.View().Get("household", child)
	if !ok {
		t.Fatal("the child's household record is not in the view")
	}
	childTok, err := env.CitizenToken(samples.ChildResidentID)
	if err != nil {
		t.Fatal(err)
	}
	fatherTok, err := env.CitizenToken(otherResident)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing filed yet: an empty list, not null.
	if status, list, b := residentCorrections(t, env.BaseURL, childTok); status != http.StatusOK || list == nil || len(list) != 0 {
		t.Fatalf("before filing: %d %s, want 200 and an empty list", status, b)
	}

	// Refusals: no record of the child in tax; a consumer's access token.
	resp, b := call(t, "POST", env.BaseURL+"/v1/me/corrections", "Bearer "+childTok, []byte(`{"dataset":"tax","field":"taxable_income","comment":"not mine"}`), nil)
	var eb struct {
		Error struct{ Code, Pointer string }
	}
	_ = json.Unmarshal(b, &eb)
	if resp.StatusCode != http.StatusNotFound || eb.Error.Code != "not_found" || eb.Error.Pointer != "/dataset" {
		t.Errorf("a dataset without the child's record: %d %s, want 404 not_found at /dataset", resp.StatusCode, b)
	}
	if resp, b := call(t, "POST", env.BaseURL+"/v1/me/corrections", "Bearer "+token(t, env, schoolService), []byte(`{"dataset":"household","field":"address","comment":"moved"}`), nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a consumer's access token: %d %s, want 403", resp.StatusCode, b)
	}

	resp, b = call(t, "POST", env.BaseURL+"/v1/me/corrections", "Bearer "+childTok, []byte(`{"dataset":"household","field":"address","comment":"we moved in 2025"}`), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("filing: %d %s, want 201", resp.StatusCode, b)
	}
	var filed wire.Correction
	if err := json.Unmarshal(b, &filed); err != nil {
		t.Fatal(err)
	}
	want := wire.Correction{ID: filed.ID, Status: wire.CorrectionOpen, Dataset: "household", RecordID: rec.ID, Field: "address",
		Reason: "we moved in 2025", Filer: exchange.ResidentFiler, Department: "public-security", Filed: filed.Filed}
	if !strings.HasPrefix(filed.ID, "cor-") || filed.Filed.IsZero() || filed != want {
		t.Fatalf("filed %+v\nwant %+v", filed, want)
	}
	if strings.Contains(string(b), samples.ChildResidentID) || strings.Contains(string(b), child) {
		t.Errorf("the answer names the resident: %s", b)
	}

	// Routed to the bureau's inbox, naming no one in clear.
	inbox := readAll(t, env, env.Kafka.Names.Corrections("public-security"))
	if len(inbox) != 1 || !strings.Contains(string(inbox[0].Value), filed.ID) || strings.Contains(string(inbox[0].Value), samples.ChildResidentID) {
		t.Fatalf("the bureau's inbox holds %d messages, want the one correction without the resident id", len(inbox))
	}

	// The child sees it open; the father sees nothing.
	if status, list, b := residentCorrections(t, env.BaseURL, childTok); status != http.StatusOK || len(list) != 1 || list[0] != filed {
		t.Fatalf("the child's corrections: %d %s, want exactly the filed one", status, b)
	}
	if status, list, b := residentCorrections(t, env.BaseURL, fatherTok); status != http.StatusOK || len(list) != 0 {
		t.Errorf("the father's corrections: %d %s, want none", status, b)
	}
	if resp, b := call(t, "GET", env.BaseURL+"/v1/me/corrections?id="+filed.ID, "Bearer "+fatherTok, nil, nil); resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), filed.ID+`"`) {
		t.Errorf("the father asking by id: %d %s, want 400 without it", resp.StatusCode, b)
	}

	// The bureau, with its ordinary access token: lists and accepts.
	bureau := token(t, env, "public-security")
	resp, b = call(t, "GET", env.BaseURL+"/v1/corrections?status=open", "Bearer "+bureau, nil, nil)
	var listed struct{ Corrections []wire.Correction }
	if err := json.Unmarshal(b, &listed); err != nil || resp.StatusCode != http.StatusOK || len(listed.Corrections) != 1 || listed.Corrections[0] != filed {
		t.Fatalf("the bureau's open corrections: %d %s, want exactly the filed one", resp.StatusCode, b)
	}
	for _, other := range []string{schoolService, "tax-bureau"} {
		if resp, b := call(t, "GET", env.BaseURL+"/v1/corrections/"+filed.ID, "Bearer "+token(t, env, other), nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s reads the resident's correction: %d %s, want 404 unknown_correction", other, resp.StatusCode, b)
		}
	}
	resp, b = call(t, "POST", env.BaseURL+"/v1/corrections/"+filed.ID, "Bearer "+bureau, []byte(`{"status":"accepted","reason":"verified at the police station"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("accept: %d %s", resp.StatusCode, b)
	}

	// The child's list shows it accepted, with the bureau's answer.
	var got []wire.Correction
	waitFor(t, "the child's correction accepted", func() bool {
		_, got, _ = residentCorrections(t, env.BaseURL, childTok)
		return len(got) == 1 && got[0].Status == wire.CorrectionAccepted
	})
	if g := got[0]; g.ID != filed.ID || g.Decision != "verified at the police station" || g.Decided.IsZero() || g.Department != "public-security" || g.RecordID != rec.ID {
		t.Errorf("accepted correction %+v", g)
	}

	// Its steps are audit entries about the child, on the child's page.
	steps := map[string]string{}
	for _, ie := range env.Node.AuditLog().BySubject(child) {
		if ie.Entry.Kind == audit.KindCorrection && ie.Entry.RequestID == filed.ID {
			steps[ie.Entry.Code] = ie.Entry.Actor + " " + ie.Entry.Route
		}
	}
	wantSteps := map[string]string{
		"correction_open":     "citizen POST /v1/me/corrections",
		"correction_accepted": "public-security POST /v1/corrections/{id}",
	}
	if len(steps) != len(wantSteps) || steps["correction_open"] != wantSteps["correction_open"] || steps["correction_accepted"] != wantSteps["correction_accepted"] {
		t.Errorf("audit steps %v, want %v", steps, wantSteps)
	}
}
