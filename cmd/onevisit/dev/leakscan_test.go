package dev_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/schemas"
)

// logBuffer collects the dev node's slog output; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDevLogged is startDev with the node's logger (every level) writing
// into the returned buffer, for tests that inspect the server log.
func startDevLogged(t *testing.T) (*dev.Env, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if kc, spec, ok := testKafka(t, fmt.Sprintf("t%d-%s", time.Now().UnixNano(), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))); ok {
		o.Kafka, o.Topics = kc, spec
	}
	env, err := dev.Start(ctx, o)
	if err != nil {
		t.Fatalf("start dev mode: %v", err)
	}
	t.Cleanup(env.Close)
	return env, logs
}

// attackInputHeader marks what a test, as an outsider, produced to an
// ingest topic itself: the scan looks at what the exchange and honest
// clients wrote, not at the attacker's own bytes.
const attackInputHeader = "onevisit-test-attack-input"

// Identity numbers the attacks below smuggle in, besides the samples'.
var attackIdentities = []string{
	"110105194912310021", // valid shape, wrong check character
	"11010519491231002X",
	"11010519491231002x",
	"91330100MA2H1K3L0B", // credit-code shape
	"330106201501010012", // not in the samples
	"33010620150101001" + string(schemas.ResidentIDCheck("33010620150101001")),
}

// Shapes of identity numbers standing alone (not inside a longer run of
// letters and digits, such as a digest or base64): an 18-character
// resident ID with any check character, and an 18-character unified
// social credit code. Known numbers are also looked for as substrings
// anywhere.
var (
	residentShape = regexp.MustCompile(`(?:^|[^0-9A-Za-z])([0-9]{17}[0-9Xx])(?:[^0-9A-Za-z]|$)`)
	creditShape   = regexp.MustCompile(`(?:^|[^0-9A-Za-z])([0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10})(?:[^0-9A-Za-z]|$)`)
)

