package dev_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// startDev starts dev mode in-process on free loopback ports, with the
// embedded broker in memory, and stops it when the test ends.
func startDev(t *testing.T) *dev.Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true}
	// With ONEVISIT_KAFKA_BROKERS set (CI starts real Apache Kafka), the
	// suite runs against that cluster, each test in its own namespace.
	if kc, spec, ok := testKafka(t, fmt.Sprintf("t%d-%s", time.Now().UnixNano(), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))); ok {
		o.Kafka, o.Topics = kc, spec
	}
	env, err := dev.Start(ctx, o)
	if err != nil {
		t.Fatalf("start dev mode: %v", err)
	}
	t.Cleanup(env.Close)
	return env
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, what, cond)
}

func sampleRows(t *testing.T, env *dev.Env, dataset string) []connectors.Item {
	t.Helper()
	items, err := env.SampleItems(dataset)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

var publishers = map[string]string{"household": "public-security", "tax": "tax-bureau", "property": "natural-resources"}

func TestEndToEnd(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()

	// Publish every sample record: household and tax through Kafka,
	// property through the HTTP API; then each dataset again the other
	// way, which must be idempotent.
	total := 0
	first := map[string]string{"household": "kafka", "tax": "kafka", "property": "http"}
	for _, ds := range []string{"household", "tax", "property"} {
		items := sampleRows(t, env, ds)
		total += len(items)
		p, done, err := env.Publisher(publishers[ds], ds, first[ds])
		if err != nil {
			t.Fatal(err)
		}
		_, results, err := p.Publish(ctx, items)
		done()
		if err != nil {
			t.Fatalf("publish %s via %s: %v", ds, first[ds], err)
		}
		for _, r := range results {
			if r.Status != wire.Accepted {
				t.Fatalf("%s row %d via http: %s %s %s", ds, r.Index, r.Status, r.Code, r.Message)
			}
		}
	}
	waitFor(t, "every sample record in the view", func() bool { return env.Node.View().Len() == total })

	for _, ds := range []string{"household", "tax", "property"} {
		again := map[string]string{"kafka": "http", "http": "kafka"}[first[ds]]
		p, done, err := env.Publisher(publishers[ds], ds, again)
		if err != nil {
			t.Fatal(err)
		}
		_, results, err := p.Publish(ctx, sampleRows(t, env, ds))
		done()
		if err != nil {
			t.Fatalf("republish %s via %s: %v", ds, again, err)
		}
		for _, r := range results {
			if r.Status != wire.Duplicate {
				t.Fatalf("republished %s row %d: %s, want duplicate", ds, r.Index, r.Status)
			}
		}
	}

	// The school-enrolment service asks for the child's household record
	// and the guardian's property record, and verifies both itself.
	sc, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	req := &connectors.Requester{Client: sc}
	tests := []struct {
		dataset, subject string
		wantFields       []string
	}{
		// The policy's fields and the subject field, always released to
		// the requester that named it (subject binding, exchange/record).
		{"household", samples.ChildResidentID, []string{"address", "birth_date", "household_id", "name", "relation_to_head", "resident_id"}},
		{"property", samples.GuardianResidentID, []string{"address", "owner_name", "resident_id", "unit_number"}},
	}
	for _, tt := range tests {
		t.Run("query "+tt.dataset, func(t *testing.T) {
			a, err := req.Query(ctx, connectors.Query{Dataset: tt.dataset, Subject: tt.subject, Purpose: "school_enrolment", CaseID: "SE-2026-0001"})
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			var got []string
			for k := range a.Data {
				got = append(got, k)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.wantFields) {
				t.Fatalf("fields = %v, want exactly %v", got, tt.wantFields)
			}
			if !reflect.DeepEqual(a.Receipt.Fields, tt.wantFields) {
				t.Fatalf("receipt fields = %v, want %v", a.Receipt.Fields, tt.wantFields)
			}
			// The answer's values are the department's values.
			row := findRow(t, env, tt.dataset, tt.subject)
			for _, f := range tt.wantFields {
				if fmt.Sprint(a.Data[f]) != fmt.Sprint(row[f]) {
					t.Errorf("field %s = %v, want %v", f, a.Data[f], row[f])
				}
			}
			// Withheld fields are withheld from the record itself, not
			// only from "data".
			if n := strings.Count(a.Raw, "~") - 1; n != len(tt.wantFields) {
				t.Fatalf("record carries %d disclosures, want %d", n, len(tt.wantFields))
			}
			// Its audit entry reaches the log.
			waitFor(t, "the audit entry of request "+a.RequestID, func() bool {
				for _, e := range env.Node.AuditLog().BySubject(pseudonymOf(t, env, tt.subject)) {
					if e.Entry.RequestID == a.RequestID && string(e.Entry.Decision) == "permit" {
						return true
					}
				}
				return false
			})
		})
	}
}

func findRow(t *testing.T, env *dev.Env, dataset, subject string) map[string]any {
	t.Helper()
	for _, it := range sampleRows(t, env, dataset) {
		if it.Fields["resident_id"] == subject {
			return it.Fields
		}
	}
	t.Fatalf("no %s sample row for the subject", dataset)
	return nil
}

// pseudonymOf asks the node for the pseudonym it keys subject by.
func pseudonymOf(t *testing.T, env *dev.Env, subject string) string {
	t.Helper()
	p, err := env.Node.Pseudonym(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// post sends a JSON body with a bearer token and returns status and body.
func post(t *testing.T, url, token string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func token(t *testing.T, env *dev.Env, client string) string {
	t.Helper()
	c, err := env.Client(client)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signWith signs a household record with a given client's record key
// while claiming iss.
func signWith(t *testing.T, env *dev.Env, keyOf, iss, dataset string, fields map[string]any, id string) string {
	t.Helper()
	cred, err := env.Credentials(keyOf)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cred.RecordSigner()
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := env.Schemas.Dataset(dataset)
	rec, err := record.Sign(context.Background(), s, record.Claims{Issuer: iss, Dataset: dataset, Schema: ds.Latest, ID: id, IssuedAt: time.Now(), Op: record.Upsert, SubjectField: boundTo(fields, ds.Subject)}, fields)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// boundTo is the sub_field a publisher would write for fields: the
// subject field, when fields has it as a non-empty string (record.Sign
// refuses a binding to nothing; ingest then says what is missing).
func boundTo(fields map[string]any, subject string) string {
	if v, _ := fields[subject].(string); v != "" {
		return subject
	}
	return ""
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestBadInput(t *testing.T) {
	env := startDev(t)
	pubTok := token(t, env, "public-security")
	household := sampleRows(t, env, "household")
	good := household[0].Fields

	flip := func(rec string) string {
		parts := strings.SplitN(rec, ".", 3)
		sig := []byte(parts[2])
		if sig[5] == 'A' {
			sig[5] = 'B'
		} else {
			sig[5] = 'A'
		}
		return parts[0] + "." + parts[1] + "." + string(sig)
	}
	badGender := clone(good)
	badGender["gender"] = "unknown"
	badID := clone(good)
	rid := badID["resident_id"].(string)
	last := byte('0')
	if rid[17] == '0' {
		last = '1'
	}
	badID["resident_id"] = rid[:17] + string(last)
	missing := clone(good)
	delete(missing, "name")
	// Our signer refuses to make a record over 1 MiB, so pad a signed one
	// with a disclosure the size of the limit.
	big := signWith(t, env, "public-security", "public-security", "household", good, "bad-6") + strings.Repeat("A", 1<<20) + "~"

	cases := []struct {
		name, record, wantCode, wantPointer string
	}{
		{"tampered signature", flip(signWith(t, env, "public-security", "public-security", "household", good, "bad-1")), "bad_signature", ""},
		{"another department's key", signWith(t, env, "tax-bureau", "public-security", "household", good, "bad-2"), "wrong_issuer_key", ""},
		{"schema violation", signWith(t, env, "public-security", "public-security", "household", badGender, "bad-3"), "schema_violation", "/gender"},
		{"missing field", signWith(t, env, "public-security", "public-security", "household", missing, "bad-4"), "schema_violation", "/name"},
		{"bad resident-ID check character", signWith(t, env, "public-security", "public-security", "household", badID, "bad-5"), "schema_violation", "/resident_id"},
		{"oversized record", big, "record_too_large", ""},
		{"alg none record", "eyJhbGciOiJub25lIn0.e30.~", "algorithm_not_allowed", ""},
		{"not a record", "garbage~", "malformed_record", ""},
	}
	// One batch: every bad record plus two good ones. The good ones must
	// be accepted, every bad one rejected with its own code.
	var batch []string
	for _, c := range cases {
		batch = append(batch, c.record)
	}
	goodA := signWith(t, env, "public-security", "public-security", "household", household[1].Fields, "good-a")
	goodB := signWith(t, env, "public-security", "public-security", "household", household[2].Fields, "good-b")
	batch = append(batch, goodA, goodB)
	body, _ := json.Marshal(map[string]any{"records": batch})
	status, out := post(t, env.BaseURL+"/v1/datasets/household/records", pubTok, body)
	if status != 200 {
		t.Fatalf("publish batch: status %d %v", status, out)
	}
	results, _ := out["results"].([]any)
	if len(results) != len(batch) {
		t.Fatalf("got %d results for %d records", len(results), len(batch))
	}
	for i, c := range cases {
		r := results[i].(map[string]any)
		if r["status"] != "rejected" || r["code"] != c.wantCode {
			t.Errorf("%s: status %v code %v, want rejected %s", c.name, r["status"], r["code"], c.wantCode)
		}
		if c.wantPointer != "" && r["pointer"] != c.wantPointer {
			t.Errorf("%s: pointer %v, want %s", c.name, r["pointer"], c.wantPointer)
		}
	}
	for _, r := range results[len(cases):] {
		if r.(map[string]any)["status"] != "accepted" {
			t.Errorf("good record in a bad batch: %v", r)
		}
	}
	if got := env.Node.View().Len(); got != 2 {
		t.Fatalf("view holds %d records, want the 2 good ones", got)
	}

	// Every rejection reached the dead-letter topic with its code.
	codes := readTopic(t, env, env.Kafka.Names.Rejected("household"), len(cases))
	for _, c := range cases {
		if !codes[c.wantCode] {
			t.Errorf("dead-letter topic has no %s entry", c.wantCode)
		}
	}

	t.Run("exact replay is idempotent", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"records": []string{goodA}})
		status, out := post(t, env.BaseURL+"/v1/datasets/household/records", pubTok, body)
		if status != 200 || out["duplicate"] != float64(1) {
			t.Fatalf("replay: %d %v, want one duplicate", status, out)
		}
		n := countAccepted(t, env, "good-a")
		if n != 1 {
			t.Fatalf("record good-a is %d times in the accepted topic, want 1", n)
		}
	})

	t.Run("publisher without a grant", func(t *testing.T) {
		rec := signWith(t, env, "tax-bureau", "tax-bureau", "household", household[3].Fields, "nogrant-1")
		body, _ := json.Marshal(map[string]any{"records": []string{rec}})
		status, out := post(t, env.BaseURL+"/v1/datasets/household/records", token(t, env, "tax-bureau"), body)
		r := out["results"].([]any)[0].(map[string]any)
		if status != 200 || r["code"] != "no_grant" {
			t.Fatalf("got %d %v, want a no_grant rejection", status, r)
		}
	})

	t.Run("bad record on the ingest topic goes to the dead-letter topic", func(t *testing.T) {
		p, done, err := env.Publisher("public-security", "household", "kafka")
		if err != nil {
			t.Fatal(err)
		}
		defer done()
		forged := flip(signWith(t, env, "public-security", "public-security", "household", household[4].Fields, "kafka-forged"))
		fine := signWith(t, env, "public-security", "public-security", "household", household[5].Fields, "kafka-fine")
		if _, err := p.Sink.Send(context.Background(), "household", []string{forged, fine}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the good Kafka record", func() bool { return env.Node.View().Seen("public-security", "household", "kafka-fine") })
		if env.Node.View().Seen("public-security", "household", "kafka-forged") {
			t.Fatal("a forged record reached the view")
		}
	})

	consumer := token(t, env, "school-enrolment")
	child := household[1].Fields["resident_id"].(string)
	queries := []struct {
		name, body string
		status     int
		code       string
	}{
		{"purpose not allowed", `{"dataset":"household","subject":"` + child + `","purpose":"property_transfer","case_id":"PT-2026-0001"}`, 403, "purpose_not_allowed"},
		{"dataset not allowed", `{"dataset":"tax","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`, 403, "denied"},
		{"case id missing", `{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment"}`, 403, "case_id_required"},
		{"unknown dataset", `{"dataset":"fishing_licence","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`, 404, "unknown_dataset"},
		{"unknown subject", `{"dataset":"household","subject":"11010519491231002X","purpose":"school_enrolment","case_id":"SE-2026-0001"}`, 404, "not_found"},
		{"bad subject", `{"dataset":"household","subject":"110105194912310021","purpose":"school_enrolment","case_id":"SE-2026-0001"}`, 400, "bad_check_character"},
		{"extra field", `{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001","fields":["ethnicity"]}`, 400, "unknown_field"},
		{"case-variant key", `{"dataset":"household","Dataset":"tax","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`, 400, "duplicate_key"},
		{"malformed JSON", `{"dataset":"household",`, 400, "malformed_json"},
	}
	for _, q := range queries {
		t.Run("query "+q.name, func(t *testing.T) {
			status, out := post(t, env.BaseURL+"/v1/query", consumer, []byte(q.body))
			if status != q.status || errCode(out) != q.code {
				t.Fatalf("got %d %s, want %d %s", status, errCode(out), q.status, q.code)
			}
		})
	}

	t.Run("tokens", func(t *testing.T) {
		pub := mustPublicKey(t, env)
		hs256 := hsToken(pub)
		cases := []struct{ name, tok string }{
			{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJvbmV2aXNpdCIsInN1YiI6InNjaG9vbC1lbnJvbG1lbnQiLCJhdWQiOiJvbmV2aXNpdC1hcGkiLCJleHAiOjQxMDI0NDQ4MDB9."},
			{"HS256 with the public key", hs256},
			{"garbage", "not.a.token"},
			{"publisher token on the consumer route", pubTok},
		}
		for _, c := range cases {
			status, out := post(t, env.BaseURL+"/v1/query", c.tok, []byte(`{"dataset":"household","subject":"`+child+`","purpose":"school_enrolment","case_id":"SE-2026-0001"}`))
			want := 401
			if c.name == "publisher token on the consumer route" {
				want = 403
			}
			if status != want {
				t.Errorf("%s: status %d (%s), want %d", c.name, status, errCode(out), want)
			}
		}
	})
}

func mustPublicKey(t *testing.T, env *dev.Env) []byte {
	t.Helper()
	for _, k := range env.Node.Directory().All() {
		if k.Use == keys.UseToken {
			return k.Key
		}
	}
	t.Fatal("no token key")
	return nil
}

// hsToken forges an access token with HS256 keyed by the exchange's public
// key bytes: the classic key-confusion attack.
func hsToken(pub []byte) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"at+jwt"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"onevisit","sub":"school-enrolment","aud":"onevisit-api","exp":4102444800,"role":"consumer"}`))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(hmacSHA256(pub, []byte(h+"."+p)))
}

// readAll reads every message a topic holds now: it asks for each
// partition's end offset, then reads each partition up to it.
func readAll(t *testing.T, env *dev.Env, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := env.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v %+v", topic, err, meta)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, p := range meta.Topics[0].Partitions {
		req[topic] = append(req[topic], kafka.LastOffsetOf(p.ID))
	}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var out []kafka.Message
	for _, po := range offs.Topics[topic] {
		if po.LastOffset <= 0 {
			continue
		}
		r, err := env.Kafka.PartitionReader(topic, po.Partition, kafka.FirstOffset)
		if err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, po.Partition, err)
			}
			out = append(out, m)
			if m.Offset+1 >= po.LastOffset {
				break
			}
		}
		r.Close()
	}
	return out
}

// readTopic returns the codes of the dead letters in topic.
func readTopic(t *testing.T, env *dev.Env, topic string, want int) map[string]bool {
	t.Helper()
	codes := map[string]bool{}
	n := 0
	for _, m := range readAll(t, env, topic) {
		var dl struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(m.Value, &dl) == nil {
			codes[dl.Code] = true
			n++
		}
	}
	if n < want {
		t.Fatalf("%s holds %d messages, want at least %d", topic, n, want)
	}
	return codes
}

// countAccepted counts the messages of record id in the accepted topic.
func countAccepted(t *testing.T, env *dev.Env, id string) int {
	t.Helper()
	n := 0
	for _, m := range readAll(t, env, env.Kafka.Names.Accepted("household")) {
		if rec, err := record.Parse(string(m.Value)); err == nil && rec.ID == id {
			n++
		}
	}
	return n
}
