package dev_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/schemas"
)

// household returns n distinct valid household records' fields.
func household(n, offset int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		body := fmt.Sprintf("330106199001%02d%03d", 1+(i+offset)/900%28, (i+offset)%900+100)
		id := body + string(schemas.ResidentIDCheck(body))
		out[i] = map[string]any{
			"resident_id": id, "name": fmt.Sprintf("居民%d", i+offset), "gender": "male",
			"birth_date": "1990-01-" + body[12:14], "ethnicity": "汉族", "household_id": "330106-09001",
			"relation_to_head": "head", "address": "浙江省杭州市上城区解放路1号", "registration_date": "2015-03-01",
		}
	}
	return out
}

// swapSigner is a publisher's signer across a rotation: KeyID names the
// current version, and Sign signs with whichever version the kid names,
// as a keystore holding both versions does.
type swapSigner struct {
	mu  sync.Mutex
	cur keys.Signer
	all map[string]keys.Signer
}

func newSwapSigner(s keys.Signer) *swapSigner {
	return &swapSigner{cur: s, all: map[string]keys.Signer{s.KeyID(): s}}
}

func (w *swapSigner) set(s keys.Signer) {
	w.mu.Lock()
	w.cur, w.all[s.KeyID()] = s, s
	w.mu.Unlock()
}

func (w *swapSigner) KeyID() string { w.mu.Lock(); defer w.mu.Unlock(); return w.cur.KeyID() }

func (w *swapSigner) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	w.mu.Lock()
	s, ok := w.all[kid]
	w.mu.Unlock()
	if !ok {
		return nil, keys.ErrUnknownKey
	}
	return s.Sign(ctx, kid, msg)
}

func TestRotationUnderLoadAndRevocation(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	officer, err := env.Client("security-officer")
	if err != nil {
		t.Fatal(err)
	}
	pubCred, err := env.Credentials("public-security")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := pubCred.RecordSigner()
	if err != nil {
		t.Fatal(err)
	}
	sw := newSwapSigner(v1)
	pubClient, err := env.Client("public-security")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectors.Publisher{Issuer: "public-security", Dataset: "household", Schema: "household/v1", SubjectField: "resident_id", Signer: sw, Sink: connectors.HTTPSink{Client: pubClient}}

	// Publish 40 batches of 10 while the key rotates after batch 20.
	const batches, per = 40, 10
	rows := household(batches*per, 0)
	kidOf := map[string]string{} // resident id -> kid that signed it
	// The officer registers v2 while batches are in flight: it starts once
	// the first quarter is accepted (so v1 signs those), and the second
	// half waits for it (so v2 signs that).
	startRotation, rotated := make(chan struct{}), make(chan struct{})
	var v2 keys.Signer
	go func() {
		defer close(rotated)
		<-startRotation
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		pubJWK, _ := keys.MarshalPublicJWK("public-security-record#2", priv.Public().(ed25519.PublicKey))
		if err := officer.Do(ctx, "POST", "/v1/keys", map[string]any{"client_id": "public-security", "use": "record", "jwk": json.RawMessage(pubJWK), "reason": "scheduled rotation"}, nil); err != nil {
			t.Errorf("register v2: %v", err)
			return
		}
		v2 = keys.NewLocalSigner("public-security-record#2", priv)
		sw.set(v2)
	}()
	for b := 0; b < batches; b++ {
		items := make([]connectors.Item, per)
		for i := range items {
			items[i] = connectors.Item{Fields: rows[b*per+i]}
		}
		_, res, err := p.Publish(ctx, items)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		for i, r := range res {
			if r.Status != wire.Accepted {
				t.Fatalf("batch %d record %d: %s %s", b, i, r.Status, r.Code)
			}
		}
		if b == batches/4 {
			close(startRotation)
		}
		if b == batches/2 {
			<-rotated
		}
	}
	// Which version signed each record is read from the records
	// themselves: the rotation lands somewhere inside a batch.
	for _, m := range readAll(t, env, env.Kafka.Names.Accepted("household")) {
		rec, err := record.Parse(string(m.Value))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := rec.Field("resident_id")
		kidOf[id.(string)] = rec.KID
	}
	if len(kidOf) != batches*per {
		t.Fatalf("the accepted topic holds %d of the %d records", len(kidOf), batches*per)
	}
	var first, second string
	for id, kid := range kidOf {
		switch kid {
		case "public-security-record#1":
			first = id
		case "public-security-record#2":
			second = id
		}
	}
	if first == "" || second == "" {
		t.Fatalf("records were not signed by both versions: %v", kidOf)
	}
	v1k, _ := env.Node.Directory().PublicKey("public-security-record#1")
	if v1k.Status != keys.Retired {
		t.Fatalf("v1 status after rotation = %s, want retired", v1k.Status)
	}
	nb, err := env.Client("newborn-registration")
	if err != nil {
		t.Fatal(err)
	}
	req := &connectors.Requester{Client: nb}
	for _, id := range []string{first, second} {
		a, err := req.Query(ctx, connectors.Query{Dataset: "household", Subject: id, Purpose: "newborn_registration", CaseID: "NB-2026-0001"})
		if err != nil {
			t.Fatalf("query record signed by %s: %v", kidOf[id], err)
		}
		if a.Record.KID != kidOf[id] {
			t.Fatalf("record kid = %s, want %s", a.Record.KID, kidOf[id])
		}
	}

	// Revoke v1 now: records it signed and the exchange accepted before
	// stay answerable and verify; new ones it signs are refused.
	if err := officer.Do(ctx, "POST", "/v1/keys/revoke", map[string]any{"kid": "public-security-record#1", "reason": "key compromised"}, nil); err != nil {
		t.Fatalf("revoke v1: %v", err)
	}
	if _, err := req.Query(ctx, connectors.Query{Dataset: "household", Subject: first, Purpose: "newborn_registration", CaseID: "NB-2026-0001"}); err != nil {
		t.Fatalf("record accepted before the revocation: %v", err)
	}
	late := household(1, 5000)[0]
	rec, err := record.Sign(ctx, v1, record.Claims{Issuer: "public-security", Dataset: "household", Schema: "household/v1", ID: "after-revocation", IssuedAt: time.Now(), Op: record.Upsert, SubjectField: "resident_id"}, late)
	if err != nil {
		t.Fatal(err)
	}
	res, err := connectors.HTTPSink{Client: pubClient}.Send(ctx, "household", []string{rec})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != wire.Rejected || res[0].Code != "key_revoked" {
		t.Fatalf("record signed with the revoked key: %s %s, want rejected key_revoked", res[0].Status, res[0].Code)
	}

	// Revoke v2 back-dated to before its records were accepted: queries
	// that would return them say so.
	if err := officer.Do(ctx, "POST", "/v1/keys/revoke", map[string]any{"kid": "public-security-record#2", "revoked_at": time.Now().Add(-time.Hour), "reason": "compromised since an hour ago"}, nil); err != nil {
		t.Fatalf("revoke v2: %v", err)
	}
	_, err = req.Query(ctx, connectors.Query{Dataset: "household", Subject: second, Purpose: "newborn_registration", CaseID: "NB-2026-0001"})
	if !connectors.IsCode(err, "key_revoked") {
		t.Fatalf("query of a record whose key was revoked before acceptance: %v, want key_revoked", err)
	}

	// Only officers change keys.
	consumer, _ := env.Client("school-enrolment")
	err = consumer.Do(ctx, "POST", "/v1/keys/revoke", map[string]any{"kid": "public-security-auth#1", "reason": "x"}, nil)
	if !connectors.IsCode(err, "forbidden") {
		t.Fatalf("consumer revoking a key: %v, want forbidden", err)
	}
}

