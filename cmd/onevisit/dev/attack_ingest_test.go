package dev_test

// Attack tests for issue 7, classes 3, 4, 5 and 8: what an outsider (or a
// department with a wrong clock or a careless schema claim) can do to
// ingest by writing raw bytes to an ingest topic with its own kafka-go
// writer, or by publishing over plain HTTP. They run on the embedded
// broker and, with ONEVISIT_KAFKA_BROKERS set, on a real cluster whose
// topics the exchange created with its own specs.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/record"
)

// rawWriter is the attacker's own producer: a plain kafka-go writer that
// puts every message on partition 0 of topic, so what it writes first is
// read first. It authenticates as the environment's Kafka user (a leaked
// broker credential).
func rawWriter(t *testing.T, env *dev.Env, topic string) *kafka.Writer {
	t.Helper()
	tr, err := env.Kafka.Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(env.Brokers...),
		Topic:                  topic,
		Balancer:               kafka.BalancerFunc(func(_ kafka.Message, partitions ...int) int { return partitions[0] }),
		RequiredAcks:           kafka.RequireAll,
		AllowAutoTopicCreation: false,
		BatchSize:              1,
		BatchBytes:             8 << 20,
		BatchTimeout:           time.Millisecond,
		Transport:              tr,
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// produce writes each value as its own message, marked as the
// attacker's input for the identity scan (scanForIdentities).
func produce(t *testing.T, w *kafka.Writer, values ...[]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, v := range values {
		if err := w.WriteMessages(ctx, kafka.Message{Value: v, Headers: []kafka.Header{{Key: attackInputHeader, Value: []byte("1")}}}); err != nil {
			t.Fatalf("produce message %d (%d bytes) to %s: %v", i, len(v), w.Topic, err)
		}
	}
}

func junk(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// servedQuery asks over plain HTTP for a subject's record of dataset as
// consumer and returns the HTTP status and the served record's claims.
func servedQuery(t *testing.T, env *dev.Env, tok, dataset, subject, purpose, caseID string) (int, *record.Record) {
	t.Helper()
	return servedQueryAt(t, env.BaseURL, tok, dataset, subject, purpose, caseID)
}

// servedQueryAt is servedQuery against the node at base.
func servedQueryAt(t *testing.T, base, tok, dataset, subject, purpose, caseID string) (int, *record.Record) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"dataset": dataset, "subject": subject, "purpose": purpose, "case_id": caseID})
	status, m := post(t, base+"/v1/query", tok, body)
	if status != http.StatusOK {
		return status, nil
	}
	raw, _ := m["record"].(string)
	rec, err := record.Parse(raw)
	if err != nil {
		t.Fatalf("served record does not parse: %v", err)
	}
	return status, rec
}

// waitServed polls until the query serves the record with id, or fails.
func waitServed(t *testing.T, env *dev.Env, tok, dataset, subject, purpose, caseID, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, rec := servedQuery(t, env, tok, dataset, subject, purpose, caseID)
		if rec != nil && rec.ID == id {
			return
		}
		if time.Now().After(deadline) {
			got := "nothing"
			if rec != nil {
				got = "record " + rec.ID
			}
			t.Fatalf("%s record %s of the subject was never served: last answer %d with %s", dataset, id, status, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishHTTP posts records as publisher over plain HTTP and returns the
// status and body.
func publishHTTP(t *testing.T, env *dev.Env, publisher, dataset string, records ...string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"records": records})
	req, _ := http.NewRequest("POST", env.BaseURL+"/v1/datasets/"+dataset+"/records", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token(t, env, publisher))
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

// resultCodes returns "status" or "status/code" per publish result.
func resultCodes(m map[string]any) []string {
	var out []string
	rs, _ := m["results"].([]any)
	for _, r := range rs {
		r, _ := r.(map[string]any)
		s := fmt.Sprint(r["status"])
		if c, _ := r["code"].(string); c != "" && c != "duplicate" {
			s += "/" + c
		}
		out = append(out, s)
	}
	return out
}

// signed signs a record with a sample publisher's record key, choosing
// every claim.
func signed(t *testing.T, env *dev.Env, publisher string, c record.Claims, fields map[string]any) string {
	t.Helper()
	cred, err := env.Credentials(publisher)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cred.RecordSigner()
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer == "" {
		c.Issuer = publisher
	}
	if c.Op == "" {
		c.Op = record.Upsert
	}
	if c.SubjectField == "" {
		// The subject binding every publisher's record carries.
		ds, _ := env.Schemas.Dataset(c.Dataset)
		c.SubjectField = ds.Subject
	}
	raw, err := record.Sign(context.Background(), s, c, fields)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// deadLetter is the part of a dead letter these tests check.
type deadLetter struct {
	Code      string `json:"code"`
	Record    string `json:"record"`
	Truncated bool   `json:"record_truncated"`
	Bytes     int    `json:"record_bytes"`
	SHA256    string `json:"record_sha256"`
}

// TestAttackIngestJunkDoesNotStopIngest (class 3): junk of about 1 MiB,
// of exactly record.MaxSize and of just over it, produced with a raw
// writer to the household ingest topic ahead of valid records, used to
// be dead-lettered whole, the dead letter refused by the rejected topic,
// and the batch retried forever: nothing behind it was ever processed.
// Now the valid records behind it are accepted and served, and each
// piece of junk is dead-lettered with its size, its digest and a capped
// head of its body.
func TestAttackIngestJunkDoesNotStopIngest(t *testing.T) {
	env, logs := startDevLogged(t)
	topic := env.Kafka.Names.Ingest("household")
	w := rawWriter(t, env, topic)
	junks := [][]byte{junk(t, 1<<20-1000), junk(t, record.MaxSize), junk(t, record.MaxSize+1)}
	produce(t, w, junks...)

	rows := sampleRows(t, env, "household")
	var child, guardian map[string]any
	for _, r := range rows {
		switch r.Fields["resident_id"] {
		case samples.ChildResidentID:
			child = r.Fields
		case samples.GuardianResidentID:
			guardian = r.Fields
		}
	}
	tok := token(t, env, "school-enrolment")
	valid := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "after-junk-1", IssuedAt: time.Now()}, child)
	produce(t, w, []byte(valid))
	waitServed(t, env, tok, "household", samples.ChildResidentID, "school_enrolment", "SE-2026-0001", "after-junk-1")
	// Ingest has moved on: a record produced after that one, which the
	// consumer can only fetch once the junk's batch is committed, is
	// accepted and served too.
	later := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "after-junk-2", IssuedAt: time.Now()}, guardian)
	produce(t, w, []byte(later))
	waitServed(t, env, tok, "household", samples.GuardianResidentID, "school_enrolment", "SE-2026-0001", "after-junk-2")

	// Every piece of junk is in the dead-letter topic, capped.
	want := map[string]int{}
	for _, j := range junks {
		sum := sha256.Sum256(j)
		want[hex.EncodeToString(sum[:])] = len(j)
	}
	var got []deadLetter
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = got[:0]
		for _, m := range readAll(t, env, env.Kafka.Names.Rejected("household")) {
			if len(m.Value) > 64<<10 {
				t.Fatalf("a dead letter of %d bytes: dead letters must be capped", len(m.Value))
			}
			var dl deadLetter
			if err := json.Unmarshal(m.Value, &dl); err != nil {
				t.Fatalf("dead letter is not JSON: %v", err)
			}
			if _, ok := want[dl.SHA256]; ok {
				got = append(got, dl)
			}
		}
		if len(got) >= len(junks) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != len(junks) {
		t.Fatalf("%d of the %d pieces of junk are in the dead-letter topic", len(got), len(junks))
	}
	for _, dl := range got {
		wantCode := "malformed_record"
		if want[dl.SHA256] > record.MaxSize {
			wantCode = "record_too_large"
		}
		if dl.Code != wantCode || dl.Bytes != want[dl.SHA256] || !dl.Truncated || len(dl.Record) == 0 || len(dl.Record) > 4<<10*3 {
			t.Errorf("dead letter of %d bytes of junk: code %q, record_bytes %d, truncated %v, head %d bytes; want %s, %d, true, a capped head",
				want[dl.SHA256], dl.Code, dl.Bytes, dl.Truncated, len(dl.Record), wantCode, want[dl.SHA256])
		}
	}
	scanForIdentities(t, env, logs)
}

