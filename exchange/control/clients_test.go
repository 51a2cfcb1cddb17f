package control_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/keys"
)

// TestClientEvents: clients.add and clients.disable carry exactly their
// claims, well formed; the enrolled key is the jwk's, active, owned by
// the client.
func TestClientEvents(t *testing.T) {
	dir := keys.NewDirectory()
	officer := newKey(t, dir, "officer-a-auth#1", "officer-a", keys.UseAuth, keys.Active)
	reg := roles{"officer-a": "officer"}
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	jwkOf := func(kid string) json.RawMessage {
		b, err := keys.MarshalPublicJWK(kid, pub)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	privJWK, err := keys.MarshalPrivateJWK("school-meals-auth#1", ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	meals := &clients.Client{ID: "school-meals", Role: "consumer", Name: "School meals", Purposes: []string{"school_meals"}}
	add := control.Event{Issuer: "officer-a", Action: control.ActionClientsAdd, Proposal: "enrol-meals", Base: 3,
		Reason: "new procedure service", Client: meals, JWK: jwkOf("school-meals-auth#1")}
	with := func(f func(*control.Event)) control.Event { e := add; f(&e); return e }
	disable := control.Event{Issuer: "officer-a", Action: control.ActionClientsDisable, Proposal: "off", Base: 3, Reason: "incident", ClientID: "school-meals"}

	tests := []struct {
		name    string
		e       control.Event
		wantErr error
	}{
		{"add", add, nil},
		{"disable", disable, nil},
		{"add without client", with(func(e *control.Event) { e.Client = nil }), control.ErrBadEvent},
		{"add without jwk", with(func(e *control.Event) { e.JWK = nil }), control.ErrBadEvent},
		{"add with a private jwk", with(func(e *control.Event) { e.JWK = privJWK }), control.ErrBadEvent},
		{"add with another client's kid", with(func(e *control.Event) { e.JWK = jwkOf("school-enrolment-auth#9") }), control.ErrBadEvent},
		{"add with an unknown role", with(func(e *control.Event) { c := *meals; c.Role = "admin"; e.Client = &c }), control.ErrBadEvent},
		{"add with a bad id", with(func(e *control.Event) { c := *meals; c.ID = "School Meals"; e.Client = &c }), control.ErrBadEvent},
		{"add with an identity number in the name", with(func(e *control.Event) { c := *meals; c.Name = "330106202003080153"; e.Client = &c }), control.ErrBadEvent},
		{"add with a policy", with(func(e *control.Event) { e.Policy = "kind: AccessPolicy" }), control.ErrBadEvent},
		{"add with client_id", with(func(e *control.Event) { e.ClientID = "school-meals" }), control.ErrBadEvent},
		{"publisher with a record key", with(func(e *control.Event) {
			c := *meals
			c.Role = "publisher"
			e.Client, e.RecordJWK = &c, jwkOf("school-meals-record#1")
		}), nil},
		{"consumer with a record key", with(func(e *control.Event) { e.RecordJWK = jwkOf("school-meals-record#1") }), control.ErrBadEvent},
		{"record key under the auth kid", with(func(e *control.Event) {
			c := *meals
			c.Role = "publisher"
			e.Client, e.RecordJWK = &c, jwkOf("school-meals-auth#1")
		}), control.ErrBadEvent},
		{"record key of another client", with(func(e *control.Event) {
			c := *meals
			c.Role = "publisher"
			e.Client, e.RecordJWK = &c, jwkOf("tax-bureau-record#1")
		}), control.ErrBadEvent},
		{"record key on a disable", control.Event{Issuer: "officer-a", Action: control.ActionClientsDisable, Proposal: "off", Reason: "r", ClientID: "x1", RecordJWK: jwkOf("x1-record#1")}, control.ErrBadEvent},
		{"disable without client_id", control.Event{Issuer: "officer-a", Action: control.ActionClientsDisable, Proposal: "off", Reason: "r"}, control.ErrBadEvent},
		{"disable with a client", func() control.Event { e := disable; e.Client = meals; return e }(), control.ErrBadEvent},
		{"approve with a client_id", control.Event{Issuer: "officer-a", Action: control.ActionApprove, Proposal: "p", Reason: "r", ClientID: "x1"}, control.ErrBadEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.e.ID, tc.e.IssuedAt = "jti-"+tc.e.Proposal, time.Unix(1764300000, 0).UTC()
			err := tc.e.Check()
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Check: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			v, err := control.Parse(sign(t, officer, tc.e), dir, reg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v.Event, tc.e) {
				t.Fatalf("round trip: %+v, want %+v", v.Event, tc.e)
			}
		})
	}

	ks, err := add.EnrolledKeys()
	if err != nil {
		t.Fatal(err)
	}
	want := []keys.PublicKey{{KID: "school-meals-auth#1", Owner: "school-meals", Use: keys.UseAuth, Key: pub, Status: keys.Active}}
	if !reflect.DeepEqual(ks, want) {
		t.Fatalf("EnrolledKeys: %+v, want %+v", ks, want)
	}
	pubAdd := add
	pubAdd.Client = &clients.Client{ID: "school-meals", Role: "publisher"}
	pubAdd.RecordJWK = jwkOf("school-meals-record#1")
	ks, err = pubAdd.EnrolledKeys()
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, keys.PublicKey{KID: "school-meals-record#1", Owner: "school-meals", Use: keys.UseRecord, Key: pub, Status: keys.Active})
	if !reflect.DeepEqual(ks, want) {
		t.Fatalf("EnrolledKeys of a publisher: %+v, want %+v", ks, want)
	}
	if _, err := disable.EnrolledKeys(); !errors.Is(err, control.ErrBadEvent) {
		t.Fatalf("EnrolledKeys of a disable: %v, want ErrBadEvent", err)
	}
}

