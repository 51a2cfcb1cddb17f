package control_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/wire"
)

type roles map[string]string

func (r roles) Role(id string) (string, bool) { v, ok := r[id]; return v, ok }

type key struct {
	kid  string
	priv ed25519.PrivateKey
}

func newKey(t *testing.T, dir *keys.Directory, kid, owner string, use keys.Use, status keys.Status) key {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: status}
	if status == keys.Revoked {
		k.RevokedAt = time.Now().Add(-time.Hour)
	}
	if err := dir.Add(k); err != nil {
		t.Fatal(err)
	}
	return key{kid, priv}
}

func sign(t *testing.T, k key, e control.Event) string {
	t.Helper()
	tok, err := control.Sign(context.Background(), keys.NewLocalSigner(k.kid, k.priv), e)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestParse(t *testing.T) {
	dir := keys.NewDirectory()
	officer := newKey(t, dir, "officer-a-auth#1", "officer-a", keys.UseAuth, keys.Active)
	retired := newKey(t, dir, "officer-a-auth#0", "officer-a", keys.UseAuth, keys.Retired)
	revoked := newKey(t, dir, "officer-b-auth#1", "officer-b", keys.UseAuth, keys.Revoked)
	consumer := newKey(t, dir, "school-auth#1", "school", keys.UseAuth, keys.Active)
	record := newKey(t, dir, "officer-a-record#1", "officer-a", keys.UseRecord, keys.Active)
	audit := newKey(t, dir, "exchange-audit#1", keys.OwnerExchange, keys.UseAudit, keys.Active)
	reg := roles{"officer-a": "officer", "officer-b": "officer", "school": "consumer"}
	now := time.Now()
	propose := control.Event{Issuer: "officer-a", Action: control.ActionPropose, Proposal: "p-1", Base: 1, Reason: "why", Policy: "kind: AccessPolicy"}
	with := func(f func(*control.Event)) control.Event { e := propose; f(&e); return e }
	seed := control.Event{Issuer: control.SeedIssuer, Action: control.ActionSeed, Reason: "files", Policy: "kind: AccessPolicy"}
	b64 := base64.RawURLEncoding.EncodeToString
	handBy := func(k key, header, claims any) string {
		h, _ := json.Marshal(header)
		c, _ := json.Marshal(claims)
		in := b64(h) + "." + b64(c)
		return in + "." + b64(ed25519.Sign(k.priv, []byte(in)))
	}
	hand := func(header, claims any) string { return handBy(officer, header, claims) }
	claims := map[string]any{"iss": "officer-a", "jti": "j1", "iat": now.Unix(), "action": "policy.approve", "proposal": "p-1", "base": 1, "reason": "ok"}

	tests := []struct {
		name      string
		token     string
		wantErr   error
		wantFresh error
	}{
		{"officer proposes", sign(t, officer, propose), nil, nil},
		{"officer approves", sign(t, officer, control.Event{Issuer: "officer-a", Action: control.ActionApprove, Proposal: "p-1", Base: 1, Reason: "ok"}), nil, nil},
		{"hand-built approval", hand(map[string]any{"alg": "EdDSA", "typ": control.EventType, "kid": officer.kid}, claims), nil, nil},
		{"retired key verifies, but is not fresh", sign(t, retired, propose), nil, control.ErrBadEvent},
		{"old iat verifies, but is not fresh", sign(t, officer, with(func(e *control.Event) { e.IssuedAt = now.Add(-time.Hour) })), nil, control.ErrBadEvent},
		{"seed by the exchange's audit key", sign(t, audit, seed), nil, nil},
		{"alg none", strings.Join(strings.Split(hand(map[string]any{"alg": "none", "typ": control.EventType, "kid": officer.kid}, claims), ".")[:2], ".") + ".", control.ErrBadEvent, nil},
		{"wrong typ", hand(map[string]any{"alg": "EdDSA", "typ": "onevisit-key-event+jwt", "kid": officer.kid}, claims), control.ErrBadEvent, nil},
		{"revoked key", sign(t, revoked, with(func(e *control.Event) { e.Issuer = "officer-b" })), control.ErrBadEvent, nil},
		{"consumer signs as itself", sign(t, consumer, with(func(e *control.Event) { e.Issuer = "school" })), control.ErrBadEvent, nil},
		{"consumer key claims the officer", sign(t, consumer, propose), control.ErrBadEvent, nil},
		{"officer's record key", sign(t, record, propose), control.ErrBadEvent, nil},
		{"seed by an officer", hand(map[string]any{"alg": "EdDSA", "typ": control.EventType, "kid": officer.kid},
			map[string]any{"iss": "onevisit", "jti": "s1", "iat": now.Unix(), "action": "policy.seed", "reason": "files", "policy": "x"}), control.ErrBadEvent, nil},
		{"exchange key signs a proposal", handBy(audit, map[string]any{"alg": "EdDSA", "typ": control.EventType, "kid": audit.kid},
			map[string]any{"iss": "onevisit", "jti": "s2", "iat": now.Unix(), "action": "policy.propose", "proposal": "p", "reason": "r", "policy": "x"}), control.ErrBadEvent, nil},
		{"exchange key claims an officer", handBy(audit, map[string]any{"alg": "EdDSA", "typ": control.EventType, "kid": audit.kid}, claims), control.ErrBadEvent, nil},
		{"unknown action", hand(map[string]any{"alg": "EdDSA", "typ": control.EventType, "kid": officer.kid}, map[string]any{"iss": "officer-a", "jti": "j2", "iat": now.Unix(), "action": "clients.remove", "proposal": "p", "reason": "r"}), control.ErrBadEvent, nil},
		{"no reason", hand(map[string]any{"alg": "EdDSA", "typ": control.EventType, "kid": officer.kid}, map[string]any{"iss": "officer-a", "jti": "j3", "iat": now.Unix(), "action": "policy.approve", "proposal": "p"}), control.ErrBadEvent, nil},
		{"identity number in the reason", hand(map[string]any{"alg": "EdDSA", "typ": control.EventType, "kid": officer.kid}, map[string]any{"iss": "officer-a", "jti": "j4", "iat": now.Unix(), "action": "policy.approve", "proposal": "p", "reason": "citizen 330106202003080153"}), control.ErrBadEvent, nil},
		{"garbage", "not.a.jws", control.ErrBadEvent, nil},
		{"oversized", strings.Repeat("a", control.MaxEventSize+1), control.ErrBadEvent, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := control.Parse(tc.token, dir, reg)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Parse: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if err := v.Fresh(now); !errors.Is(err, tc.wantFresh) || (tc.wantFresh == nil) != (err == nil) {
				t.Fatalf("Fresh: %v, want %v", err, tc.wantFresh)
			}
		})
	}
}

