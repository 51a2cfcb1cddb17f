package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/api"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// leakCases is how many generated cases TestNoAnswerLeaks runs. The
// default keeps `go test` quick; the figure is
//
//	go test -run TestNoAnswerLeaks ./exchange/api/ -leakcases=100000
var leakCases = flag.Int("leakcases", 3000, "generated (policy set, record, request) cases for TestNoAnswerLeaks")

// leakSeed fixes the generator; 0 picks one from the clock (and logs it).
var leakSeed = flag.Uint64("leakseed", 0, "seed of TestNoAnswerLeaks (0: from the clock)")

var (
	leakConsumers = []string{"consumer-a", "consumer-b", "consumer-c"}
	leakPurposes  = []string{"school_enrolment", "property_transfer", "newborn_registration"}
	leakIssuers   = map[string]string{"household": "public-security", "tax": "tax-bureau", "property": "natural-resources"}
)

// leakWorld is what every generated case shares: the schema registry,
// the exchange's and the clients' keys, and the sample rows records are
// made from.
type leakWorld struct {
	reg      *schemas.Registry
	dir      *keys.Directory
	token    keys.Signer
	receipts keys.Signer
	auth     map[string]keys.Signer // consumers' assertion keys
	records  map[string]keys.Signer // publishers' record keys
	rows     map[string][]map[string]any
	roles    leakRoles
}

type leakRoles map[string]string

func (r leakRoles) Role(id string) (string, bool) { v, ok := r[id]; return v, ok }

type leakHMAC struct{}

func (leakHMAC) HMAC(_ context.Context, msg []byte) ([]byte, error) {
	m := hmac.New(sha256.New, []byte("leak-test-pseudonym-key-32-bytes"))
	m.Write(msg)
	return m.Sum(nil), nil
}

// leakAuditor keeps the last entry written.
type leakAuditor struct {
	mu   sync.Mutex
	last audit.Entry
	n    int
}

func (a *leakAuditor) Write(_ context.Context, es ...audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n += len(es)
	a.last = es[len(es)-1]
	return nil
}

func newLeakWorld(t *testing.T) *leakWorld {
	t.Helper()
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	w := &leakWorld{reg: reg, dir: keys.NewDirectory(), auth: map[string]keys.Signer{}, records: map[string]keys.Signer{}, rows: map[string][]map[string]any{}, roles: leakRoles{}}
	add := func(kid, owner string, use keys.Use) keys.Signer {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.dir.Add(keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: keys.Active}); err != nil {
			t.Fatal(err)
		}
		return keys.NewLocalSigner(kid, priv)
	}
	w.token = add("exchange-token#1", "exchange", keys.UseToken)
	w.receipts = add("exchange-receipt#1", "exchange", keys.UseReceipt)
	for _, c := range leakConsumers {
		w.auth[c] = add(c+"-auth#1", c, keys.UseAuth)
		w.roles[c] = "consumer"
	}
	for ds, p := range leakIssuers {
		w.records[p] = add(p+"-record#1", p, keys.UseRecord)
		w.roles[p] = "publisher"
		// A publisher may not query: its requests are refusals too.
		w.auth[p] = add(p+"-auth#1", p, keys.UseAuth)
		rows, err := samples.Rows(ds + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		d, _ := reg.Dataset(ds)
		for _, row := range rows {
			fields, err := reg.Coerce(d.Latest, row)
			if err != nil {
				t.Fatal(err)
			}
			w.rows[ds] = append(w.rows[ds], fields)
		}
	}
	return w
}

// leakNode is one exchange API over the shared world, with its own view,
// auditor and current policy set, so workers run cases side by side.
type leakNode struct {
	w       *leakWorld
	srv     *api.Server
	view    *view.View
	pseud   *pseudonym.Pseudonymizer
	policy  atomic.Pointer[policy.Set]
	audit   *leakAuditor
	issuer  *auth.Issuer
	tokens  map[string]string
	tokenAt time.Time
	nextIAT int64
}

const leakTokenURL = "http://onevisit.test/v1/token"