// TestSchemaEvents: schemas.propose carries the schema file and nothing
// of another action.
func TestSchemaEvents(t *testing.T) {
	dir := keys.NewDirectory()
	officer := newKey(t, dir, "officer-a-auth#1", "officer-a", keys.UseAuth, keys.Active)
	schema := json.RawMessage(`{"$id":"https://onevisit.example/schemas/household/v2"}`)
	ok := control.Event{Issuer: "officer-a", Action: control.ActionSchemasPropose, Proposal: "household-v2", Base: 2, Reason: "phone numbers", Schema: schema}
	tests := []struct {
		name    string
		e       control.Event
		wantErr error
	}{
		{"propose", ok, nil},
		{"no schema", func() control.Event { e := ok; e.Schema = nil; return e }(), control.ErrBadEvent},
		{"schema not an object", func() control.Event { e := ok; e.Schema = json.RawMessage(`"household/v2"`); return e }(), control.ErrBadEvent},
		{"schema and a policy", func() control.Event { e := ok; e.Policy = "kind: AccessPolicy"; return e }(), control.ErrBadEvent},
		{"schema on a disable", control.Event{Issuer: "officer-a", Action: control.ActionClientsDisable, Proposal: "p", Reason: "r", ClientID: "x1", Schema: schema}, control.ErrBadEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.e.ID, tc.e.IssuedAt = "jti-1", time.Unix(1764300000, 0).UTC()
			err := tc.e.Check()
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Check: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			v, err := control.Parse(sign(t, officer, tc.e), dir, roles{"officer-a": "officer"})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v.Event, tc.e) {
				t.Fatalf("round trip: %+v, want %+v", v.Event, tc.e)
			}
		})
	}
}

// TestClientClaimStrict: the client claim of a hand-built, validly signed
// clients.add is decoded strictly: an unknown or repeated member is
// refused, not ignored.
func TestClientClaimStrict(t *testing.T) {
	dir := keys.NewDirectory()
	officer := newKey(t, dir, "officer-a-auth#1", "officer-a", keys.UseAuth, keys.Active)
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	jwk, err := keys.MarshalPublicJWK("meals-auth#1", pub)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	hand := func(client string) string {
		h := `{"alg":"EdDSA","typ":"onevisit-control+jwt","kid":"officer-a-auth#1"}`
		c := `{"iss":"officer-a","jti":"j1","iat":1764300000,"action":"clients.add","proposal":"p","base":1,"reason":"r","client":` + client + `,"jwk":` + string(jwk) + `}`
		in := b64([]byte(h)) + "." + b64([]byte(c))
		return in + "." + b64(ed25519.Sign(officer.priv, []byte(in)))
	}
	for _, tc := range []struct {
		name, client string
		wantErr      error
	}{
		{"well formed", `{"client_id":"meals","role":"consumer"}`, nil},
		{"unknown member", `{"client_id":"meals","role":"consumer","admin":true}`, control.ErrBadEvent},
		{"repeated member", `{"client_id":"meals","role":"consumer","role":"officer"}`, control.ErrBadEvent},
		{"case-variant member", `{"client_id":"meals","role":"consumer","Role":"officer"}`, control.ErrBadEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := control.Parse(hand(tc.client), dir, roles{"officer-a": "officer"})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Parse: %v, want %v", err, tc.wantErr)
			}
			if err == nil && (v.Client == nil || !reflect.DeepEqual(*v.Client, clients.Client{ID: "meals", Role: "consumer"})) {
				t.Fatalf("client %+v", v.Client)
			}
		})
	}
}
