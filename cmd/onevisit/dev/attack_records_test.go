package dev_test

// Attacks on the records and the audit log as an outsider with a broker
// credential makes them (issue 7, classes 1 and 2): their own kafka-go
// writer producing raw bytes to the exchange's own topics, and a
// man-in-the-middle (or dishonest exchange) swapping answers. Helpers here
// are prefixed "rec" so they do not collide with other attack files.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
)

// recProduce writes msgs with a writer of the attacker's own (kafka-go,
// with nothing of the exchange but the broker credential), in one batch:
// messages with the same key land in the same partition, in order.
func recProduce(t *testing.T, env *dev.Env, msgs ...kafka.Message) {
	t.Helper()
	tr, err := env.Kafka.Transport() // the stolen SASL credential, when the cluster has one
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(env.Kafka.Brokers...), Transport: tr, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// recCounter sums the series of a counter of the node's registry that
// have labels (0 when there is none).
func recCounter(t *testing.T, env *dev.Env, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := env.Node.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// recQuery asks over plain HTTP for a subject's household record for
// school enrolment and returns the status and the decoded answer.
func recQuery(t *testing.T, env *dev.Env, tok, subject string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"dataset": "household", "subject": subject, "purpose": "school_enrolment", "case_id": "SE-2026-0001"})
	req, _ := http.NewRequest("POST", env.BaseURL+"/v1/query", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// recServedID is the record id (jti) of the record in an answer, read
// from its payload without verifying anything.
func recServedID(t *testing.T, answer map[string]any) string {
	t.Helper()
	rec, _ := answer["record"].(string)
	r, err := record.Parse(rec)
	if err != nil {
		t.Fatalf("answer record does not parse: %v", err)
	}
	return r.ID
}

// recPublishSamples publishes the household samples issued an hour ago,
// so a record issued now is newer than any of them.
func recPublishSamples(t *testing.T, env *dev.Env) {
	t.Helper()
	p, done, err := env.Publisher("public-security", "household", "http")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	p.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	_, results, err := p.Publish(context.Background(), sampleRows(t, env, "household"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Status != "accepted" {
			t.Fatalf("sample row %d: %s %s", r.Index, r.Status, r.Code)
		}
	}
}

// recAcceptedMessage is the accepted-topic message of record id.
func recAcceptedMessage(t *testing.T, env *dev.Env, id string) kafka.Message {
	t.Helper()
	for _, m := range readAll(t, env, env.Kafka.Names.Accepted("household")) {
		if r, err := record.Parse(string(m.Value)); err == nil && r.ID == id {
			return m
		}
	}
	t.Fatalf("record %s not in the accepted topic", id)
	return kafka.Message{}
}

// recForge returns a copy of the compact record raw with a new jti and
// iat, re-encoded, and 64 random bytes as its signature.
func recForge(t *testing.T, raw, id string, iat time.Time) string {
	t.Helper()
	jwtPart, discs, _ := strings.Cut(raw, "~")
	parts := strings.Split(jwtPart, ".")
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	claims["jti"], claims["iat"] = id, iat.Unix()
	body, _ = json.Marshal(claims)
	sig := make([]byte, 64)
	rand.Read(sig)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(sig) + "~" + discs
}

func recHeaders(id string) []kafka.Header {
	return []kafka.Header{
		{Key: "onevisit-accepted-at", Value: []byte(fmt.Sprint(time.Now().UnixMilli()))},
		{Key: "onevisit-record-id", Value: []byte(id)},
		{Key: "onevisit-node", Value: []byte("node-1")},
	}
}

// TestAttackAcceptedTopic: records produced straight to accepted.household
// with a raw writer never reach an answer. (a) A copy of the child's
// record with a new id, a later iat and 64 random bytes as its signature,
// under the child's own message key (read off the topic: the attacker
// needs no pseudonym key). (b) The father's genuine, newer record under
// the child's message key. Before the fix, (a) was served with an
// exchange-signed receipt and (b) was served as the child's record.
func TestAttackAcceptedTopic(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	recPublishSamples(t, env)
	child, father := samples.ChildResidentID, samples.GuardianResidentID
	childKey := pseudonymOf(t, env, child)
	waitFor(t, "the child's record in the view", func() bool { _, ok := env.Node.View().Get("household", childKey); return ok })
	held, _ := env.Node.View().Get("household", childKey)
	genuineID := held.ID
	orig := recAcceptedMessage(t, env, genuineID)
	if string(orig.Key) != childKey {
		t.Fatalf("the child's accepted record is keyed %q, want its pseudonym", orig.Key)
	}
	tok := token(t, env, "school-enrolment")
	sc, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	req := &connectors.Requester{Client: sc}
	// Records the node read from the topic and kept out of the view.
	refused := func() float64 {
		return recCounter(t, env, "onevisit_view_records_refused_total", map[string]string{"dataset": "household"})
	}

	// checkChildServed: an answer for the child is the child's genuine
	// record, over plain HTTP and through the requester SDK.
	checkChildServed := func(t *testing.T, notID string) {
		t.Helper()
		status, ans := recQuery(t, env, tok, child)
		if status != 200 {
			t.Fatalf("query for the child: %d %v", status, ans)
		}
		if got := recServedID(t, ans); got != genuineID {
			t.Fatalf("query for the child served record %s, want the child's own %s (the attacker's is %s)", got, genuineID, notID)
		}
		a, err := req.Query(ctx, connectors.Query{Dataset: "household", Subject: child, Purpose: "school_enrolment", CaseID: "SE-2026-0001"})
		if err != nil {
			t.Fatalf("SDK query for the child: %v", err)
		}
		if a.Record.ID != genuineID || a.Data["resident_id"] != child {
			t.Fatalf("SDK got record %s about %v, want %s about the child", a.Record.ID, a.Data["resident_id"], genuineID)
		}
	}

	t.Run("forged signature under the subject's key", func(t *testing.T) {
		before := refused()
		// Newer than the samples, older than the update in the next case.
		forged := recForge(t, string(orig.Value), "forged-1", time.Now().Add(-30*time.Minute))
		recProduce(t, env, kafka.Message{Topic: orig.Topic, Key: orig.Key, Value: []byte(forged), Headers: recHeaders("forged-1")})
		// Wait until the node has read it: refused (counted), or, as
		// before the fix, in the view.
		waitFor(t, "the forged record to be read", func() bool {
			cur, _ := env.Node.View().Current("household", childKey)
			return refused() > before || cur.ID == "forged-1"
		})
		checkChildServed(t, "forged-1")
	})

	t.Run("another subject's genuine record under the subject's key", func(t *testing.T) {
		// The father's address changes: a genuine record, newer than the
		// child's.
		p, done, err := env.Publisher("public-security", "household", "http")
		if err != nil {
			t.Fatal(err)
		}
		var row map[string]any
		for _, it := range sampleRows(t, env, "household") {
			if it.Fields["resident_id"] == father {
				row = maps.Clone(it.Fields)
			}
		}
		row["address"] = "浙江省杭州市西湖区文一路1号"
		_, results, err := p.Publish(ctx, []connectors.Item{{ID: "father-moves-1", Fields: row}})
		done()
		if err != nil || len(results) != 1 || results[0].Status != "accepted" {
			t.Fatalf("publish the father's update: %v %+v", err, results)
		}
		fatherMsg := recAcceptedMessage(t, env, "father-moves-1")
		// Produced again under the child's key, then a junk marker behind
		// it in the same partition: once the marker is counted, the node
		// has read the replay.
		before := refused()
		recProduce(t, env,
			kafka.Message{Topic: fatherMsg.Topic, Key: orig.Key, Value: fatherMsg.Value, Headers: fatherMsg.Headers},
			kafka.Message{Topic: fatherMsg.Topic, Key: orig.Key, Value: []byte("junk~"), Headers: recHeaders("marker-1")},
		)
		waitFor(t, "the replayed record to be read", func() bool {
			cur, _ := env.Node.View().Current("household", childKey)
			return refused() > before || cur.ID == "father-moves-1"
		})
		checkChildServed(t, "father-moves-1")
		// The father's record still answers for the father.
		status, ans := recQuery(t, env, tok, father)
		if status != 200 || recServedID(t, ans) != "father-moves-1" {
			t.Fatalf("query for the father: %d %v, want his record father-moves-1", status, ans)
		}
	})

	t.Run("genuine node MAC over a record with another signature", func(t *testing.T) {
		// The node does not verify the signature of a record again when
		// it reads it back under a valid node MAC (record.Vouched): the
		// MAC covers the exact bytes, signature included. The child's
		// genuine message with every header (the MAC too) and only the
		// signature replaced must be refused for its MAC.
		jwtPart, discs, _ := strings.Cut(string(orig.Value), "~")
		dot := strings.LastIndex(jwtPart, ".")
		sig := make([]byte, 64)
		if _, err := rand.Read(sig); err != nil {
			t.Fatal(err)
		}
		forged := jwtPart[:dot+1] + base64.RawURLEncoding.EncodeToString(sig) + "~" + discs
		before := recCounter(t, env, "onevisit_view_records_refused_total", map[string]string{"dataset": "household", "code": "no_node_mac"})
		recProduce(t, env, kafka.Message{Topic: orig.Topic, Key: orig.Key, Value: []byte(forged), Headers: orig.Headers})
		waitFor(t, "the re-signed copy to be refused for its MAC", func() bool {
			return recCounter(t, env, "onevisit_view_records_refused_total", map[string]string{"dataset": "household", "code": "no_node_mac"}) > before
		})
		checkChildServed(t, "(the child's record with another signature)")
		if cur, _ := env.Node.View().Current("household", childKey); cur.Same(forged) {
			t.Fatal("the view holds the copy with the replaced signature")
		}
	})

	t.Run("forged record squatting a record id", func(t *testing.T) {
		// A forged record takes the id the department will use next; the
		// department's genuine record with that id must still be accepted,
		// not answered "duplicate" and dropped.
		before := refused()
		forged := recForge(t, string(orig.Value), "squat-1", time.Now().Add(-20*time.Minute))
		recProduce(t, env, kafka.Message{Topic: orig.Topic, Key: orig.Key, Value: []byte(forged), Headers: recHeaders("squat-1")})
		waitFor(t, "the squatting record to be read", func() bool {
			return refused() > before || env.Node.View().Seen("public-security", "household", "squat-1")
		})
		p, done, err := env.Publisher("public-security", "household", "http")
		if err != nil {
			t.Fatal(err)
		}
		defer done()
		var row map[string]any
		for _, it := range sampleRows(t, env, "household") {
			if it.Fields["resident_id"] == father {
				row = maps.Clone(it.Fields)
			}
		}
		row["address"] = "浙江省杭州市西湖区文二路2号"
		_, results, err := p.Publish(ctx, []connectors.Item{{ID: "squat-1", Fields: row}})
		if err != nil || len(results) != 1 || results[0].Status != "accepted" {
			t.Fatalf("the department's record squat-1: %v %+v, want accepted", err, results)
		}
	})

	t.Run("stolen key revoked, acceptance back-dated", func(t *testing.T) {
		// The department's record key v1 was stolen: an officer registers
		// v2 and revokes v1. The thief signs a record for the child with
		// v1 and produces it with an acceptance time before the
		// revocation, so that the directory as of then would still accept
		// v1.
		officer, err := env.Client("security-officer")
		if err != nil {
			t.Fatal(err)
		}
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		jwk, _ := keys.MarshalPublicJWK("public-security-record#2", priv.Public().(ed25519.PublicKey))
		if err := officer.Do(ctx, "POST", "/v1/keys", map[string]any{"client_id": "public-security", "use": "record", "jwk": json.RawMessage(jwk), "reason": "v1 stolen"}, nil); err != nil {
			t.Fatalf("register v2: %v", err)
		}
		if err := officer.Do(ctx, "POST", "/v1/keys/revoke", map[string]any{"kid": "public-security-record#1", "reason": "v1 stolen"}, nil); err != nil {
			t.Fatalf("revoke v1: %v", err)
		}
		waitFor(t, "v1 revoked on the node", func() bool {
			k, err := env.Node.Directory().PublicKey("public-security-record#1")
			return err == nil && k.Status == keys.Revoked
		})
		cred, err := env.Credentials("public-security")
		if err != nil {
			t.Fatal(err)
		}
		stolen, err := cred.RecordSigner()
		if err != nil {
			t.Fatal(err)
		}
		var row map[string]any
		for _, it := range sampleRows(t, env, "household") {
			if it.Fields["resident_id"] == child {
				row = maps.Clone(it.Fields)
			}
		}
		row["address"] = "浙江省温州市鹿城区某路1号"
		back := time.Now().Add(-10 * time.Minute)
		rec, err := record.Sign(ctx, stolen, record.Claims{Issuer: "public-security", Dataset: "household", Schema: "household/v1",
			ID: "stolen-1", IssuedAt: time.Now(), Op: record.Upsert, SubjectField: "resident_id"}, row)
		if err != nil {
			t.Fatal(err)
		}
		before := refused()
		recProduce(t, env, kafka.Message{Topic: orig.Topic, Key: orig.Key, Value: []byte(rec), Headers: []kafka.Header{
			{Key: "onevisit-accepted-at", Value: []byte(fmt.Sprint(back.UnixMilli()))},
			{Key: "onevisit-record-id", Value: []byte("stolen-1")},
		}})
		waitFor(t, "the back-dated record to be read", func() bool {
			cur, _ := env.Node.View().Current("household", childKey)
			return refused() > before || cur.ID == "stolen-1"
		})
		checkChildServed(t, "stolen-1")
	})
}

// recSwapSubject is a man in the middle (or a dishonest exchange): it
// rewrites every query for one subject into a query for another, so the
// requester gets the other subject's genuine record and a genuine receipt
// for it.
type recSwapSubject struct {
	from, to string
}

func (s recSwapSubject) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == "POST" && r.URL.Path == "/v1/query" && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		b = bytes.ReplaceAll(b, []byte(s.from), []byte(s.to))
		r = r.Clone(r.Context())
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestAttackAnswerForAnotherSubject: the father's genuine record, with the
// exchange's genuine receipt, handed to a requester that asked about the
// child fails the requester SDK's verification with ErrWrongSubject.
// Before the fix it verified.
func TestAttackAnswerForAnotherSubject(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	recPublishSamples(t, env)
	child, father := samples.ChildResidentID, samples.GuardianResidentID
	for _, s := range []string{child, father} {
		p := pseudonymOf(t, env, s)
		waitFor(t, "the sample records in the view", func() bool { _, ok := env.Node.View().Get("household", p); return ok })
	}
	sc, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	honest := &connectors.Requester{Client: sc}
	a, err := honest.Query(ctx, connectors.Query{Dataset: "household", Subject: child, Purpose: "school_enrolment", CaseID: "SE-2026-0001"})
	if err != nil {
		t.Fatalf("honest query for the child: %v", err)
	}

	sc.HTTP = &http.Client{Transport: recSwapSubject{from: child, to: father}}
	tampered := &connectors.Requester{Client: sc}
	got, err := tampered.Query(ctx, connectors.Query{Dataset: "household", Subject: child, Purpose: "school_enrolment", CaseID: "SE-2026-0001"})
	if !errors.Is(err, connectors.ErrWrongSubject) || !errors.Is(err, connectors.ErrUnverified) {
		id := ""
		if got != nil {
			id = got.Record.ID
		}
		t.Fatalf("the father's answer for a query about the child: record %q, err %v; want ErrWrongSubject (and ErrUnverified)", id, err)
	}
	// The honest answer carried the binding the SDK checked: the subject
	// field, and a receipt committing to its disclosure.
	if a.Data["resident_id"] != child || a.Receipt.SubjectSD == "" {
		t.Fatalf("honest answer: resident_id %v, receipt subject_sd %q; want the child's id and a commitment", a.Data["resident_id"], a.Receipt.SubjectSD)
	}
}

// TestAttackAnswerForAnotherCase: a man in the middle rewrites the case id
// of a query, so the exchange answers (and audits) the child's record for
// another case; the requester gets the child's genuine record with a
// genuine receipt for that other case. The SDK refuses it with
// ErrUnverified: the receipt is the requester's evidence of why it holds
// the data, and it names another case. Before the fix it verified.
func TestAttackAnswerForAnotherCase(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	recPublishSamples(t, env)
	child := samples.ChildResidentID
	p := pseudonymOf(t, env, child)
	waitFor(t, "the child's record in the view", func() bool { _, ok := env.Node.View().Get("household", p); return ok })
	sc, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	q := connectors.Query{Dataset: "household", Subject: child, Purpose: "school_enrolment", CaseID: "SE-2026-0001"}
	honest, err := (&connectors.Requester{Client: sc}).Query(ctx, q)
	if err != nil {
		t.Fatalf("honest query: %v", err)
	}
	if honest.Receipt.CaseID != q.CaseID || honest.Receipt.Purpose != q.Purpose {
		t.Fatalf("honest receipt names purpose %q case %q; want %q %q", honest.Receipt.Purpose, honest.Receipt.CaseID, q.Purpose, q.CaseID)
	}
	sc.HTTP = &http.Client{Transport: recSwapSubject{from: "SE-2026-0001", to: "SE-2026-0999"}}
	got, err := (&connectors.Requester{Client: sc}).Query(ctx, q)
	if !errors.Is(err, connectors.ErrUnverified) || errors.Is(err, connectors.ErrWrongSubject) {
		rc := ""
		if got != nil {
			rc = got.Receipt.CaseID
		}
		t.Fatalf("answer with a receipt for case SE-2026-0999 to a query for SE-2026-0001: receipt case %q, err %v; want ErrUnverified (not ErrWrongSubject: the subject is right)", rc, err)
	}
	if !strings.Contains(err.Error(), `case "SE-2026-0999"`) {
		t.Fatalf("error %q does not name the receipt's case", err)
	}
}

// TestAttackForgedAuditEntry: entries produced straight to the audit topic
// with a raw writer (a back-dated query of the child's data by the tax
// bureau; the same with a MAC header copied from a genuine entry) are not
// leaves: they are not in the officer's subject lookup and not under the
// next checkpoint. Before the fix they were both.
func TestAttackForgedAuditEntry(t *testing.T) {
	env := startDev(t)
	child := samples.ChildResidentID
	pseud := pseudonymOf(t, env, child)
	officer := token(t, env, "security-officer")
	lookup := func() []audit.Entry {
		status, entries, raw := auditSubject(t, env, officer, child, "citizen request 2026-118")
		if status != 200 {
			t.Fatalf("subject lookup: %d %s", status, raw)
		}
		return entries
	}
	lookup() // a genuine entry to copy a MAC header from
	var genuine kafka.Message
	waitFor(t, "a genuine audit entry", func() bool {
		for _, m := range readAll(t, env, env.Kafka.Names.Audit()) {
			genuine = m
			return true
		}
		return false
	})
	var copied []kafka.Header
	for _, h := range genuine.Headers {
		if h.Key != "onevisit-node" {
			copied = append(copied, h)
		}
	}

	forge := func(reqID string) []byte {
		return []byte(`{"time":"2025-01-02T03:04:05Z","kind":"query","actor":"tax-bureau","role":"consumer","dataset":"household",` +
			`"purpose":"tax_audit","case_id":"TA-2025-0001","subject":"` + pseud + `","fields":["address","name"],` +
			`"decision":"permit","request_id":"` + reqID + `","node":"node-1"}`)
	}
	forged := [][]byte{forge("forged-audit-1"), forge("forged-audit-2")}
	for _, f := range forged {
		if _, err := audit.ParseEntry(f); err != nil {
			t.Fatalf("the forged entry is not a valid entry, the test proves nothing: %v", err)
		}
	}
	before := env.Node.AuditLog().Size()
	recProduce(t, env,
		kafka.Message{Topic: env.Kafka.Names.Audit(), Value: forged[0]},
		kafka.Message{Topic: env.Kafka.Names.Audit(), Value: forged[1], Headers: copied},
	)
	// A genuine lookup after them in the one audit partition: once its
	// entry is a leaf, the node has read the forged ones.
	lookup()
	waitFor(t, "the lookup's own entry in the log", func() bool {
		size := env.Node.AuditLog().Size()
		if size <= before {
			return false
		}
		raws, err := env.Node.AuditLog().Entries(before, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range raws {
			if e, err := audit.ParseEntry(r); err == nil && e.Code == "audit_read" {
				return true
			}
		}
		return false
	})
	for _, e := range lookup() {
		if strings.HasPrefix(e.RequestID, "forged-audit-") {
			t.Errorf("the officer's lookup lists the forged entry %s (%s by %s at %s)", e.RequestID, e.Purpose, e.Actor, e.Time)
		}
	}

	// The next checkpoint, fetched and verified as anyone would, covers
	// leaves none of which is forged, and exactly those.
	resp, err := http.Get(env.BaseURL + "/v1/audit/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	cpBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := (&connectors.Requester{Client: sc}).Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.VerifyCheckpoint(string(cpBody), dir)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	leaves, err := env.Node.AuditLog().Entries(0, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt := audit.NewLog()
	for i, l := range leaves {
		for _, f := range forged {
			if bytes.Equal(l, f) {
				t.Errorf("leaf %d of the checkpoint is a forged entry", i)
			}
		}
		rebuilt.Append(l)
	}
	if root, err := rebuilt.Root(cp.Size); err != nil || !bytes.Equal(root, cp.Root) {
		t.Fatalf("the checkpoint's root is not that of the leaves checked: %v", err)
	}
	if n := recCounter(t, env, "onevisit_audit_entries_refused_total", nil); n < 2 {
		t.Errorf("onevisit_audit_entries_refused_total = %v, want at least 2", n)
	}
}
