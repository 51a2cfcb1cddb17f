package cli_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/connectors/samples"
)

// TestConnectorSubscribe runs `onevisit connector subscribe --count 1` as
// the pension service against an in-process dev exchange after civil
// affairs published a death: it prints one JSON line, the verified
// delivery with exactly the pension subscription's fields.
func TestConnectorSubscribe(t *testing.T) {
	ctx, env, creds := startDevExchange(t)
	p, done, err := env.Publisher("civil-affairs", "death", "kafka")
	if err != nil {
		t.Fatal(err)
	}
	items, err := env.SampleItems("death")
	if err != nil {
		t.Fatal(err)
	}
	ids, _, err := p.Publish(ctx, items)
	done()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, ctx, "connector", "subscribe", "--credentials", creds("pension-service"), "--count", "1")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(lines), out)
	}
	var got struct {
		ID           string         `json:"delivery_id"`
		Subscription string         `json:"subscription"`
		Dataset      string         `json:"dataset"`
		Purpose      string         `json:"purpose"`
		RecordID     string         `json:"record_id"`
		Issuer       string         `json:"issuer"`
		Data         map[string]any `json:"data"`
		Record       string         `json:"record"`
		Receipt      struct {
			ID     string   `json:"jti"`
			Sub    string   `json:"sub"`
			Fields []string `json:"fields"`
		} `json:"receipt"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	row := items[0].Fields
	want := map[string]any{"resident_id": samples.DeceasedResidentID, "name": row["name"], "death_date": row["death_date"], "certificate_no": row["certificate_no"]}
	if got.Subscription != "pension-service-death" || got.Dataset != "death" || got.Purpose != "pension_termination" ||
		got.RecordID != ids[0] || got.Issuer != "civil-affairs" || got.Record == "" || got.Receipt.ID != got.ID || got.Receipt.Sub != "pension-service" ||
		!slices.Equal(got.Receipt.Fields, []string{"certificate_no", "death_date", "name", "resident_id"}) || len(got.Data) != len(want) {
		t.Errorf("printed %s", lines[0])
	}
	for k, v := range want {
		if got.Data[k] != v {
			t.Errorf("data %s = %v, want %v", k, got.Data[k], v)
		}
	}
}
