package view_test

import (
	"fmt"
	"testing"

	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
)

// BenchmarkApplyGet measures one Apply of a new subject and one Get of a
// held one, in memory and on disk (go test -bench ApplyGet ./exchange/view/).
func BenchmarkApplyGet(b *testing.B) {
	p := newPublisher(b)
	base := p.entry(b, "r", 100, record.Upsert)
	for _, k := range []string{"memory", "disk"} {
		b.Run(k, func(b *testing.B) {
			var v *view.View
			if k == "memory" {
				v = view.New(1 << 20)
			} else {
				var err error
				if v, err = view.Open(b.TempDir(), testKey, view.Options{}); err != nil {
					b.Fatal(err)
				}
				defer v.Close()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := *base
				e.ID = fmt.Sprint("r", i)
				s := fmt.Sprint("subject-", i)
				v.Apply(s, e.At(int64(i)))
				if _, ok := v.Get(dataset, s); !ok {
					b.Fatal("not held")
				}
			}
		})
	}
}
