package dev_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/wire"
)

// received asks for the child's household record as consumer, over plain
// HTTP, and returns the record and receipt strings it was given.
func received(t *testing.T, env *dev.Env, consumer, purpose, caseID string) (record, receipt string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"dataset": "household", "subject": samples.ChildResidentID, "purpose": purpose, "case_id": caseID})
	status, ans := post(t, env.BaseURL+"/v1/query", token(t, env, consumer), body)
	if status != 200 {
		t.Fatalf("%s's query: %d %v", consumer, status, ans)
	}
	record, _ = ans["record"].(string)
	receipt, _ = ans["receipt"].(string)
	return record, receipt
}

// TestCorrectionRoundTrip: school enrolment files a correction of the
// child's address with the record and receipt it was given; it is routed
// to the public security bureau's inbox, open; only its filer and that
// bureau see it; the bureau accepts it (once) and publishes the corrected
// record; school enrolment and newborn registration, which received the
// old record, each get a signed correction notice on their delivery
// topic, and property transfer, which did not, gets nothing. A second
// correction is rejected and sends nothing. Requests that do not prove
// receipt of the field are refused not_received.
func TestCorrectionRoundTrip(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	recPublishSamples(t, env)
	child := pseudonymOf(t, env, samples.ChildResidentID)
	waitFor(t, "the child's record in the view", func() bool { _, ok := env.Node.View().Get("household", child); return ok })
	old, _ := env.Node.View().Get("household", child)
	notices := map[string]*collector{}
	for _, c := range []string{"school-enrolment", "newborn-registration", "property-transfer"} {
		notices[c] = subscribe(t, env, c)
	}
	seRecord, seReceipt := received(t, env, "school-enrolment", "school_enrolment", "SE-2026-0001")
	nbRecord, nbReceipt := received(t, env, "newborn-registration", "newborn_registration", "NB-2026-0001")
	sdk := func(client string) *connectors.Corrections {
		c, err := env.Client(client)
		if err != nil {
			t.Fatal(err)
		}
		return &connectors.Corrections{Client: c}
	}
	school, bureau := sdk("school-enrolment"), sdk("public-security")

	tampered := strings.Replace(seRecord, "~", "~"+strings.Split(nbRecord, "~")[1]+"~", 1) // a disclosure from another answer
	refusals := []struct {
		name                           string
		record, receipt, field, reason string
		wantCode                       string
	}{
		{"a field the policy did not release", seRecord, seReceipt, "gender", "wrong gender", "not_received"},
		{"another consumer's receipt", nbRecord, nbReceipt, "address", "moved", "not_received"},
		{"record and receipt of two answers", nbRecord, seReceipt, "address", "moved", "not_received"},
		{"a record with a disclosure added", tampered, seReceipt, "address", "moved", "not_received"},
		{"an identity number in the reason", seRecord, seReceipt, "address", "see " + samples.GuardianResidentID, "bad_request"},
		{"no field", seRecord, seReceipt, "", "moved", "missing_field"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := school.File(ctx, tt.record, tt.receipt, tt.field, tt.reason)
			if !connectors.IsCode(err, tt.wantCode) {
				t.Fatalf("File = %v, want %s", err, tt.wantCode)
			}
			if ae := (*connectors.APIError)(nil); tt.field == "" && (!errors.As(err, &ae) || ae.Pointer != "/field") {
				t.Errorf("File without a field = %v, want it named at /field", err)
			}
		})
	}

	filed, err := school.File(ctx, seRecord, seReceipt, "address", "the family moved in September (case SE-2026-0001)")
	if err != nil {
		t.Fatal(err)
	}
	if filed.Status != wire.CorrectionOpen || filed.Department != "public-security" || filed.RecordID != old.ID || filed.Field != "address" ||
		filed.Filer != "school-enrolment" || filed.Dataset != "household" {
		t.Fatalf("filed %+v", filed)
	}
	// Routed to the bureau's inbox, naming no one in clear.
	inbox := readAll(t, env, env.Kafka.Names.Corrections("public-security"))
	if len(inbox) != 1 || !strings.Contains(string(inbox[0].Value), filed.ID) || strings.Contains(string(inbox[0].Value), samples.ChildResidentID) {
		t.Fatalf("the bureau's inbox holds %d messages, want the one correction without the resident id", len(inbox))
	}
	for _, c := range []string{"tax-bureau", "newborn-registration"} {
		if _, err := sdk(c).Get(ctx, filed.ID); !connectors.IsCode(err, "unknown_correction") {
			t.Errorf("%s reads the correction: %v, want unknown_correction", c, err)
		}
	}
	if _, err := sdk("tax-bureau").Decide(ctx, filed.ID, wire.CorrectionAccepted, "not ours"); !connectors.IsCode(err, "unknown_correction") {
		t.Errorf("tax-bureau decides the correction: %v, want unknown_correction", err)
	}
	open, err := bureau.List(ctx, wire.CorrectionOpen)
	if err != nil || len(open) != 1 || open[0].ID != filed.ID {
		t.Fatalf("the bureau's open corrections: %v %+v", err, open)
	}
	if got, err := bureau.Decide(ctx, filed.ID, wire.CorrectionAccepted, "verified at the police station"); err != nil || got.Status != wire.CorrectionAccepted {
		t.Fatalf("accept: %v %+v", err, got)
	}
	if _, err := bureau.Decide(ctx, filed.ID, wire.CorrectionRejected, "changed our mind"); !connectors.IsCode(err, "correction_decided") {
		t.Errorf("second decision: %v, want correction_decided", err)
	}
	// An outsider with a broker credential writes a later snapshot that
	// rejects it, straight to the inbox: without a node MAC it changes
	// nothing.
	forged := filed
	forged.Status, forged.Decision = wire.CorrectionRejected, "forged"
	fb, _ := json.Marshal(map[string]any{"event": "decided", "seq": 99, "subject": child, "correction": forged})
	recProduce(t, env, kafka.Message{Topic: env.Kafka.Names.Corrections("public-security"), Key: []byte(filed.ID), Value: fb})

	// A second correction, rejected: it changes nothing and sends nothing.
	// Filing it returns once the node read it back from the same inbox,
	// after the forged message.
	other, err := sdk("newborn-registration").File(ctx, nbRecord, nbReceipt, "name", "spelling")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := school.Get(ctx, filed.ID); err != nil || got.Status != wire.CorrectionAccepted {
		t.Fatalf("after a forged inbox message the correction is %+v (%v), want still accepted", got, err)
	}
	if got, err := bureau.Decide(ctx, other.ID, wire.CorrectionRejected, "the name is as registered"); err != nil || got.Status != wire.CorrectionRejected {
		t.Fatalf("reject: %v %+v", err, got)
	}

	// The bureau publishes the corrected record.
	p, done, err := env.Publisher("public-security", "household", "http")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	row := maps.Clone(sampleRows(t, env, "household")[2].Fields)
	if row["resident_id"] != samples.ChildResidentID {
		t.Fatalf("sample row 3 is %v, want the child", row["resident_id"])
	}
	row["address"] = "浙江省杭州市西湖区文一路1号"
	ids, results, err := p.Publish(ctx, []connectors.Item{{ID: "child-moves-1", Fields: row}})
	if err != nil || results[0].Status != wire.Accepted {
		t.Fatalf("publish the corrected record: %v %+v", err, results)
	}
	for _, c := range []string{"school-enrolment", "newborn-registration"} {
		waitFor(t, c+"'s correction notice", func() bool { d, _ := notices[c].get(); return len(d) >= 1 })
		d, refused := notices[c].get()
		n := d[0]
		if len(d) != 1 || len(refused) != 0 || n.Kind != wire.DeliveryCorrectionNotice || n.Notice == nil ||
			*n.Notice != (wire.CorrectionNotice{Correction: filed.ID, Field: "address", Superseded: old.ID, RecordID: ids[0]}) ||
			n.Receipt.Subject != c || n.Receipt.RecordIssuer != "public-security" || n.Record != nil {
			t.Errorf("%s: %d deliveries, %d refused; first %+v", c, len(d), len(refused), n)
		}
	}
	// Attack: a notice copied from the topic with another superseded
	// record id (the receipt is genuine) is refused; the genuine one
	// verifies.
	n, _ := notices["school-enrolment"].get()
	sub, err := env.Subscriber("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	for _, superseded := range []string{old.ID, ids[0], "another-record"} {
		notice := *n[0].Notice
		notice.Superseded = superseded
		msg, _ := json.Marshal(wire.Delivery{Kind: wire.DeliveryCorrectionNotice, Notice: &notice, ID: n[0].ID, Dataset: n[0].Dataset,
			Purpose: n[0].Purpose, Receipt: n[0].RawReceipt})
		_, err := sub.Verify(ctx, msg)
		if genuine := superseded == old.ID; genuine != (err == nil) || !genuine && !errors.Is(err, connectors.ErrUnverified) {
			t.Errorf("a notice superseding %s (genuine: %v): %v", superseded, genuine, err)
		}
	}
	// The correction names the corrected record only after every notice
	// was audited and written, so from then on "no one else" is a fact:
	// the notices' audit entries name exactly the two consumers.
	waitFor(t, "the correction to name the corrected record", func() bool {
		got, err := school.Get(ctx, filed.ID)
		return err == nil && got.CorrectedRecordID == ids[0]
	})
	if d, _ := notices["property-transfer"].get(); len(d) != 0 {
		t.Errorf("property transfer, which never received the record, got %d notices", len(d))
	}
	steps := map[string]int{}
	var notified []string
	for _, ie := range env.Node.AuditLog().BySubject(child) {
		if ie.Entry.Kind == audit.KindCorrection && ie.Entry.RequestID == filed.ID {
			steps[ie.Entry.Code]++
		}
		if ie.Entry.Kind == audit.KindDelivery && ie.Entry.Code == "correction_notice" && ie.Entry.Policy == filed.ID {
			notified = append(notified, ie.Entry.Consumer)
		}
	}
	if slices.Sort(notified); !slices.Equal(slices.Compact(notified), []string{"newborn-registration", "school-enrolment"}) {
		t.Errorf("notices of the correction audited for %v, want newborn registration and school enrolment", notified)
	}
	if steps["correction_open"] != 1 || steps["correction_accepted"] != 1 || steps["correction_corrected"] < 1 {
		t.Errorf("audit steps of the correction: %v", steps)
	}
}