// TestAttackIngestNearMaxOverHTTP (class 3): a signed record just under
// the documented 1 MiB maximum, published over plain HTTP, used to get
// 503 every time (its dead letter did not fit the rejected topic). It
// must get its real answer: rejected for its oversized field, with the
// JSON pointer of the field.
func TestAttackIngestNearMaxOverHTTP(t *testing.T) {
	env := startDev(t)
	var fields map[string]any
	for _, r := range sampleRows(t, env, "household") {
		if r.Fields["resident_id"] == samples.GuardianResidentID {
			fields = clone(r.Fields)
		}
	}
	// An address long enough that the record, with the address
	// base64url-encoded in its disclosure, is within 200 bytes of the max.
	n := 760 << 10
	var raw string
	for range 5 {
		fields["address"] = strings.Repeat("a", n)
		raw = signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "near-max-1", IssuedAt: time.Now()}, fields)
		if len(raw) <= record.MaxSize && len(raw) > record.MaxSize-200 {
			break
		}
		n += (record.MaxSize - 100 - len(raw)) * 3 / 4
	}
	if len(raw) > record.MaxSize || len(raw) <= record.MaxSize-200 {
		t.Fatalf("test record is %d bytes, want just under %d", len(raw), record.MaxSize)
	}
	for attempt := range 2 {
		status, body := publishHTTP(t, env, "public-security", "household", raw)
		if status != http.StatusOK {
			t.Fatalf("attempt %d: publish of a %d-byte record answered %d %v, want 200 with a per-record result", attempt, len(raw), status, body)
		}
		rs, _ := body["results"].([]any)
		r0, _ := rs[0].(map[string]any)
		if got := fmt.Sprint(r0["status"], " ", r0["code"], " ", r0["pointer"]); got != "rejected schema_violation /address" {
			t.Fatalf("attempt %d: result %q, want \"rejected schema_violation /address\"", attempt, got)
		}
	}
}

// TestAttackIngestFutureIAT (class 4): a record issued in 2100 used to be
// accepted and to freeze its subject, every later correction refused as
// stale. It is refused (iat_in_future), and a correction issued now is
// accepted and served.
func TestAttackIngestFutureIAT(t *testing.T) {
	env := startDev(t)
	var fields map[string]any
	for _, r := range sampleRows(t, env, "household") {
		if r.Fields["resident_id"] == samples.ChildResidentID {
			fields = r.Fields
		}
	}
	tests := []struct {
		name string
		iat  time.Time
		want string
	}{
		{"year 2100", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), "rejected/iat_in_future"},
		{"year 5138", time.Date(5138, 11, 16, 9, 46, 40, 0, time.UTC), "rejected/iat_in_future"},
		{"ten minutes ahead", time.Now().Add(10 * time.Minute), "rejected/iat_in_future"},
		{"a minute ahead, within the skew", time.Now().Add(time.Minute), "accepted"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: fmt.Sprintf("future-%d", i), IssuedAt: tt.iat}, fields)
			status, body := publishHTTP(t, env, "public-security", "household", raw)
			if got := resultCodes(body); status != 200 || fmt.Sprint(got) != fmt.Sprint([]string{tt.want}) {
				t.Fatalf("publish: %d %v, want 200 [%s]", status, got, tt.want)
			}
		})
	}
	// The subject is not frozen: a correction issued after the accepted
	// one (a minute ahead) wins.
	raw := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "correction-1", IssuedAt: time.Now().Add(2 * time.Minute)}, fields)
	if status, body := publishHTTP(t, env, "public-security", "household", raw); status != 200 || fmt.Sprint(resultCodes(body)) != "[accepted]" {
		t.Fatalf("correction: %d %v, want accepted", status, resultCodes(body))
	}
	waitServed(t, env, token(t, env, "school-enrolment"), "household", samples.ChildResidentID, "school_enrolment", "SE-2026-0001", "correction-1")
}