// TestDeleteAndStale: a signed delete removes the subject from answers,
// an older upsert cannot bring it back, and a record id that is an
// identity number is refused.
func TestDeleteAndStale(t *testing.T) {
	env := startDev(t)
	ctx := context.Background()
	pub, err := env.Client("public-security")
	if err != nil {
		t.Fatal(err)
	}
	sink := connectors.HTTPSink{Client: pub}
	row := household(1, 7000)[0]
	id := row["resident_id"].(string)
	cred, _ := env.Credentials("public-security")
	s, _ := cred.RecordSigner()
	sign := func(rid string, at time.Time, op record.Op, f map[string]any) string {
		rec, err := record.Sign(ctx, s, record.Claims{Issuer: "public-security", Dataset: "household", Schema: "household/v1", ID: rid, IssuedAt: at, Op: op, SubjectField: "resident_id"}, f)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	t0 := time.Now().Add(-time.Hour)
	send := func(recs ...string) []wire.Result {
		res, err := sink.Send(ctx, "household", recs)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := send(sign("del-up-1", t0, record.Upsert, row)); r[0].Status != wire.Accepted {
		t.Fatalf("upsert: %+v", r[0])
	}
	nb, _ := env.Client("newborn-registration")
	req := &connectors.Requester{Client: nb}
	q := connectors.Query{Dataset: "household", Subject: id, Purpose: "newborn_registration", CaseID: "NB-2026-0009"}
	if _, err := req.Query(ctx, q); err != nil {
		t.Fatalf("query before the delete: %v", err)
	}
	res := send(
		sign("del-bad", t0.Add(time.Minute), record.Delete, row), // a delete with the whole row
		sign("del-1", t0.Add(2*time.Minute), record.Delete, map[string]any{"resident_id": id}),
		sign("del-up-0", t0.Add(-time.Minute), record.Upsert, row), // older than the delete
		sign(id, t0.Add(3*time.Minute), record.Upsert, row),        // an identity number as record id
	)
	want := []string{"bad_delete", "", "stale", "bad_record_id"}
	for i, w := range want {
		if res[i].Code != w {
			t.Errorf("record %d: %s %s, want code %q", i, res[i].Status, res[i].Code, w)
		}
	}
	if _, err := req.Query(ctx, q); !connectors.IsCode(err, "not_found") {
		t.Fatalf("query after the delete: %v, want not_found", err)
	}
	if r := send(sign("del-up-2", t0.Add(4*time.Minute), record.Upsert, row)); r[0].Status != wire.Accepted {
		t.Fatalf("a newer upsert after the delete: %+v", r[0])
	}
	if a, err := req.Query(ctx, q); err != nil || a.Record.ID != "del-up-2" {
		t.Fatalf("query after re-publishing: %v %v", a, err)
	}
}
