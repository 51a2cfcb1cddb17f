package vault

import (
	"context"
	"crypto/ed25519"
	"strconv"
	"testing"

	"github.com/onevisit/onevisit/exchange/keys"
)

// benchMessage is about the size of a record's JWS signing input.
var benchMessage = func() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

// BenchmarkTransitSign signs through the real server; batch=1 is Sign,
// larger batches one SignBatch call. It reports records/s.
func BenchmarkTransitSign(b *testing.B) {
	tv := needVault(b)
	s := startSigner(b, tv.rootConfig("exchange-audit", keys.UseAudit))
	ctx := context.Background()
	kid := s.KeyID()
	for _, n := range []int{1, 16, 64, 256} {
		msgs := make([][]byte, n)
		for i := range msgs {
			msgs[i] = benchMessage
		}
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if n == 1 {
					if _, err := s.Sign(ctx, kid, benchMessage); err != nil {
						b.Fatal(err)
					}
					continue
				}
				_, errs, err := s.SignBatch(ctx, kid, msgs)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range errs {
					if e != nil {
						b.Fatal(e)
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkLocalEd25519Sign is the same message signed in process, for
// comparison with BenchmarkTransitSign.
func BenchmarkLocalEd25519Sign(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	for b.Loop() {
		_ = ed25519.Sign(priv, benchMessage)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
