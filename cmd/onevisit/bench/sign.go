package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
)

// SignFigure is the signing rate of one signer at one batch size.
type SignFigure struct {
	Signer    string
	Batch     int
	PerSecond float64
}

// SignRates signs household records for d per batch size through each
// signer (record.SignMany: one BatchSigner call per batch) and returns
// records signed per second. The file signer is measured beside the
// others in the same run.
func SignRates(ctx context.Context, signers map[string]keys.Signer, batches []int, d time.Duration) ([]SignFigure, error) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	all := map[string]keys.Signer{"file": keys.NewLocalSigner("bench-record#1", priv)}
	for k, v := range signers {
		all[k] = v
	}
	subjects := Subjects(256)
	var out []SignFigure
	for _, name := range sortedKeys(all) {
		s := all[name]
		for _, b := range batches {
			n := 0
			start := time.Now()
			for time.Since(start) < d {
				items := make([]record.Unsigned, b)
				for i := range items {
					f := householdFields(subjects[(n+i)%len(subjects)], n+i)
					items[i] = record.Unsigned{Claims: record.Claims{Issuer: "public-security", Dataset: "household", Schema: "household/v1", ID: fmt.Sprintf("sign-%d", n+i), IssuedAt: time.Now(), Op: record.Upsert}, Fields: f}
				}
				_, errs, err := record.SignMany(ctx, s, items)
				if err != nil {
					return out, fmt.Errorf("sign through %s, batch %d: %w", name, b, err)
				}
				for _, e := range errs {
					if e != nil {
						return out, fmt.Errorf("sign through %s, batch %d: %w", name, b, e)
					}
				}
				n += b
			}
			out = append(out, SignFigure{Signer: name, Batch: b, PerSecond: float64(n) / time.Since(start).Seconds()})
		}
	}
	return out, nil
}

func sortedKeys(m map[string]keys.Signer) []string {
	return slices.Sorted(maps.Keys(m))
}