// knownIdentities lists every resident ID and credit code in the sample
// files and in attackIdentities.
func knownIdentities(t *testing.T, env *dev.Env) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range attackIdentities {
		seen[id] = true
	}
	for _, ds := range env.Schemas.Datasets() {
		for _, it := range sampleRows(t, env, ds) {
			for _, v := range it.Fields {
				if s, ok := v.(string); ok && (schemas.ValidResidentID(s) == nil || schemas.ValidCreditCode(s) == nil) {
					seen[s] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// identityHits describes every identity number in b, masked.
func identityHits(b []byte, known []string) []string {
	var hits []string
	mask := func(s string) string { return s[:4] + "**********" + s[len(s)-4:] }
	for _, id := range known {
		if bytes.Contains(b, []byte(id)) {
			hits = append(hits, "known "+mask(id))
		}
	}
	for _, re := range []*regexp.Regexp{residentShape, creditShape} {
		for _, m := range re.FindAllSubmatchIndex(b, -1) {
			if s := m[2]; s >= 2 && b[s-1] == '.' && b[s-2] >= '0' && b[s-2] <= '9' {
				continue // the fraction of a decimal number (a histogram bucket)
			}
			hits = append(hits, "shape "+mask(string(b[m[2]:m[3]])))
		}
	}
	return hits
}

// scanForIdentities fails the test for every 18-character resident ID or
// credit code in clear in: every message (key, value, header keys and
// values) of every topic the exchange uses, read to its end offsets; every
// audit log entry; /metrics; and the server log. It names where each was
// found. Messages a test produced itself as an attacker (header
// attackInputHeader on an ingest topic) are skipped.
func scanForIdentities(t *testing.T, env *dev.Env, logs fmt.Stringer) {
	t.Helper()
	known := knownIdentities(t, env)
	report := func(where string, b []byte) {
		t.Helper()
		for _, h := range identityHits(b, known) {
			t.Errorf("identity number in %s: %s", where, h)
		}
	}
	for _, tc := range bus.Topics(env.Kafka.Names, env.Schemas.Datasets(), bus.TopicSpec{}) {
		_, ingestTopic := env.Kafka.Names.DatasetOf(tc.Topic)
		ingestTopic = ingestTopic && strings.Contains(tc.Topic, ".ingest.")
	messages:
		for _, m := range readAll(t, env, tc.Topic) {
			for _, h := range m.Headers {
				if ingestTopic && h.Key == attackInputHeader {
					continue messages
				}
			}
			where := fmt.Sprintf("topic %s partition %d offset %d", m.Topic, m.Partition, m.Offset)
			report(where+" key", m.Key)
			report(where+" value", m.Value)
			for _, h := range m.Headers {
				report(where+" header key", []byte(h.Key))
				report(where+" header "+h.Key, h.Value)
			}
		}
	}
	l := env.Node.AuditLog()
	if n := l.Size(); n > 0 {
		entries, err := l.Entries(0, n)
		if err != nil {
			t.Fatalf("audit log entries: %v", err)
		}
		for i, e := range entries {
			report(fmt.Sprintf("audit log entry %d", i), e)
		}
	}
	resp, b := call(t, "GET", env.BaseURL+"/metrics", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	report("/metrics", b)
	report("the server log", []byte(logs.String()))
}

// TestLeakScan runs the bad-input and attack cases over HTTP and raw
// Kafka, with identity numbers in every free-text place an outsider can
// reach (record ids, case ids, purposes, field names, client ids, paths,
// reasons), then scans everything the node wrote for identity numbers.
func TestLeakScan(t *testing.T) {
	env, logs := startDevLogged(t)
	ctx := context.Background()
	pubTok := token(t, env, "public-security")
	consumerTok := token(t, env, "school-enrolment")
	officerTok := token(t, env, "security-officer")
	household := sampleRows(t, env, "household")
	child, guardian := samples.ChildResidentID, samples.GuardianResidentID

	// Honest traffic: samples through Kafka and HTTP, then permitted
	// queries, so the topics hold real records and audit entries.
	for _, via := range []struct{ client, dataset, via string }{
		{"public-security", "household", "kafka"}, {"tax-bureau", "tax", "http"}, {"natural-resources", "property", "http"},
	} {
		p, done, err := env.Publisher(via.client, via.dataset, via.via)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Publish(ctx, sampleRows(t, env, via.dataset)); err != nil {
			t.Fatalf("publish %s samples: %v", via.dataset, err)
		}
		done()
	}
	waitFor(t, "the child's household record", func() bool {
		_, ok := env.Node.View().Get("household", pseudonymOf(t, env, child))
		return ok
	})
	// A live query too: the request and reply topics, and the logs of
	// both sides, must not show the subject either.
	responder, err := env.StartResponder(dev.LivePublisher, dev.LiveDataset, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer responder.Stop()
	untilAnswered(t, liveRequester(t, env), liveQuery(guardian))
	for _, q := range []string{
		`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"property","subject":"` + guardian + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
	} {
		if status, out := post(t, env.BaseURL+"/v1/query", consumerTok, []byte(q)); status != 200 {
			t.Fatalf("permitted query: %d %v", status, out)
		}
	}

	// The bad-input cases of TestBadInput, and record ids carrying
	// identity numbers, in one HTTP batch.
	good := household[0].Fields
	badGender := clone(good)
	badGender["gender"] = "unknown"
	badID := clone(good)
	badID["resident_id"] = "110105194912310021"
	missing := clone(good)
	delete(missing, "name")
	sign := func(keyOf string, fields map[string]any, id string) string {
		return signWith(t, env, keyOf, "public-security", "household", fields, id)
	}
	tamper := func(rec string) string {
		parts := strings.SplitN(rec, ".", 3)
		sig := []byte(parts[2])
		sig[5] ^= 1
		return parts[0] + "." + parts[1] + "." + string(sig)
	}
	batch := []string{
		tamper(sign("public-security", good, "leak-bad-1")),
		sign("tax-bureau", good, "leak-bad-2"),
		sign("public-security", badGender, "leak-bad-3"),
		sign("public-security", missing, "leak-bad-4"),
		sign("public-security", badID, "leak-bad-5"),
		sign("public-security", good, "leak-bad-6") + strings.Repeat("A", 1<<20) + "~",
		"eyJhbGciOiJub25lIn0.e30.~",
		"garbage~" + child,
		sign("public-security", household[1].Fields, child),
		sign("public-security", household[2].Fields, "id:"+guardian),
		sign("public-security", household[3].Fields, "110105194912310021"),
		sign("public-security", household[4].Fields, "hh.11010519491231002x.v2"),
		sign("public-security", household[5].Fields, "co:91330100MA2H1K3L0B"),
		tamper(sign("public-security", household[6].Fields, "330106201501010012")),
	}
	body, _ := json.Marshal(map[string]any{"records": batch})
	if status, out := post(t, env.BaseURL+"/v1/datasets/household/records", pubTok, body); status != 200 || out["rejected"] != float64(len(batch)) {
		t.Fatalf("bad batch: %d %v, want every record rejected", status, out)
	}

	// Queries: TestBadInput's, and identity numbers in every free-text
	// field, in field names and in a subject with a wrong check character.
	for _, q := range []string{
		`{"dataset":"household","subject":"` + child + `","purpose":"property_transfer","case_id":"PT-2026-0001"}`,
		`{"dataset":"tax","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment"}`,
		`{"dataset":"fishing_licence","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"household","subject":"11010519491231002X","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"household","subject":"110105194912310021","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"household","subject":"11010519491231002x","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001","fields":["ethnicity"]}`,
		`{"dataset":"household","Dataset":"tax","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"household",`,
		`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"` + guardian + `"}`,
		`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"id:` + guardian + `"}`,
		`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-91330100MA2H1K3L0B"}`,
		`{"dataset":"household","subject":"` + child + `","purpose":"` + guardian + `","case_id":"SE-2026-0001"}`,
		`{"dataset":"household","subject":"` + child + `","purpose":"school enrolment of ` + guardian + `","case_id":"SE-2026-0001"}`,
		`{"dataset":"` + guardian + `","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`,
		`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001","` + guardian + `":1}`,
		`{"dataset":"household","subject":"` + child + `","` + guardian + `":1,"` + guardian + `":2}`,
	} {
		if status, _ := post(t, env.BaseURL+"/v1/query", consumerTok, []byte(q)); status == 200 {
			t.Errorf("query %s answered 200", q)
		}
	}
	for _, q := range []string{
		`{"consumer":"school-enrolment","dataset":"household","purpose":"` + guardian + `"}`,
		`{"consumer":"` + guardian + `","dataset":"household","purpose":"school_enrolment"}`,
		`{"consumer":"school-enrolment","dataset":"household","purpose":"school_enrolment","case_id":"` + guardian + `"}`,
	} {
		post(t, env.BaseURL+"/v1/policy/explain", consumerTok, []byte(q))
	}
	// Case bundles: identity numbers as roles, procedures, case ids and
	// bad subjects; then a good one, whose items are audited.
	for i, q := range []string{
		`{"procedure":"school_enrolment","case_id":"SE-2026-0001","subjects":{"` + guardian + `":"` + child + `"}}`,
		`{"procedure":"` + guardian + `","case_id":"SE-2026-0001","subjects":{"child":"` + child + `"}}`,
		`{"procedure":"school_enrolment","case_id":"id:` + guardian + `","subjects":{"child":"` + child + `"}}`,
		`{"procedure":"school_enrolment","case_id":"SE-2026-0001","subjects":{"child":"110105194912310021"}}`,
		`{"procedure":"school_enrolment","case_id":"SE-2026-0001","subjects":{"child":"` + child + `","father":"` + guardian + `"}}`,
	} {
		if status, _ := post(t, env.BaseURL+"/v1/cases", consumerTok, []byte(q)); (status == 200) != (i == 4) {
			t.Errorf("case %s answered %d", q, status)
		}
	}
	for _, q := range []string{
		`{"subject":"110105194912310021","reason":"citizen request 2026-118"}`,
		`{"subject":"` + guardian + `"}`,
		`{"subject":"` + guardian + `","reason":"citizen request 2026-118","` + child + `":true}`,
	} {
		post(t, env.BaseURL+"/v1/audit/subject", officerTok, []byte(q))
	}
	// Tokens, paths and publish URLs carrying identity numbers.
	for _, form := range []url.Values{
		{"grant_type": {guardian}},
		{"grant_type": {"client_credentials"}, "client_id": {guardian}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiIzMzAxMDYxOTg1MDMxMjA0MTUifQ.AAAA"}},
	} {
		call(t, "POST", env.BaseURL+"/v1/token", "", []byte(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	}
	call(t, "POST", env.BaseURL+"/v1/query", "Bearer "+guardian, []byte(`{}`), nil)
	call(t, "GET", env.BaseURL+"/v1/people/"+guardian, "", nil, nil)
	call(t, "PUT", env.BaseURL+"/v1/datasets/"+guardian+"/records", "Bearer "+pubTok, []byte(`{}`), nil)
	call(t, "POST", env.BaseURL+"/v1/datasets/"+guardian+"/records", "Bearer "+pubTok, []byte(`{"records":["x~"]}`), nil)

	// Raw Kafka, as an outsider with a broker credential: its own writer
	// producing signed records whose ids carry identity numbers, one whose
	// signature does not verify, then a good one, all to one partition so
	// the good one is processed last.
	tr, err := env.Kafka.Transport()
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(env.Brokers...), Topic: env.Kafka.Names.Ingest("household"), Transport: tr,
		RequiredAcks: kafka.RequireAll, Balancer: kafka.BalancerFunc(func(_ kafka.Message, ps ...int) int { return ps[0] }),
	}
	defer w.Close()
	mark := []kafka.Header{{Key: attackInputHeader, Value: []byte("1")}}
	var raw []kafka.Message
	for i, id := range []string{guardian, "id:" + child, "110105194912310021", "k.91330100MA2H1K3L0B"} {
		raw = append(raw, kafka.Message{Value: []byte(sign("public-security", household[7+i].Fields, id)), Headers: mark})
	}
	// A resident the samples do not have, so the good record is nobody's
	// update (and cannot be stale).
	newcomer := clone(household[0].Fields)
	newcomer["resident_id"] = "33010620150101001" + string(schemas.ResidentIDCheck("33010620150101001"))
	raw = append(raw,
		kafka.Message{Value: []byte(tamper(sign("public-security", household[11].Fields, "330106201501010012"))), Headers: mark},
		kafka.Message{Value: []byte(sign("public-security", newcomer, "leak-kafka-good")), Headers: mark})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(wctx, raw...); err != nil {
		t.Fatalf("raw produce: %v", err)
	}
	waitFor(t, "the good raw Kafka record", func() bool { return env.Node.View().Seen("public-security", "household", "leak-kafka-good") })

	// Every identity-bearing record id was refused as such, with no id.
	// The good record can reach the view (through the accepted topic's
	// tail) before the same batch's dead letters are readable on another
	// partition, so wait for them: 5 over HTTP and 4 over Kafka, at least
	// (Kafka delivery is at least once).
	deadLetters := func() (n int) {
		for _, m := range readAll(t, env, env.Kafka.Names.Rejected("household")) {
			var dl struct {
				Code     string `json:"code"`
				RecordID string `json:"record_id"`
			}
			if json.Unmarshal(m.Value, &dl) == nil && dl.Code == "bad_record_id" {
				n++
				if dl.RecordID != "" || len(m.Key) != 0 {
					t.Errorf("dead letter offset %d names the refused record id", m.Offset)
				}
			}
		}
		return n
	}
	waitFor(t, "9 bad_record_id dead letters (5 over HTTP, 4 over Kafka)", func() bool { return deadLetters() >= 9 })

	// Key registrations and revocations (last: they retire the key the
	// records above were signed with): a kid and reasons carrying identity
	// numbers (officers write reasons; a citizen's number is the first
	// thing they would type).
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"public-security-" + guardian + "#2", "public-security-record#9"} {
		jwk, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub), "kid": kid})
		body, _ := json.Marshal(map[string]any{"client_id": "public-security", "use": "record", "jwk": json.RawMessage(jwk), "reason": "request of citizen " + guardian})
		call(t, "POST", env.BaseURL+"/v1/keys", "Bearer "+officerTok, body, nil)
	}
	call(t, "POST", env.BaseURL+"/v1/keys/revoke", "Bearer "+officerTok, []byte(`{"kid":"public-security-record#9","reason":"lost laptop of `+child+`"}`), nil)
	post(t, env.BaseURL+"/v1/audit/subject", officerTok, []byte(`{"subject":"`+guardian+`","reason":"citizen `+guardian+` asked who read the record"}`))

	scanForIdentities(t, env, logs)
}
