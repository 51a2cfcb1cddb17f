package keys

import (
	"context"
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// eventFixture is a directory with the exchange's audit key (v1 active,
// v2 revoked), a token key and a client's record key.
func eventFixture(t *testing.T) (*Directory, Signer) {
	t.Helper()
	d := NewDirectory()
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, k := range []PublicKey{
		{KID: "exchange-audit#1", Owner: OwnerExchange, Use: UseAudit, Key: seedKey(10).Public().(ed25519.PublicKey), Status: Active, Created: created},
		{KID: "exchange-audit#2", Owner: OwnerExchange, Use: UseAudit, Key: seedKey(11).Public().(ed25519.PublicKey), Status: Revoked, Created: created, RevokedAt: created.Add(time.Hour)},
		{KID: "exchange-token#1", Owner: OwnerExchange, Use: UseToken, Key: seedKey(12).Public().(ed25519.PublicKey), Status: Active, Created: created},
		{KID: "tax-bureau-record#1", Owner: "tax-bureau", Use: UseRecord, Key: seedKey(13).Public().(ed25519.PublicKey), Status: Active, Created: created},
		{KID: "tax-bureau-audit#1", Owner: "tax-bureau", Use: UseAudit, Key: seedKey(14).Public().(ed25519.PublicKey), Status: Active, Created: created},
	} {
		if err := d.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	return d, NewLocalSigner("exchange-audit#1", seedKey(10))
}

func clientKey(kid string, b byte, status Status) PublicKey {
	k := PublicKey{KID: kid, Owner: "tax-bureau", Use: UseRecord, Key: seedKey(b).Public().(ed25519.PublicKey), Status: status, Created: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	if status == Revoked {
		k.RevokedAt = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	return k
}

func TestEventRoundTrip(t *testing.T) {
	dir, s := eventFixture(t)
	ctx := context.Background()
	want := Event{ID: "00ff", IssuedAt: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC), Node: "node-1", Actor: "security-officer",
		Reason: "annual rotation", Change: ChangeRegistered, Key: clientKey("tax-bureau-record#2", 20, Active)}
	tok, err := SignEvent(ctx, s, want)
	if err != nil {
		t.Fatal(err)
	}
	got, signer, err := ParseEvent(tok, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || signer.KID != "exchange-audit#1" {
		t.Fatalf("ParseEvent = %+v by %s\nwant %+v by exchange-audit#1", got, signer.KID, want)
	}
}

func TestParseEventRefuses(t *testing.T) {
	dir, good := eventFixture(t)
	ctx := context.Background()
	base := Event{Node: "node-1", Actor: "security-officer", Reason: "r", Change: ChangeRegistered, Key: clientKey("tax-bureau-record#2", 20, Active)}
	sign := func(s Signer, e Event) string {
		t.Helper()
		c := eventClaims{Node: e.Node, Actor: e.Actor, Reason: e.Reason, Change: e.Change}
		c.Issuer, c.ID = EventIssuer, "01"
		c.IssuedAt = nil
		if !e.IssuedAt.IsZero() {
			c.IssuedAt = newDate(e.IssuedAt)
		}
		c.JWKS, _ = MarshalJWKS([]PublicKey{e.Key})
		tok, err := SignJWT(ctx, s, EventType, &c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	withKey := func(k PublicKey) Event { e := base; e.Key, e.IssuedAt = k, now; return e }
	exchangeKey := PublicKey{KID: "exchange-token#9", Owner: OwnerExchange, Use: UseToken, Key: seedKey(30).Public().(ed25519.PublicKey), Status: Active}
	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"not a JWS", `{"keys":[]}`, ErrMalformedJWT},
		{"signed by a client's audit-use key", sign(NewLocalSigner("tax-bureau-audit#1", seedKey(14)), withKey(base.Key)), ErrUnknownKey},
		{"signed by the token key", sign(NewLocalSigner("exchange-token#1", seedKey(12)), withKey(base.Key)), ErrWrongUse},
		{"signed by a revoked audit version", sign(NewLocalSigner("exchange-audit#2", seedKey(11)), withKey(base.Key)), ErrRevoked},
		{"wrong key under the audit kid", sign(NewLocalSigner("exchange-audit#1", seedKey(99)), withKey(base.Key)), ErrBadSignature},
		{"unknown kid", sign(NewLocalSigner("exchange-audit#7", seedKey(10)), withKey(base.Key)), ErrUnknownKey},
		{"no iat", sign(good, base), ErrBadEvent},
		{"exchange key", sign(good, withKey(exchangeKey)), ErrExchangeKey},
		{"client kid under the exchange's name", sign(good, withKey(PublicKey{KID: "exchange-x#1", Owner: "tax-bureau", Use: UseRecord, Key: exchangeKey.Key, Status: Active})), ErrExchangeKey},
		{"kid of another owner", sign(good, withKey(PublicKey{KID: "school-auth#1", Owner: "tax-bureau", Use: UseAuth, Key: exchangeKey.Key, Status: Active})), ErrBadEvent},
		{"control character in kid", sign(good, withKey(PublicKey{KID: "tax-bureau-record\n#3", Owner: "tax-bureau", Use: UseRecord, Key: exchangeKey.Key, Status: Active})), ErrBadKID},
		{"revocation that does not revoke", sign(good, func() Event { e := withKey(base.Key); e.Change = ChangeRevoked; return e }()), ErrBadEvent},
		{"unknown change", sign(good, func() Event { e := withKey(base.Key); e.Change = "key_deleted"; return e }()), ErrBadEvent},
		{"no actor", sign(good, func() Event { e := withKey(base.Key); e.Actor = ""; return e }()), ErrBadEvent},
		{"oversized", strings.Repeat("a", MaxEventSize+1), ErrBadEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _, err := ParseEvent(tc.token, dir)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseEvent = %+v, %v; want %v", e, err, tc.wantErr)
			}
		})
	}
	// SignEvent refuses what ParseEvent would refuse.
	if _, err := SignEvent(ctx, good, withKey(exchangeKey)); !errors.Is(err, ErrExchangeKey) {
		t.Fatalf("SignEvent of an exchange key = %v, want ErrExchangeKey", err)
	}
}

func TestDirectoryApplyOnlyForward(t *testing.T) {
	d := NewDirectory()
	active := clientKey("tax-bureau-record#2", 20, Active)
	retired := clientKey("tax-bureau-record#2", 20, Retired)
	revoked := clientKey("tax-bureau-record#2", 20, Revoked)
	later := revoked
	later.RevokedAt = revoked.RevokedAt.Add(time.Hour)
	other := clientKey("tax-bureau-record#2", 21, Active)
	steps := []struct {
		name        string
		k           PublicKey
		wantChanged bool
		wantErr     error
		wantStatus  Status
	}{
		{"new version", active, true, nil, Active},
		{"same again", active, false, nil, Active},
		{"other key material", other, false, ErrKeyConflict, Active},
		{"retire", retired, true, nil, Retired},
		{"back to active", active, false, ErrStatusBackwards, Retired},
		{"revoke", revoked, true, nil, Revoked},
		{"revocation replayed", revoked, false, nil, Revoked},
		{"revocation time moved", later, false, ErrStatusBackwards, Revoked},
		{"retire a revoked version", retired, false, ErrStatusBackwards, Revoked},
		{"register a revoked version again", active, false, ErrStatusBackwards, Revoked},
	}
	for _, st := range steps {
		changed, err := d.Apply(st.k)
		if changed != st.wantChanged || !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: Apply = %v, %v; want %v, %v", st.name, changed, err, st.wantChanged, st.wantErr)
		}
		got, _ := d.PublicKey(st.k.KID)
		if got.Status != st.wantStatus {
			t.Fatalf("%s: status %s, want %s", st.name, got.Status, st.wantStatus)
		}
	}
}

func TestValidKID(t *testing.T) {
	tests := []struct {
		kid     string
		wantErr error
	}{
		{"public-security-record#12", nil},
		{"Tax_Bureau.auth-2#1", nil},
		{"no-version", ErrBadKID},
		{"x#0", ErrBadKID},
		{"x#01", ErrBadKID},
		{"x#1#2", ErrBadKID},
		{"#1", ErrBadKID},
		{"x y#1", ErrBadKID},
		{"x\t#1", ErrBadKID},
		{"x\u200b#1", ErrBadKID},
		{"x\u202e#1", ErrBadKID},
		{strings.Repeat("a", 127) + "#1", ErrBadKID},
	}
	for _, tc := range tests {
		if err := ValidKID(tc.kid); !errors.Is(err, tc.wantErr) {
			t.Errorf("ValidKID(%q) = %v, want %v", tc.kid, err, tc.wantErr)
		}
	}
}

func newDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }
