package ingest_test

import (
	"context"
	"testing"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
)

// TestSubjectBindingRequired: ingest accepts a record only when its signed
// sub_field names the dataset's subject field (the binding a requester
// checks); a record without one, or naming another field, is rejected
// with no_subject_binding, and the rest of the batch goes on.
func TestSubjectBindingRequired(t *testing.T) {
	c := newCluster(t)
	p, _ := c.pipeline(t, nil, nil)
	ctx := context.Background()
	sign := func(id, subField string) string {
		r, err := record.Sign(ctx, c.signers["public-security"], record.Claims{
			Issuer: "public-security", Dataset: "household", Schema: "household/v1", ID: id, IssuedAt: now, Op: record.Upsert, SubjectField: subField,
		}, household(t, samples.ChildResidentID))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name     string
		raw      string
		want     wire.Status
		wantCode string
	}{
		{"no sub_field", sign("bind-1", ""), wire.Rejected, wire.Of(record.ErrNoSubjectBinding).Name},
		{"sub_field names another field", sign("bind-2", "name"), wire.Rejected, "no_subject_binding"},
		{"bound to the subject field", sign("bind-3", "resident_id"), wire.Accepted, ""},
	}
	subs := make([]ingest.Submission, len(tests))
	for i, tt := range tests {
		subs[i] = ingest.Submission{Raw: tt.raw, Dataset: "household"}
	}
	results, err := p.Process(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := results[i]; r.Status != tt.want || r.Code != tt.wantCode {
				t.Fatalf("result = %+v, want %s %q", r, tt.want, tt.wantCode)
			}
		})
	}
}