// TestAttackIngestSameSecondOrder (class 4): two updates of one subject
// issued in the same second. The second used to be refused as stale when
// its record id sorted lower; the later one in the log must win, over
// HTTP and through a raw Kafka writer alike.
func TestAttackIngestSameSecondOrder(t *testing.T) {
	env := startDev(t)
	var fields map[string]any
	for _, r := range sampleRows(t, env, "household") {
		if r.Fields["resident_id"] == samples.ChildResidentID {
			fields = clone(r.Fields)
		}
	}
	tok := token(t, env, "school-enrolment")
	iat := time.Now().Truncate(time.Second)
	first := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "zz-first", IssuedAt: iat}, fields)
	fields["address"] = "浙江省杭州市西湖区文三路90号2幢502室"
	second := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "aa-second", IssuedAt: iat}, fields)
	for i, raw := range []string{first, second} {
		if status, body := publishHTTP(t, env, "public-security", "household", raw); status != 200 || fmt.Sprint(resultCodes(body)) != "[accepted]" {
			t.Fatalf("update %d: %d %v, want accepted", i+1, status, resultCodes(body))
		}
	}
	waitServed(t, env, tok, "household", samples.ChildResidentID, "school_enrolment", "SE-2026-0001", "aa-second")

	// The same through Kafka, a second later: ids sorting the other way.
	iat = iat.Add(time.Second)
	a := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "kafka-b-first", IssuedAt: iat}, fields)
	b := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: "kafka-a-second", IssuedAt: iat}, fields)
	produce(t, rawWriter(t, env, env.Kafka.Names.Ingest("household")), []byte(a), []byte(b))
	waitServed(t, env, tok, "household", samples.ChildResidentID, "school_enrolment", "SE-2026-0001", "kafka-a-second")
}

// TestAttackIngestSchemaClaim (class 5): a household record claiming
// schema tax/v1, with fields that satisfy tax/v1, used to be accepted and
// served without household's required fields. It is refused with
// schema_not_of_dataset, over HTTP and through a raw Kafka writer, and
// nothing of it is served.
func TestAttackIngestSchemaClaim(t *testing.T) {
	env, logs := startDevLogged(t)
	var taxRow map[string]any
	for _, r := range sampleRows(t, env, "tax") {
		if r.Fields["resident_id"] == samples.GuardianResidentID {
			taxRow = r.Fields
		}
	}
	viaHTTP := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "tax/v1", ID: "claim-http-1", IssuedAt: time.Now()}, taxRow)
	status, body := publishHTTP(t, env, "public-security", "household", viaHTTP)
	if got := resultCodes(body); status != 200 || fmt.Sprint(got) != "[rejected/schema_not_of_dataset]" {
		t.Fatalf("publish: %d %v, want [rejected/schema_not_of_dataset]", status, got)
	}

	viaKafka := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "tax/v1", ID: "claim-kafka-1", IssuedAt: time.Now()}, taxRow)
	produce(t, rawWriter(t, env, env.Kafka.Names.Ingest("household")), []byte(viaKafka))
	sum := sha256.Sum256([]byte(viaKafka))
	waitFor(t, "the Kafka record's dead letter", func() bool {
		for _, m := range readAll(t, env, env.Kafka.Names.Rejected("household")) {
			var dl deadLetter
			if json.Unmarshal(m.Value, &dl) == nil && dl.SHA256 == hex.EncodeToString(sum[:]) {
				if dl.Code != "schema_not_of_dataset" {
					t.Fatalf("dead letter code %q, want schema_not_of_dataset", dl.Code)
				}
				return true
			}
		}
		return false
	})
	if status, rec := servedQuery(t, env, token(t, env, "school-enrolment"), "household", samples.GuardianResidentID, "school_enrolment", "SE-2026-0001"); status != http.StatusNotFound {
		t.Fatalf("query for the subject: %d %v, want 404: nothing of the false claim is served", status, rec)
	}
	scanForIdentities(t, env, logs)
}