// refreshTokens gets every client an access token through the token
// endpoint's own logic (a signed client assertion, RFC 7523).
func (n *leakNode) refreshTokens() error {
	for id, s := range n.w.auth {
		a, err := auth.NewAssertion(context.Background(), s, id, leakTokenURL, time.Now())
		if err != nil {
			return err
		}
		res, err := n.issuer.Token(context.Background(), url.Values{
			"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionTypeJWTBearer}, "client_assertion": {a},
		})
		if err != nil {
			return fmt.Errorf("token for %s: %v", id, err)
		}
		n.tokens[id] = res.AccessToken
	}
	n.tokenAt = time.Now()
	return nil
}

func newLeakNode(t *testing.T, w *leakWorld) *leakNode {
	t.Helper()
	n := &leakNode{w: w, view: view.New(1 << 12), pseud: pseudonym.New(leakHMAC{}), audit: &leakAuditor{}, tokens: map[string]string{}, nextIAT: time.Now().Add(-24 * time.Hour).Unix()}
	is, err := auth.NewIssuer(auth.IssuerConfig{Issuer: "onevisit", TokenURL: leakTokenURL, Audience: "onevisit-api", Signer: w.token, Keys: w.dir, Clients: w.roles})
	if err != nil {
		t.Fatal(err)
	}
	n.srv, err = api.New(api.Deps{
		Auth: is, Policy: n.policy.Load, Schemas: w.reg, View: n.view, Pseudonym: n.pseud,
		Audit: n.audit, Receipts: w.receipts, Keys: w.dir, Clients: w.roles, Node: "leak-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	n.issuer = is
	if err := n.refreshTokens(); err != nil {
		t.Fatal(err)
	}
	return n
}

// leakPolicy is one generated access policy or forbid, kept for the
// oracle as well as rendered to YAML for the policy package.
type leakPolicy struct {
	kind            string // AccessPolicy or Forbid
	name            string
	consumer        string
	dataset         string
	purposes        []string
	fields          []string
	requireCase     bool
	from, until     time.Time
	hasFrom, hasTil bool
}

func (p leakPolicy) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind: %s\nmetadata:\n  name: %s\nspec:\n  consumer: %q\n  dataset: %s\n", p.kind, p.name, p.consumer, p.dataset)
	if p.kind == "AccessPolicy" {
		fmt.Fprintf(&b, "  purposes: [%s]\n", strings.Join(p.purposes, ", "))
		if p.requireCase {
			b.WriteString("  requireCaseId: true\n")
		}
		if p.hasFrom {
			fmt.Fprintf(&b, "  validFrom: %s\n", p.from.UTC().Format(time.RFC3339))
		}
		if p.hasTil {
			fmt.Fprintf(&b, "  validUntil: %s\n", p.until.UTC().Format(time.RFC3339))
		}
	}
	quoted := make([]string, len(p.fields))
	for i, f := range p.fields {
		quoted[i] = fmt.Sprintf("%q", f)
	}
	fmt.Fprintf(&b, "  fields: [%s]\n", strings.Join(quoted, ", "))
	return b.String()
}

func subset(rng *mrand.Rand, all []string, min int) []string {
	var out []string
	for _, x := range all {
		if rng.IntN(2) == 0 {
			out = append(out, x)
		}
	}
	for len(out) < min {
		x := all[rng.IntN(len(all))]
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// genPolicies makes a policy set: for each consumer and dataset maybe one
// or two access policies (random purposes, fields, case-id rule and
// validity), and a few forbids.
func (w *leakWorld) genPolicies(rng *mrand.Rand, now time.Time) []leakPolicy {
	var out []leakPolicy
	k := 0
	name := func() string { k++; return fmt.Sprintf("p-%d", k) }
	for _, c := range leakConsumers {
		for ds := range leakIssuers {
			for n := rng.IntN(3); n > 0; n-- {
				fields, _ := w.reg.Fields(ds)
				p := leakPolicy{kind: "AccessPolicy", name: name(), consumer: c, dataset: ds,
					purposes: subset(rng, leakPurposes, 1), fields: subset(rng, fields, 1), requireCase: rng.IntN(2) == 0}
				switch rng.IntN(5) {
				case 0: // expired
					p.from, p.until, p.hasFrom, p.hasTil = now.Add(-48*time.Hour), now.Add(-24*time.Hour), true, true
				case 1: // not yet valid
					p.from, p.hasFrom = now.Add(24*time.Hour), true
				case 2: // valid now
					p.from, p.until, p.hasFrom, p.hasTil = now.Add(-time.Hour), now.Add(time.Hour), true, true
				}
				out = append(out, p)
			}
		}
	}
	for n := rng.IntN(4); n > 0; n-- {
		ds := []string{"household", "tax", "property"}[rng.IntN(3)]
		consumer := "*"
		if rng.IntN(2) == 0 {
			consumer = leakConsumers[rng.IntN(len(leakConsumers))]
		}
		fields, _ := w.reg.Fields(ds)
		f := subset(rng, fields, 1)
		if rng.IntN(6) == 0 {
			f = []string{"*"}
		}
		out = append(out, leakPolicy{kind: "Forbid", name: name(), consumer: consumer, dataset: ds, fields: f})
	}
	return out
}

// allowed is the oracle: the fields the policy model (policy/doc.go)
// lets consumer read of dataset for purpose with caseID at now, written
// from the documented rules, not from the policy package.
func allowed(pols []leakPolicy, consumer, dataset, purpose, caseID string, now time.Time) map[string]bool {
	out := map[string]bool{}
	for _, p := range pols {
		if p.kind != "AccessPolicy" || p.consumer != consumer || p.dataset != dataset || !slices.Contains(p.purposes, purpose) {
			continue
		}
		if (p.hasFrom && now.Before(p.from)) || (p.hasTil && now.After(p.until)) || (p.requireCase && caseID == "") {
			continue
		}
		for _, f := range p.fields {
			out[f] = true
		}
	}
	for _, p := range pols {
		if p.kind != "Forbid" || p.dataset != dataset || (p.consumer != "*" && p.consumer != consumer) {
			continue
		}
		for _, f := range p.fields {
			if f == "*" {
				return map[string]bool{}
			}
			delete(out, f)
		}
	}
	return out
}

// leakStats counts what the cases exercised, so a generator that stopped
// producing permits (or refusals) is noticed.
type leakStats struct {
	cases, permits, refusals, notFound, disclosed atomic.Int64
}

// TestNoAnswerLeaks is the property-based leak test of issue 7: for
// generated (policy set, record, request) cases, run through the API as
// a consumer would call it, every answer discloses exactly the fields the
// policy model allows of the fields the record holds, plus the subject
// field the requester sent (so never one outside the policy), the record
// in it verifies against its publisher's key and is bound to the subject
// asked about, its receipt verifies against the exchange's receipt key
// and that record and commits to that subject, the audit entry names
// what was released, and every refusal carries a stable code (never
// internal) and is a refusal the model predicts.
func TestNoAnswerLeaks(t *testing.T) {
	seed := *leakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	total := *leakCases
	w := newLeakWorld(t)
	workers := max(1, runtime.GOMAXPROCS(0))
	var st leakStats
	var wg sync.WaitGroup
	var failed atomic.Bool
	for wk := range workers {
		n := newLeakNode(t, w)
		rng := mrand.New(mrand.NewPCG(seed, uint64(wk)))
		count := total / workers
		if wk < total%workers {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < count && !failed.Load(); i++ {
				if err := n.runCase(rng, &st); err != nil {
					failed.Store(true)
					t.Errorf("seed %d worker %d case %d: %v", seed, wk, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("TestNoAnswerLeaks: %d cases (seed %d): %d answers disclosing %d fields, %d policy refusals, %d not found",
		st.cases.Load(), seed, st.permits.Load(), st.disclosed.Load(), st.refusals.Load(), st.notFound.Load())
	fmt.Printf("leak property test: %d generated cases run\n", st.cases.Load())
	if !failed.Load() && total >= 500 && (st.permits.Load() < int64(total)/20 || st.refusals.Load() < int64(total)/20) {
		t.Errorf("the generator is lopsided: %d permits and %d refusals in %d cases", st.permits.Load(), st.refusals.Load(), total)
	}
}

func (n *leakNode) runCase(rng *mrand.Rand, st *leakStats) error {
	w := n.w
	if time.Since(n.tokenAt) > time.Minute {
		if err := n.refreshTokens(); err != nil {
			return err
		}
	}
	now := time.Now()
	pols := w.genPolicies(rng, now)
	var doc strings.Builder
	for _, p := range pols {
		doc.WriteString("---\n")
		doc.WriteString(p.yaml())
	}
	set, err := policy.Parse("generated.yaml", []byte(doc.String()), w.reg)
	if err != nil {
		return fmt.Errorf("generated policies do not load: %v\n%s", err, doc.String())
	}
	n.policy.Store(set)

	// A record of a random sample row holding a random subset of its
	// dataset's fields (the subject always), accepted now.
	ds := []string{"household", "tax", "property"}[rng.IntN(3)]
	d, _ := w.reg.Dataset(ds)
	row := w.rows[ds][rng.IntN(len(w.rows[ds]))]
	names := make([]string, 0, len(row))
	for k := range row {
		names = append(names, k)
	}
	sort.Strings(names)
	fields := map[string]any{}
	for _, k := range subset(rng, names, 1) {
		fields[k] = row[k]
	}
	subject, _ := row[d.Subject].(string)
	fields[d.Subject] = subject
	n.nextIAT++
	issuer := leakIssuers[ds]
	raw, err := record.Sign(context.Background(), w.records[issuer], record.Claims{
		Issuer: issuer, Dataset: ds, Schema: d.Latest, ID: fmt.Sprintf("leak-%d", n.nextIAT), IssuedAt: time.Unix(n.nextIAT, 0), Op: record.Upsert,
		SubjectField: d.Subject,
	}, fields)
	if err != nil {
		return err
	}
	rec, err := record.Parse(raw)
	if err != nil {
		return err
	}
	pseud, err := n.pseud.Of(context.Background(), subject)
	if err != nil {
		return err
	}
	n.view.Apply(pseud, view.FromRecord(rec, now.UnixMilli()))

	// The request: usually about that record, sometimes another dataset
	// or a subject with nothing held, from a consumer or a publisher.
	consumer := leakConsumers[rng.IntN(len(leakConsumers))]
	if rng.IntN(20) == 0 {
		consumer = leakIssuers[ds]
	}
	qds, qsubject := ds, subject
	switch rng.IntN(10) {
	case 0:
		qds = []string{"household", "tax", "property"}[rng.IntN(3)]
	case 1:
		qsubject = samples.ChildResidentID
	}
	purpose := leakPurposes[rng.IntN(len(leakPurposes))]
	caseID := ""
	if rng.IntN(3) > 0 {
		caseID = fmt.Sprintf("CASE-%d", rng.IntN(1000))
	}
	body, _ := json.Marshal(map[string]string{"dataset": qds, "subject": qsubject, "purpose": purpose, "case_id": caseID})
	req := httptest.NewRequest("POST", "/v1/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.tokens[consumer])
	resp := httptest.NewRecorder()
	n.srv.ServeHTTP(resp, req)
	st.cases.Add(1)

	want := map[string]bool{}
	if w.roles[consumer] == "consumer" {
		want = allowed(pols, consumer, qds, purpose, caseID, now)
	}
	held, isHeld := n.view.Get(qds, mustPseud(n, qsubject))

	if resp.Code != http.StatusOK {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(resp.Body.Bytes(), &e)
		c := e.Error.Code
		if c == "" || c == wire.Internal.Name || !knownCode(c) {
			return fmt.Errorf("refusal %d without a stable code: %s", resp.Code, resp.Body.Bytes())
		}
		switch {
		case len(want) == 0:
			st.refusals.Add(1)
		case !isHeld && resp.Code == http.StatusNotFound:
			st.notFound.Add(1)
		default:
			return fmt.Errorf("refused %d %s, but the policy model allows %v of %s for %s/%s/%q\n%s", resp.Code, c, keysOf(want), qds, consumer, purpose, caseID, doc.String())
		}
		return nil
	}
	if len(want) == 0 {
		return fmt.Errorf("answered %s of %s to %s for %s/%q, which the policy model refuses\n%s", resp.Body.Bytes(), qds, consumer, purpose, caseID, doc.String())
	}
	if !isHeld {
		return fmt.Errorf("answered for a subject with no %s record", qds)
	}
	// The answer releases the allowed fields and, always, the subject
	// field: the requester sent that identifier, and checks the answer is
	// about it through it (subject binding, exchange/record).
	qd, _ := w.reg.Dataset(qds)
	release := map[string]bool{qd.Subject: true}
	for f := range want {
		release[f] = true
	}
	var a struct {
		Record  string         `json:"record"`
		Data    map[string]any `json:"data"`
		Receipt string         `json:"receipt"`
	}
	dec := json.NewDecoder(bytes.NewReader(resp.Body.Bytes()))
	dec.UseNumber() // numbers as the publisher wrote them, e.g. 25080.00
	if err := dec.Decode(&a); err != nil {
		return fmt.Errorf("answer is not JSON: %v", err)
	}
	// The record verifies against its publisher's key...
	got, err := record.Verify(a.Record, w.dir)
	if err != nil {
		return fmt.Errorf("answered record does not verify: %v", err)
	}
	if got.ID != held.ID || got.Issuer != leakIssuers[qds] || got.Dataset != qds {
		return fmt.Errorf("answered record %s/%s/%s, want %s of %s", got.Issuer, got.Dataset, got.ID, held.ID, qds)
	}
	// ...discloses exactly the released fields the record holds...
	var wantFields []string
	for _, d := range held.Disclosure {
		if release[d.Name] {
			wantFields = append(wantFields, d.Name)
		}
	}
	sort.Strings(wantFields)
	disclosed := keysOfAny(got.Fields())
	if !slices.Equal(disclosed, wantFields) {
		return fmt.Errorf("record discloses %v, the policy model releases %v of the held %v\n%s", disclosed, wantFields, heldNames(held), doc.String())
	}
	if data := keysOfAny(a.Data); !slices.Equal(data, wantFields) {
		return fmt.Errorf("data carries %v, want %v", data, wantFields)
	}
	for _, f := range disclosed {
		if fmt.Sprint(a.Data[f]) != fmt.Sprint(got.Fields()[f]) {
			return fmt.Errorf("data %s = %v, the signed disclosure says %v", f, a.Data[f], got.Fields()[f])
		}
	}
	// ...is about the subject asked about...
	sd, id, err := got.Subject()
	if err != nil || id != qsubject {
		return fmt.Errorf("answered record's subject binding: %v (is it the subject asked about: %v)", err, id == qsubject)
	}
	// ...and its receipt verifies against the exchange's key and that
	// record, commits to that subject, and names no field outside the
	// policy.
	rc, err := receipt.Verify(a.Receipt, w.dir, a.Record, consumer)
	if err != nil {
		return fmt.Errorf("receipt does not verify: %v", err)
	}
	if rc.SubjectSD != sd.Digest {
		return fmt.Errorf("receipt commits to subject disclosure %q, the record's is %q", rc.SubjectSD, sd.Digest)
	}
	if rc.RecordID != held.ID || rc.Dataset != qds || rc.Purpose != purpose {
		return fmt.Errorf("receipt names %s/%s/%s", rc.RecordID, rc.Dataset, rc.Purpose)
	}
	if !slices.Equal(sortedCopy(rc.Fields), keysOf(release)) {
		return fmt.Errorf("receipt names fields %v, the policy model releases %v", rc.Fields, keysOf(release))
	}
	n.audit.mu.Lock()
	last := n.audit.last
	n.audit.mu.Unlock()
	if last.Decision != audit.DecisionPermit || last.RecordID != held.ID || !slices.Equal(sortedCopy(last.Fields), keysOf(release)) {
		return fmt.Errorf("audit entry %+v does not name the release of %v", last, keysOf(release))
	}
	st.permits.Add(1)
	st.disclosed.Add(int64(len(disclosed)))
	return nil
}

func mustPseud(n *leakNode, subject string) string {
	p, _ := n.pseud.Of(context.Background(), subject)
	return p
}

func knownCode(name string) bool {
	for _, c := range wire.All() {
		if c.Name == name {
			return true
		}
	}
	return false
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func keysOfAny(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func heldNames(e *view.Entry) []string {
	var out []string
	for _, d := range e.Disclosure {
		out = append(out, d.Name)
	}
	return out
}
