package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/wire"
)

// caseDatasets are what the benchmark's newborn-registration bundle
// reads: five items (the child's birth certificate, both parents'
// households and marriages).
var caseDatasets = []string{"household", "birth", "marriage"}

// CaseItems is the number of evidence items of the benchmark's bundle.
const CaseItems = 5

// caseLoad publishes the sample records the newborn-registration bundle
// needs, then asks for the bundle of the sample child at a fixed
// concurrency for o.Duration: bundles per second and p50/p99 latency as
// the client sees it, every item's audit entry and the case's written
// before the answer. A bundle that is not complete with CaseItems items
// counts as an error.
func caseLoad(ctx context.Context, env *dev.Env, o Options) (perSec float64, p50, p99 time.Duration, errCount int64, err error) {
	want := env.Node.View().Len()
	n, err := env.PublishSampleDatasets(ctx, caseDatasets...)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	want += n
	deadline := time.Now().Add(time.Minute)
	for env.Node.View().Len() < want {
		if time.Now().After(deadline) {
			return 0, 0, 0, 0, fmt.Errorf("bench: the case samples did not reach the view")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := env.Client("newborn-registration")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	subjects := map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID, "mother": samples.MotherResidentID}
	return closedLoop(ctx, o.CaseConcurrency, o.Duration, "case", func(i int) *http.Request {
		body, _ := json.Marshal(wire.CaseRequest{Procedure: "newborn_registration", CaseID: fmt.Sprintf("NB-2026-%06d", i), Subjects: subjects})
		req, _ := http.NewRequestWithContext(ctx, "POST", env.BaseURL+"/v1/cases", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	}, func(resp *http.Response) error {
		var a wire.CaseAnswer
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode != 200:
			return fmt.Errorf("status %d", resp.StatusCode)
		case json.Unmarshal(b, &a) != nil || !a.Complete || len(a.Items) != CaseItems:
			return fmt.Errorf("incomplete bundle")
		}
		return nil
	})
}
