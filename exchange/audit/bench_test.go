package audit

import (
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	entries := sampleEntries(1024)
	l := NewLog()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Append(entries[i%len(entries)])
	}
}

func BenchmarkInclusionProof(b *testing.B) {
	const size = 1 << 16
	l := buildLog(sampleEntries(size))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := l.InclusionProof(uint64(i*7919)%size, size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	const size = 1 << 16
	entries := sampleEntries(size)
	l := buildLog(entries)
	root := mustRoot(b, l, size)
	p, err := l.InclusionProof(12345, size)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyInclusion(entries[12345], 12345, size, p, root); err != nil {
			b.Fatal(err)
		}
	}
}
