package dev_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/exchange/wire"
)

// TestGrafanaDashboardMetrics: every metric a query of the Grafana
// dashboard (deploy/grafana/onevisit.json) names is in a live node's
// /metrics, after the node has published, answered and refused: a
// renamed or removed metric fails here instead of drawing an empty panel.
func TestGrafanaDashboardMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "grafana", "onevisit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	used := map[string][]string{} // metric family -> panels
	name := regexp.MustCompile(`\bonevisit_[a-z0-9_]+`)
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			ms := name.FindAllString(tg.Expr, -1)
			if len(ms) == 0 {
				t.Errorf("panel %q: query %q names no onevisit metric", p.Title, tg.Expr)
			}
			for _, m := range ms {
				if f, ok := strings.CutSuffix(m, "_bucket"); ok {
					m = f
				}
				used[m] = append(used[m], p.Title)
			}
		}
	}

	env := startDev(t)
	ctx := context.Background()
	// Publish (ingest, verify, view), ask (query latency, decisions,
	// distinct subjects) and refuse, so every family has a series.
	items := sampleRows(t, env, "household")
	p, done, err := env.Publisher("public-security", "household", "http")
	if err != nil {
		t.Fatal(err)
	}
	_, results, err := p.Publish(ctx, items)
	done()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Status != wire.Accepted {
			t.Fatalf("row %d: %s %s", r.Index, r.Status, r.Code)
		}
	}
	waitFor(t, "the household samples in the view", func() bool { return env.Node.View().Len() == len(items) })
	tok := token(t, env, "school-enrolment")
	if code, body := post(t, env.BaseURL+"/v1/query", tok, []byte(`{"dataset":"household","subject":"330106202003080153","purpose":"school_enrolment","case_id":"SE-2026-0001"}`)); code != 200 {
		t.Fatalf("query: %d %v", code, body)
	}
	if code, _ := post(t, env.BaseURL+"/v1/query", tok, []byte(`{"dataset":"tax","subject":"330106202003080153","purpose":"school_enrolment","case_id":"SE-2026-0001"}`)); code != 403 {
		t.Fatalf("denied query: %d, want 403", code)
	}
	// A case bundle (the case metrics): the child's household, the
	// father's not published here, so incomplete.
	if code, body := post(t, env.BaseURL+"/v1/cases", tok, []byte(`{"procedure":"school_enrolment","case_id":"SE-2026-0001","subjects":{"child":"330106202003080153"}}`)); code != 200 {
		t.Fatalf("case: %d %v", code, body)
	}

	resp, err := http.Get(env.BaseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	exported := map[string]bool{}
	for _, l := range strings.Split(string(text), "\n") {
		if f, ok := strings.CutPrefix(l, "# TYPE "); ok {
			exported[strings.Fields(f)[0]] = true
		}
	}
	var missing []string
	for m, panels := range used {
		if !exported[m] {
			missing = append(missing, m+" (panels: "+strings.Join(panels, "; ")+")")
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard names metrics the node does not export:\n%s", strings.Join(missing, "\n"))
	}
	if len(used) < 10 {
		t.Errorf("dashboard uses %d metrics; want the panels of deploy/grafana (at least 10)", len(used))
	}
}
