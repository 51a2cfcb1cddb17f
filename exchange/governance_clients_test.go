package exchange

import (
	"crypto/ed25519"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// ledgerNode is a node's control-plane state only: its ledger, client
// registry (from boot), key directory and schema registry (reg).
func ledgerNode(t *testing.T, boot *clients.Registry, reg *schemas.Registry) *Node {
	t.Helper()
	g, err := newGovernance(prometheus.NewRegistry(), 0)
	if err != nil {
		t.Fatal(err)
	}
	def, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.Load(os.DirFS("../policy/examples"), def)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.ledger.Seed(set, time.Unix(1764300000, 0)); err != nil {
		t.Fatal(err)
	}
	n := &Node{p: Parts{Schemas: reg, Logger: slog.New(slog.DiscardHandler)}, dir: keys.NewDirectory(), gov: g, clients: clients.NewLive(boot)}
	for _, k := range boot.PublicKeys() {
		if err := n.dir.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// feed applies verified events as applyControl does, without the topic.
func (n *Node) feed(t *testing.T, es ...control.Event) {
	t.Helper()
	for _, e := range es {
		n.gov.mu.Lock()
		before, _ := n.gov.ledger.Current()
		err := n.toLedger(e)
		for _, v := range n.gov.ledger.Versions()[before:] {
			n.applyClientChange(v)
			n.applySchemaChange(v)
		}
		n.gov.mu.Unlock()
		if err != nil {
			t.Fatalf("%s %s: %v", e.Action, e.Proposal, err)
		}
	}
}

// TestFilesCaughtUpReplaySameLedger: a node whose registry file and
// schema files already hold what was enrolled and approved at runtime
// replays the same events to the same versions as a node whose files do
// not, and ends with the same clients, keys and schema versions.
func TestFilesCaughtUpReplaySameLedger(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	jwk, err := keys.MarshalPublicJWK("meals-auth#1", pub)
	if err != nil {
		t.Fatal(err)
	}
	officers := `{"client_id":"officer-a","role":"officer"},{"client_id":"officer-b","role":"officer"}`
	old, err := clients.Parse([]byte(`{"clients":[` + officers + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.MarshalJWKS([]keys.PublicKey{{KID: "meals-auth#1", Owner: "meals", Use: keys.UseAuth, Key: pub, Status: keys.Active}})
	if err != nil {
		t.Fatal(err)
	}
	caughtUp, err := clients.Parse([]byte(`{"clients":[` + officers + `,{"client_id":"meals","role":"consumer"}],"keys":` + string(ks) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	def, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../schemas/household/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	v2 := []byte(strings.Replace(string(raw), schemas.IDBase+"household/v1", schemas.IDBase+"household/v2", 1))
	withV2 := def.Clone()
	p, err := withV2.Prepare(v2)
	if err != nil {
		t.Fatal(err)
	}
	if err := withV2.Add(p); err != nil {
		t.Fatal(err)
	}

	at := time.Unix(1764300100, 0).UTC()
	events := []control.Event{
		{Issuer: "officer-a", ID: "e1", IssuedAt: at, Action: control.ActionClientsAdd, Proposal: "enrol", Base: 1, Reason: "r",
			Client: &clients.Client{ID: "meals", Role: "consumer"}, JWK: jwk},
		{Issuer: "officer-b", ID: "e2", IssuedAt: at, Action: control.ActionApprove, Proposal: "enrol", Base: 1, Reason: "ok"},
		{Issuer: "officer-a", ID: "e3", IssuedAt: at, Action: control.ActionSchemasPropose, Proposal: "hh-v2", Base: 2, Reason: "r", Schema: v2},
		{Issuer: "officer-b", ID: "e4", IssuedAt: at, Action: control.ActionApprove, Proposal: "hh-v2", Base: 2, Reason: "ok"},
	}
	type state struct {
		Versions  []uint64
		Role      string
		Key       keys.Status
		Household []string
	}
	stateOf := func(n *Node) state {
		var s state
		for _, v := range n.gov.ledger.Versions() {
			s.Versions = append(s.Versions, v.Number)
		}
		s.Role, _ = n.clients.Role("meals")
		if k, err := n.dir.PublicKey("meals-auth#1"); err == nil {
			s.Key = k.Status
		}
		d, _ := n.p.Schemas.Dataset("household")
		s.Household = d.Versions
		return s
	}
	a := ledgerNode(t, old, def.Clone())
	b := ledgerNode(t, caughtUp, withV2)
	a.feed(t, events...)
	b.feed(t, events...)
	want := state{Versions: []uint64{1, 2, 3}, Role: "consumer", Key: keys.Active, Household: []string{"household/v1", "household/v2"}}
	if got := stateOf(a); !reflect.DeepEqual(got, want) {
		t.Fatalf("node with the old files: %+v, want %+v", got, want)
	}
	if got := stateOf(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("node with caught-up files: %+v, want %+v", got, want)
	}
}
