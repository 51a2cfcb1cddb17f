package record

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// fuzzSeeds are the seed inputs of FuzzParse and FuzzVerify, written to
// testdata/fuzz by -update (salts are random, so the files are the
// reference, not this function).
func fuzzSeeds(t *testing.T) map[string]string {
	ctx := context.Background()
	s := keys.NewLocalSigner("tax-record#1", taxKey)
	full, err := Sign(ctx, s, testClaims, nineFields())
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Sign(ctx, s, testClaims, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	d1 := disc("c2FsdHNhbHRzYWx0c2FsdA", "name", `"张三"`)
	return map[string]string{
		"valid":             full,
		"no-fields":         empty,
		"projected":         rec.Project([]string{"name", "office"}),
		"no-trailing-tilde": strings.TrimSuffix(full, "~"),
		"alg-none":          craft(`{"alg":"none","kid":"tax-record#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), func([]byte) []byte { return nil }, d1),
		"wrong-issuer-key":  craft(`{"alg":"EdDSA","kid":"police-record#1","typ":"onevisit+sd-jwt"}`, payloadJSON(sdList(d1), ""), edSign(policeKey), d1),
		"duplicate-key":     craft(taxHeader, payloadJSON(sdList(d1), `,"ISS":"x"`), edSign(taxKey), d1),
		"array-element":     craft(taxHeader, payloadJSON(`["w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"]`, ""), edSign(taxKey), "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"),
		"rfc9901-example":   craft(taxHeader, payloadJSON(`["X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"]`, ""), edSign(taxKey), "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"),
		"garbage":           "~.~..~",
	}
}

// TestFuzzSeedCorpus writes the seed corpus with -update and otherwise
// checks it is there, so the fuzz targets run on it as tests.
func TestFuzzSeedCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	for _, target := range []string{"FuzzParse", "FuzzVerify"} {
		testkit.SeedCorpus(t, target, seeds)
	}
}

// FuzzParse: Parse never panics, and what it accepts round-trips through
// Project without loss.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		rec, err := Parse(in)
		if err != nil {
			if rec != nil {
				t.Fatal("record with error")
			}
			return
		}
		names := make([]string, 0, len(rec.Disclosures))
		for _, d := range rec.Disclosures {
			names = append(names, d.Name)
		}
		again, err := Parse(rec.Project(names))
		if err != nil {
			t.Fatalf("projection of an accepted record rejected: %v", err)
		}
		if !reflect.DeepEqual(again.Fields(), rec.Fields()) || again.Claims != rec.Claims {
			t.Fatal("projection changed the record")
		}
	})
}

// FuzzVerify: Verify never panics, returns exactly one of a record or a
// known error, and agrees with Parse on what it accepts.
func FuzzVerify(f *testing.F) {
	d := testDirectory(f)
	known := []error{ErrMalformed, ErrTooLarge, ErrBadSignature, ErrAlgorithm, ErrType, ErrUnknownKey,
		ErrWrongIssuerKey, ErrBadDisclosure, ErrDuplicateDisclosure, ErrMissingClaim, ErrNotValidNow, keys.ErrRevoked}
	f.Fuzz(func(t *testing.T, in string) {
		rec, err := Verify(in, d)
		if err != nil {
			if rec != nil {
				t.Fatal("record with error")
			}
			for _, k := range known {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("error outside the documented set: %v", err)
		}
		p, perr := Parse(in)
		if perr != nil {
			t.Fatalf("Verify accepts what Parse rejects: %v", perr)
		}
		if p.Claims != rec.Claims || fmt.Sprint(p.Fields()) != fmt.Sprint(rec.Fields()) {
			t.Fatal("Verify and Parse disagree")
		}
	})
}
