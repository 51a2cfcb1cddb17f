package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/wire"
)

// caseDatasets are what the benchmark's newborn-registration bundle reads,
// with their publishers: five items (the child's birth certificate, both
// parents' households and marriages).
var caseDatasets = []struct{ dataset, publisher string }{
	{"household", "public-security"}, {"birth", "hospital"}, {"marriage", "civil-affairs"},
}

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
	for _, d := range caseDatasets {
		items, err := env.SampleItems(d.dataset)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		p, closeFn, err := env.Publisher(d.publisher, d.dataset, "kafka")
		if err != nil {
			return 0, 0, 0, 0, err
		}
		_, _, err = p.Publish(ctx, items)
		closeFn()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		want += len(items)
	}
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
	conc := o.CaseConcurrency
	tr := &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc * 2}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	subjects := map[string]string{"child": samples.ChildResidentID, "father": samples.GuardianResidentID, "mother": samples.MotherResidentID}
	var errs atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	warm := time.Now().Add(500 * time.Millisecond)
	stop := warm.Add(o.Duration)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(stop) && ctx.Err() == nil; i += conc {
				body, _ := json.Marshal(wire.CaseRequest{Procedure: "newborn_registration", CaseID: fmt.Sprintf("NB-2026-%06d", i), Subjects: subjects})
				req, _ := http.NewRequestWithContext(ctx, "POST", env.BaseURL+"/v1/cases", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					var a wire.CaseAnswer
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode != 200:
						err = fmt.Errorf("status %d", resp.StatusCode)
					case json.Unmarshal(b, &a) != nil || !a.Complete || len(a.Items) != CaseItems:
						err = fmt.Errorf("incomplete bundle")
					}
				}
				d := time.Since(t0)
				if t0.Before(warm) {
					continue
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], d)
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return 0, 0, 0, errs.Load(), fmt.Errorf("bench: no case succeeded (%d errors)", errs.Load())
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return float64(len(all)) / o.Duration.Seconds(), all[len(all)/2], all[len(all)*99/100], errs.Load(), nil
}
