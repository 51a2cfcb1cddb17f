package dev_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/cmd/onevisit/internal/cli"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/live"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/policy"
)

// liveQuery is the walkthrough's live query: the property-transfer
// service asks for the seller's tax payment certificate, which only the
// tax bureau's responder holds.
func liveQuery(subject string) connectors.Query {
	return connectors.Query{Dataset: dev.LiveDataset, Subject: subject, Purpose: "property_transfer", CaseID: "PT-2026-0001"}
}

func liveRequester(t *testing.T, env *dev.Env) *connectors.Requester {
	t.Helper()
	cl, err := env.Client("property-transfer")
	if err != nil {
		t.Fatal(err)
	}
	return &connectors.Requester{Client: cl}
}

// untilAnswered repeats q until it gets an answer: the responder's group
// may still be joining, so the first requests can time out (on real Kafka
// a join takes seconds). Any other error fails the test.
func untilAnswered(t *testing.T, req *connectors.Requester, q connectors.Query) *connectors.Answer {
	t.Helper()
	var ans *connectors.Answer
	testkit.WaitFor(t, 90*time.Second, "a live answer", func() bool {
		a, err := req.Query(context.Background(), q)
		switch {
		case err == nil:
			ans = a
			return true
		case connectors.IsCode(err, "source_timeout"):
			return false
		default:
			t.Fatalf("live query: %v", err)
			return false
		}
	})
	return ans
}