// TestAttackIngestDedupAcrossPublishers (class 8): the tax bureau's
// record id used to make the public security bureau's record with the
// same id a silent "duplicate", never stored. Both are accepted and
// served; the same publisher's repeat is still a duplicate.
func TestAttackIngestDedupAcrossPublishers(t *testing.T) {
	env := startDev(t)
	var hh, tax map[string]any
	for _, r := range sampleRows(t, env, "household") {
		if r.Fields["resident_id"] == samples.GuardianResidentID {
			hh = r.Fields
		}
	}
	for _, r := range sampleRows(t, env, "tax") {
		if r.Fields["resident_id"] == samples.GuardianResidentID {
			tax = r.Fields
		}
	}
	const id = "2026-0001"
	taxRec := signed(t, env, "tax-bureau", record.Claims{Dataset: "tax", Schema: "tax/v1", ID: id, IssuedAt: time.Now()}, tax)
	hhRec := signed(t, env, "public-security", record.Claims{Dataset: "household", Schema: "household/v1", ID: id, IssuedAt: time.Now()}, hh)
	tests := []struct {
		name, publisher, dataset, raw, want string
	}{
		{"tax bureau's record", "tax-bureau", "tax", taxRec, "[accepted]"},
		{"public security's record with the same id", "public-security", "household", hhRec, "[accepted]"},
		{"public security's record again", "public-security", "household", hhRec, "[duplicate]"},
	}
	for _, tt := range tests {
		if status, body := publishHTTP(t, env, tt.publisher, tt.dataset, tt.raw); status != 200 || fmt.Sprint(resultCodes(body)) != tt.want {
			t.Fatalf("%s: %d %v, want %s", tt.name, status, resultCodes(body), tt.want)
		}
	}
	waitServed(t, env, token(t, env, "school-enrolment"), "household", samples.GuardianResidentID, "school_enrolment", "SE-2026-0001", id)
	waitServed(t, env, token(t, env, "property-transfer"), "tax", samples.GuardianResidentID, "property_transfer", "PT-2026-0001", id)
}

// TestDevStartDoesNotWaitForSamples (class 3): dev start used to wait
// until the exchange had processed every sample record, so anything that
// held ingest up (junk ahead of the samples, here a node whose key grace
// has run out, so ingest fails closed) kept `onevisit dev` from starting
// ("sample household record … not accepted within 30s"). Start returns
// once the samples are written to the ingest topics.
func TestDevStartDoesNotWaitForSamples(t *testing.T) {
	dir := t.TempDir()
	kc := exchange.KeysConfig{Backend: "file", Dir: filepath.Join(dir, "keys"), Grace: time.Nanosecond}
	o := dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", DataDir: dir, Ephemeral: true, Keys: &kc}
	if c, spec, ok := testKafka(t, fmt.Sprintf("t%d-dev-start", time.Now().UnixNano())); ok {
		o.Kafka, o.Topics = c, spec
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := dev.Start(ctx, o)
	if err != nil {
		t.Fatalf("dev start with ingest held up: %v", err)
	}
	defer env.Close()
	for _, ds := range []string{"household", "tax", "property"} {
		if got, want := len(readAll(t, env, env.Kafka.Names.Ingest(ds))), len(sampleRows(t, env, ds)); got != want {
			t.Errorf("%s ingest topic holds %d messages after start, want the %d sample records", ds, got, want)
		}
	}
	if n := env.Node.View().Len(); n != 0 {
		t.Errorf("the view holds %d records although ingest fails closed", n)
	}
}
