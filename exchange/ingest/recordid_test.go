package ingest_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/wire"
)

// TestRecordIDCarriesNoIdentity: a record id that is, or only contains,
// an identity number or credit code is rejected as bad_record_id, and the
// id is echoed nowhere: not in the result, the dead letter's key or body,
// nor the audit entry.
func TestRecordIDCarriesNoIdentity(t *testing.T) {
	c := newCluster(t)
	p, _ := c.pipeline(t, nil, nil)
	subjects := residentIDs(t)
	tests := []struct {
		name, id string
		want     wire.Status
		wantCode string
	}{
		{"plain id", "HH-2026-000001", wire.Accepted, ""},
		{"resident id", "330106198503120415", wire.Rejected, "bad_record_id"},
		{"resident id, wrong check digit", "330106198503120410", wire.Rejected, "bad_record_id"},
		{"resident id, lowercase x", "11010519491231002x", wire.Rejected, "bad_record_id"},
		{"id: prefix", "id:330106198503120415", wire.Rejected, "bad_record_id"},
		{"inside a token", "hh.330106198503120415.v2", wire.Rejected, "bad_record_id"},
		{"credit code", "91330100MA2H1K3L0B", wire.Rejected, "bad_record_id"},
		{"credit code inside", "co:91330100MA2H1K3L0B", wire.Rejected, "bad_record_id"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := c.hh(t, "public-security", tt.id, now, subjects[i])
			res, err := p.Process(context.Background(), []ingest.Submission{{Raw: raw, Dataset: "household", Publisher: "public-security"}})
			if err != nil {
				t.Fatal(err)
			}
			want := wire.Result{Index: 0, Status: tt.want, Code: tt.wantCode}
			if tt.want == wire.Accepted {
				want.RecordID = tt.id
			} else {
				want.Message, want.RecordID = res[0].Message, ""
			}
			if res[0] != want {
				t.Fatalf("result %+v, want %+v", res[0], want)
			}
		})
	}
	for _, topic := range []string{c.cfg.Names.Rejected("household"), c.cfg.Names.Audit(), c.cfg.Names.Accepted("household")} {
		for _, m := range c.readTopic(t, topic) {
			for _, tt := range tests[1:] {
				for _, b := range [][]byte{m.Key, m.Value} {
					if bytes.Contains(b, []byte(tt.id)) {
						t.Errorf("%s offset %d carries the refused id of %q", topic, m.Offset, tt.name)
					}
				}
				for _, h := range m.Headers {
					if bytes.Contains(h.Value, []byte(tt.id)) {
						t.Errorf("%s offset %d header %s carries the refused id of %q", topic, m.Offset, h.Key, tt.name)
					}
				}
			}
		}
	}
}
