package keys

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// eventSeeds are valid and hostile key events (deterministic keys and
// ids, so the written corpus is stable).
func eventSeeds(t *testing.T) map[string]string {
	t.Helper()
	_, good := eventFixture(t)
	ctx := context.Background()
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	ev := Event{ID: "00ff", IssuedAt: at, Node: "node-1", Actor: "security-officer", Reason: "r", Change: ChangeRegistered, Key: clientKey("tax-bureau-record#2", 20, Active)}
	valid, err := SignEvent(ctx, good, ev)
	if err != nil {
		t.Fatal(err)
	}
	rev := ev
	rev.Change, rev.Key = ChangeRevoked, clientKey("tax-bureau-record#2", 20, Revoked)
	revocation, err := SignEvent(ctx, good, rev)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := SignEvent(ctx, NewLocalSigner("exchange-audit#1", seedKey(99)), ev)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := MarshalJWKS([]PublicKey{ev.Key})
	if err != nil {
		t.Fatal(err)
	}
	b := base64.RawURLEncoding
	return map[string]string{
		"valid":        valid,
		"revocation":   revocation,
		"wrong-key":    wrong,
		"raw-jwks":     string(jwks),
		"alg-none":     b.EncodeToString([]byte(`{"alg":"none","typ":"onevisit-key-event+jwt"}`)) + "." + b.EncodeToString(jwks) + ".",
		"extra-header": b.EncodeToString([]byte(`{"alg":"EdDSA","kid":"exchange-audit#1","typ":"onevisit-key-event+jwt","jku":"http://x"}`)) + ".e30.AA",
		"garbage":      "..",
	}
}

func TestEventFuzzSeedCorpus(t *testing.T) {
	testkit.SeedCorpus(t, "FuzzParseEvent", eventSeeds(t))
}

// FuzzParseEvent: no input panics, and whatever ParseEvent accepts is a
// client key signed by an exchange audit key that is not revoked.
func FuzzParseEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, token string) {
		dir, _ := eventFixture(t)
		e, signer, err := ParseEvent(token, dir)
		if err != nil {
			if e.ID != "" || e.Key.KID != "" || signer.KID != "" {
				t.Fatalf("ParseEvent returned an event with error %v", err)
			}
			return
		}
		if signer.Owner != OwnerExchange || signer.Use != UseAudit || signer.Status == Revoked {
			t.Fatalf("accepted an event signed by %+v", signer)
		}
		if err := ClientKeyChange(e.Key); err != nil {
			t.Fatalf("accepted an event changing %q: %v", e.Key.KID, err)
		}
	})
}