func TestLiveQueryAnsweredByResponder(t *testing.T) {
	env := startDev(t)
	var mu sync.Mutex
	asked := []string{}
	sample, err := env.SampleItems("tax")
	if err != nil {
		t.Fatal(err)
	}
	rows := connectors.BySubject(sample, "resident_id")
	lookup := connectors.MapLookup(rows)
	r, err := env.StartResponder(dev.LivePublisher, dev.LiveDataset, func(ctx context.Context, subject string) (map[string]any, error) {
		mu.Lock()
		asked = append(asked, subject)
		mu.Unlock()
		return lookup(ctx, subject)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	req := liveRequester(t, env)
	seller := samples.GuardianResidentID

	ans := untilAnswered(t, req, liveQuery(seller))
	// Requester.Query verified the record against the tax bureau's key,
	// every field against the signed digests, the receipt, and the
	// subject binding. What it released is exactly the policy's fields
	// plus the subject, with the department's values.
	want := map[string]any{"resident_id": seller}
	for _, f := range []string{"name", "tax_year", "tax_paid", "certificate_no"} {
		want[f] = rows[seller][f]
	}
	if got, _ := json.Marshal(ans.Data); string(got) != string(mustJSON(want)) {
		t.Errorf("data:\n got %s\nwant %s", got, mustJSON(want))
	}
	if ans.Record.Issuer != dev.LivePublisher || ans.Record.Dataset != dev.LiveDataset || !strings.HasPrefix(ans.Record.ID, "lq-") {
		t.Errorf("record: issuer %q dataset %q id %q; want the tax bureau's live answer", ans.Record.Issuer, ans.Record.Dataset, ans.Record.ID)
	}
	if ans.Receipt.RecordID != ans.Record.ID || ans.Receipt.Dataset != dev.LiveDataset || ans.Receipt.Policy != "property-transfer-tax-certificate" {
		t.Errorf("receipt: %+v", ans.Receipt)
	}
	// The record was signed for this request, just now.
	if age := time.Since(ans.Record.IssuedAt); age > time.Minute || age < -time.Minute {
		t.Errorf("record iat %s is not now", ans.Record.IssuedAt)
	}
	// Each query is a new request, answered anew.
	again := untilAnswered(t, req, liveQuery(seller))
	if again.Record.ID == ans.Record.ID {
		t.Errorf("two queries got the same record id %s", ans.Record.ID)
	}
	// The exchange holds nothing of the live dataset.
	pseud, err := env.Node.Pseudonym(context.Background(), seller)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := env.Node.View().Current(dev.LiveDataset, pseud); ok {
		t.Errorf("the view holds a %s record: live answers must not be kept", dev.LiveDataset)
	}
	// A subject the department does not hold: its signed "nothing" is a 404.
	_, err = req.Query(context.Background(), liveQuery(samples.ChildResidentID))
	if !connectors.IsCode(err, "not_found") {
		t.Errorf("subject the tax bureau does not hold: got %v, want not_found", err)
	}
	// The permitted answer is audited like a replicated one, under the
	// pseudonym, with the live record's id.
	pol, err := policy.Default(env.Schemas)
	if err != nil {
		t.Fatal(err)
	}
	auditedAfter(t, env, 0, "the live answer's audit entry", hasEntry(audit.Entry{
		Kind: audit.KindQuery, Actor: "property-transfer", Role: "consumer", Node: "dev-1", Decision: audit.DecisionPermit,
		Dataset: dev.LiveDataset, Subject: pseud, Purpose: "property_transfer", CaseID: "PT-2026-0001",
		Policy: "property-transfer-tax-certificate", PolicyVersion: pol.Version(), RecordID: ans.Record.ID,
		Fields: []string{"certificate_no", "name", "resident_id", "tax_paid", "tax_year"},
	}))
	mu.Lock()
	defer mu.Unlock()
	for _, s := range asked {
		if s != seller && s != samples.ChildResidentID {
			t.Errorf("the responder was asked about %s, which nobody queried", s)
		}
	}
}

func TestLiveQuerySourceTimeout(t *testing.T) {
	env := startDev(t)
	r, err := env.StartResponder(dev.LivePublisher, dev.LiveDataset, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := liveRequester(t, env)
	untilAnswered(t, req, liveQuery(samples.GuardianResidentID))
	// The department's system goes away: the exchange waits until the
	// deadline, answers 504 source_timeout and audits it.
	r.Stop()
	before := len(abuseAuditEntries(t, env))
	_, err = req.Query(context.Background(), liveQuery(samples.GuardianResidentID))
	var apiErr *connectors.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 504 || apiErr.Code != "source_timeout" {
		t.Fatalf("query with the responder stopped: got %v, want 504 source_timeout", err)
	}
	pseud, err := env.Node.Pseudonym(context.Background(), samples.GuardianResidentID)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Default(env.Schemas)
	if err != nil {
		t.Fatal(err)
	}
	auditedAfter(t, env, before, "the timeout's audit entry", hasEntry(audit.Entry{
		Kind: audit.KindQuery, Actor: "property-transfer", Role: "consumer", Node: "dev-1", Decision: audit.DecisionDeny,
		Dataset: dev.LiveDataset, Subject: pseud, Purpose: "property_transfer", CaseID: "PT-2026-0001",
		Policy: "property-transfer-tax-certificate", PolicyVersion: pol.Version(), Code: "source_timeout",
	}))
}

// liveRequestClaims reads a live request's claims without verifying it,
// as an attacker who can read the request topic does ("" when it cannot).
func liveRequestClaims(tok string) (id, subject string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ""
	}
	var c struct {
		ID      string `json:"jti"`
		Subject string `json:"subject"`
	}
	if json.Unmarshal(b, &c) != nil {
		return "", ""
	}
	return c.ID, c.Subject
}

// TestAttackLiveForgedReplies: an attacker with a broker credential reads
// the live requests and answers them first, with its own kafka-go
// writer: a record signed with a key of its own under the tax bureau's
// kid, one signed by another department (a genuine key, no live grant),
// and with the tax bureau's own key (stolen) one about another subject
// and one bound to another request, plus junk. The exchange refuses each
// (counted by code), serves none of them, and answers 504 when no valid
// reply comes.
func TestAttackLiveForgedReplies(t *testing.T) {
	env := startDev(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	names := env.Kafka.Names
	ds, _ := env.Schemas.Dataset(dev.LiveDataset)
	sample, err := env.SampleItems("tax")
	if err != nil {
		t.Fatal(err)
	}
	seller := samples.GuardianResidentID
	var sellerRow, otherRow map[string]any
	for _, it := range sample {
		switch it.Fields["resident_id"] {
		case seller:
			sellerRow = it.Fields
		default:
			otherRow = it.Fields
		}
	}
	signerOf := func(client string) keys.Signer {
		c, err := env.Credentials(client)
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.RecordSigner()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	taxKey, otherDept := signerOf(dev.LivePublisher), signerOf("public-security")
	_, own, _ := ed25519.GenerateKey(rand.Reader)
	ownKey := keys.NewLocalSigner(taxKey.KeyID(), own) // the tax bureau's kid, the attacker's key
	sign := func(s keys.Signer, issuer, id string, fields map[string]any) []byte {
		rec, err := record.Sign(ctx, s, record.Claims{Issuer: issuer, Dataset: dev.LiveDataset, Schema: ds.Latest, ID: id, IssuedAt: time.Now(), Op: record.Upsert, SubjectField: ds.Subject}, maps.Clone(fields))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(rec)
	}

	// The attacker's reader: its own group on the request topic.
	dialer, err := env.Kafka.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: env.Brokers, Topic: names.Request(dev.LiveDataset), GroupID: fmt.Sprintf("attacker-%d", time.Now().UnixNano()), Dialer: dialer, StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer rd.Close()
	w := rawWriter(t, env, names.Reply(dev.LiveDataset))
	forged := make(chan int, 16)
	go func() {
		for {
			m, err := rd.FetchMessage(ctx)
			if err != nil {
				return
			}
			id, subject := liveRequestClaims(string(m.Value))
			key := []byte(id)
			msgs := []kafka.Message{
				{Key: key, Value: sign(ownKey, dev.LivePublisher, id, sellerRow)},                                    // bad_signature
				{Key: key, Value: sign(otherDept, "public-security", id, sellerRow)},                                 // no_grant
				{Key: key, Value: sign(taxKey, dev.LivePublisher, id, otherRow)},                                     // reply_mismatch: another subject
				{Key: key, Value: sign(taxKey, dev.LivePublisher, "lq-0123456789abcdef0123456789abcdef", sellerRow)}, // reply_mismatch: another request
				{Key: key, Value: []byte("not a record")},                                                            // malformed_record
			}
			if id == "" || subject != seller {
				continue
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return
			}
			forged <- len(msgs)
		}
	}()

	req := liveRequester(t, env)
	// A first query until the attacker is reading (its group may take
	// seconds to join); then, with the attacker caught up, the measured one.
	refused := func() map[string]float64 {
		out := map[string]float64{}
		for _, code := range []string{"bad_signature", "no_grant", "reply_mismatch", "malformed_record"} {
			out[code], _ = abuseMetric(t, env, "onevisit_live_replies_refused_total", map[string]string{"dataset": dev.LiveDataset, "code": code})
		}
		return out
	}
	warm := false
	testkit.WaitFor(t, 90*time.Second, "the attacker reading live requests", func() bool {
		if _, err := req.Query(ctx, liveQuery(seller)); !connectors.IsCode(err, "source_timeout") {
			t.Fatalf("query answered only by forgeries: got %v, want source_timeout", err)
		}
		for {
			select {
			case <-forged:
				warm = true
			default:
				return warm
			}
		}
	})
	before := refused()
	_, err = req.Query(ctx, liveQuery(seller))
	if !connectors.IsCode(err, "source_timeout") {
		t.Fatalf("query answered only by forgeries: got %v, want source_timeout", err)
	}
	<-forged
	after := refused()
	want := map[string]float64{"bad_signature": 1, "no_grant": 1, "reply_mismatch": 2, "malformed_record": 1}
	for code, n := range want {
		if got := after[code] - before[code]; got != n {
			t.Errorf("onevisit_live_replies_refused_total{code=%q} grew by %v, want %v", code, got, n)
		}
	}
	// A genuine responder still gets through.
	r, err := env.StartResponder(dev.LivePublisher, dev.LiveDataset, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	ans := untilAnswered(t, req, liveQuery(seller))
	if ans.Record.Issuer != dev.LivePublisher || ans.Data["certificate_no"] != sellerRow["certificate_no"] {
		t.Errorf("genuine answer after the forgeries: %+v", ans.Data)
	}
}

// TestLiveResponderCLI runs `onevisit connector respond` as a department
// would, answering from its own CSV file.
func TestLiveResponderCLI(t *testing.T) {
	env := startDev(t)
	seller := samples.GuardianResidentID
	csvFile := filepath.Join(t.TempDir(), "certificates.csv")
	const certificate = "(251)浙个证00099999"
	body := "resident_id,name,tax_year,taxable_income,tax_paid,tax_office,certificate_no\n" +
		seller + ",陈建国,2026,300000.00,42000.00,国家税务总局杭州市西湖区税务局," + certificate + "\n"
	if err := os.WriteFile(csvFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"connector", "respond", "--dataset", dev.LiveDataset,
			"--credentials", filepath.Join(env.DataDir, "clients", dev.LivePublisher+".json"), "--file", csvFile,
			"--namespace", string(env.Kafka.Names)}, &out, &errOut)
	}()
	ans := untilAnswered(t, liveRequester(t, env), liveQuery(seller))
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("connector respond exited %d: %s", code, errOut.String())
	}
	want := map[string]any{"resident_id": seller, "name": "陈建国", "tax_year": json.Number("2026"), "tax_paid": json.Number("42000.00"), "certificate_no": certificate}
	if got, w := mustJSON(ans.Data), mustJSON(want); string(got) != string(w) {
		t.Errorf("data:\n got %s\nwant %s", got, w)
	}
	if !strings.HasPrefix(out.String(), "answering live queries of tax_certificate as tax-bureau from ") || !strings.Contains(out.String(), "stopped: ") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestAttackLiveForgedRequests: someone who can write the request topic
// (a broker credential; on real Kafka only the exchange may, see
// deploy/kafka/live_test.go) asks the department's responder about a
// subject of its choosing: with a key of its own under the exchange's
// receipt kid, with a department's genuine record key, with junk and
// with an oversized message. The responder drops each, counted, and never
// looks the subject up, so no answer about it is signed.
func TestAttackLiveForgedRequests(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	var mu sync.Mutex
	asked := map[string]int{}
	sample, err := env.SampleItems("tax")
	if err != nil {
		t.Fatal(err)
	}
	lookup := connectors.MapLookup(connectors.BySubject(sample, "resident_id"))
	r, err := env.StartResponder(dev.LivePublisher, dev.LiveDataset, func(ctx context.Context, subject string) (map[string]any, error) {
		mu.Lock()
		asked[subject]++
		mu.Unlock()
		return lookup(ctx, subject)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	// A genuine query first: the responder's group has joined and reads
	// whatever is written after it.
	untilAnswered(t, liveRequester(t, env), liveQuery(samples.GuardianResidentID))
	_, dropped := r.R.Counts()

	c, err := env.Credentials(dev.LivePublisher)
	if err != nil {
		t.Fatal(err)
	}
	deptKey, err := c.RecordSigner()
	if err != nil {
		t.Fatal(err)
	}
	_, own, _ := ed25519.GenerateKey(rand.Reader)
	victim := samples.ChildResidentID
	now := time.Now()
	forge := func(s keys.Signer) []byte {
		tok, err := live.SignRequest(ctx, s, live.Request{ID: live.NewRequestID(), Dataset: dev.LiveDataset, Subject: victim, IssuedAt: now, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return []byte(tok)
	}
	msgs := []kafka.Message{
		{Value: forge(keys.NewLocalSigner("exchange-receipt#1", own))}, // the exchange's kid, the attacker's key
		{Value: forge(deptKey)}, // a department's genuine key, of use record
		{Value: []byte("not a request")},
		{Value: bytes.Repeat([]byte("A"), live.MaxRequestSize+1)},
	}
	for i := range msgs {
		msgs[i].Key = []byte(live.NewRequestID())
	}
	names := env.Kafka.Names
	topic := names.Request(dev.LiveDataset)
	if err := rawWriter(t, env, topic).WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// rawWriter writes partition 0. The responder commits each request
	// after answering or dropping it: once the group's offset there
	// reaches the end, it has dealt with every forgery.
	cl, err := env.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(0)}}})
	if err != nil || len(offs.Topics[topic]) != 1 || offs.Topics[topic][0].Error != nil {
		t.Fatalf("end offset of %s/0: %v %+v", topic, err, offs)
	}
	end := offs.Topics[topic][0].LastOffset
	testkit.WaitFor(t, 60*time.Second, "the responder past the forged requests", func() bool {
		res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: names.Responders(dev.LiveDataset), Topics: map[string][]int{topic: {0}}})
		return err == nil && len(res.Topics[topic]) == 1 && res.Topics[topic][0].CommittedOffset >= end
	})
	if _, d := r.R.Counts(); d < dropped+len(msgs) {
		t.Errorf("dropped grew by %d, want at least the %d forged requests", d-dropped, len(msgs))
	}
	mu.Lock()
	defer mu.Unlock()
	if asked[victim] != 0 {
		t.Errorf("the responder looked up the forged requests' subject %d times", asked[victim])
	}
}
