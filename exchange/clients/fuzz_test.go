package clients_test

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/keys"
)

// seedKey is a fixed key so the seed corpus is stable.
func seedKey(kid, owner string, use keys.Use) keys.PublicKey {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	return keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: priv.Public().(ed25519.PublicKey), Status: keys.Active,
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func fuzzSeeds(t *testing.T) map[string]string {
	good, err := clients.Marshal(
		[]clients.Client{{ID: "tax-bureau", Role: "publisher", Datasets: []string{"tax"}}, {ID: "school-enrolment", Role: "consumer", Purposes: []string{"school_enrolment"}}},
		[]keys.PublicKey{seedKey("tax-bureau-record#1", "tax-bureau", keys.UseRecord), seedKey("school-enrolment-auth#1", "school-enrolment", keys.UseAuth)})
	if err != nil {
		t.Fatal(err)
	}
	token, err := keys.MarshalJWKS([]keys.PublicKey{seedKey("tax-bureau-token#1", "tax-bureau", keys.UseToken)})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"good":          string(good),
		"no-keys":       `{"clients":[{"client_id":"tax-bureau","role":"publisher"}]}`,
		"token-key":     `{"clients":[{"client_id":"tax-bureau","role":"publisher"}],"keys":` + string(token) + `}`,
		"duplicate-key": `{"clients":[{"client_id":"tax-bureau","client_id":"evil","role":"publisher"}]}`,
		"case-variant":  `{"clients":[{"client_id":"tax-bureau","Client_ID":"evil","role":"publisher"}]}`,
		"unknown-field": `{"clients":[],"admins":[]}`,
		"bad-role":      `{"clients":[{"client_id":"tax-bureau","role":"root"}]}`,
		"keys-null":     `{"clients":[],"keys":null}`,
		"empty":         `{}`,
		"not-json":      `clients:`,
	}
}

func TestFuzzSeedCorpus(t *testing.T) {
	seeds := map[string][]byte{}
	for name, in := range fuzzSeeds(t) {
		seeds[name] = []byte(in)
	}
	testkit.SeedCorpus(t, "FuzzParse", seeds)
}

// normal makes empty lists nil: Marshal omits them, so "datasets":[]
// reads back as no list.
func normal(cs []clients.Client) []clients.Client {
	for i := range cs {
		if len(cs[i].Datasets) == 0 {
			cs[i].Datasets = nil
		}
		if len(cs[i].Purposes) == 0 {
			cs[i].Purposes = nil
		}
	}
	return cs
}

// FuzzParse: Parse never panics, fails only with ErrInvalid, and what it
// accepts survives Marshal and Parse again unchanged.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := clients.Parse(b)
		if err != nil {
			if !errors.Is(err, clients.ErrInvalid) || r != nil {
				t.Fatalf("Parse = %v, %v; want nil, ErrInvalid", r, err)
			}
			return
		}
		again, err := clients.Marshal(r.All(), r.PublicKeys())
		if err != nil {
			t.Fatalf("Marshal of a parsed registry: %v", err)
		}
		r2, err := clients.Parse(again)
		if err != nil {
			t.Fatalf("Parse of a marshalled registry: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(normal(r.All()), normal(r2.All())) || !reflect.DeepEqual(r.PublicKeys(), r2.PublicKeys()) {
			t.Fatalf("round trip changed the registry:\n%+v\n%+v", r.All(), r2.All())
		}
		for _, k := range r.PublicKeys() {
			if _, ok := r.Client(k.Owner); !ok {
				t.Fatalf("key %s of unregistered %s accepted", k.KID, k.Owner)
			}
			if k.Use != keys.UseAuth && k.Use != keys.UseRecord {
				t.Fatalf("key %s with use %s accepted", k.KID, k.Use)
			}
		}
	})
}