func TestSignParseRoundTrip(t *testing.T) {
	dir := keys.NewDirectory()
	k := newKey(t, dir, "officer-a-auth#1", "officer-a", keys.UseAuth, keys.Active)
	in := control.Event{Issuer: "officer-a", ID: "jti-1", IssuedAt: time.Unix(1764300000, 0).UTC(), Action: control.ActionRollback,
		Proposal: "undo", Base: 7, Reason: "incident closed", RollbackTo: 3}
	v, err := control.Parse(sign(t, k, in), dir, roles{"officer-a": "officer"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Event, in) || v.Key.KID != k.kid {
		t.Fatalf("round trip: %+v signed by %s, want %+v", v.Event, v.Key.KID, in)
	}
}

func TestSignRefusesWhatParseRefuses(t *testing.T) {
	k := key{"officer-a-auth#1", ed25519.NewKeyFromSeed(make([]byte, 32))}
	for name, e := range map[string]control.Event{
		"no reason":          {Issuer: "officer-a", Action: control.ActionApprove, Proposal: "p"},
		"propose, no policy": {Issuer: "officer-a", Action: control.ActionPropose, Proposal: "p", Reason: "r"},
		"rollback to 0":      {Issuer: "officer-a", Action: control.ActionRollback, Proposal: "p", Reason: "r"},
		"approve with a set": {Issuer: "officer-a", Action: control.ActionApprove, Proposal: "p", Reason: "r", Policy: "x"},
		"bad proposal id":    {Issuer: "officer-a", Action: control.ActionApprove, Proposal: "p 1", Reason: "r"},
		"control character":  {Issuer: "officer-a", Action: control.ActionApprove, Proposal: "p", Reason: "a\nb"},
	} {
		if _, err := control.Sign(context.Background(), keys.NewLocalSigner(k.kid, k.priv), e); !errors.Is(err, control.ErrBadEvent) {
			t.Errorf("%s: Sign: %v, want ErrBadEvent", name, err)
		}
	}
}

func TestSentinelCodes(t *testing.T) {
	for want, err := range map[string]error{
		"bad_event": control.ErrBadEvent, "self_approval": control.ErrSelfApproval, "already_approved": control.ErrAlreadyApproved,
		"stale_base": control.ErrStaleBase, "needs_approval": control.ErrNeedsApproval, "unknown_proposal": control.ErrUnknownProposal,
		"client_exists": control.ErrClientExists, "unknown_client": control.ErrUnknownClient,
	} {
		c := wire.Of(fmt.Errorf("wrapped: %w", err))
		if c.Name != want {
			t.Errorf("%v has code %q, want %q", err, c.Name, want)
		}
		if _, ok := wire.Lookup(want); !ok {
			t.Errorf("code %q is not in the catalogue", want)
		}
	}
}
