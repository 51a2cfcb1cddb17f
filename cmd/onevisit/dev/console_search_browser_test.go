package dev_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
)

// consoleServerSearch continues TestConsoleOfficerInBrowser on the audit
// page (console at base): the filter form searches on the server. Case id
// SE-2026-0001 and kind query list exactly the entries GET
// /v1/audit/entries?case_id=SE-2026-0001&kind=query answers over plain
// HTTP, newest first, each proof verified; the dead-letter page shows
// exactly the counts of GET /v1/audit/rejections (a junk record
// published first, so there is one at least).
func consoleServerSearch(t *testing.T, ctx context.Context, env *dev.Env, base string) {
	t.Helper()
	tok := token(t, env, officer)
	resp, b := call(t, "GET", env.BaseURL+"/v1/audit/entries?case_id=SE-2026-0001&kind=query", "Bearer "+tok, nil, nil)
	var want struct{ Indexes []uint64 }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &want) != nil || len(want.Indexes) == 0 {
		t.Fatalf("search over HTTP: %d %s", resp.StatusCode, b)
	}
	eval[bool](t, ctx, `(() => { delete document.getElementById("audit-results").dataset.proofs; return true; })()`)
	run(t, ctx, "search by case id and kind",
		chromedp.SetValue(chromedp.CSS("#f-case"), "SE-2026-0001"),
		chromedp.SetValue(chromedp.CSS("#f-kind"), "query"),
		click("#a-search-filter"))
	until(t, ctx, "the filtered entries' proofs checked", `document.querySelector("#audit-results[data-proofs=done]") !== null`)
	var got []uint64
	if err := json.Unmarshal([]byte(eval[string](t, ctx, `JSON.stringify([...document.querySelectorAll("#audit-results tr[data-index]")].map(r => Number(r.dataset.index)))`)), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want.Indexes) {
		t.Errorf("the console lists entries %v, the server's search %v", got, want.Indexes)
	}
	if bad := eval[string](t, ctx, `[...document.querySelectorAll("#audit-results tr[data-index] td.proof")].filter(td => td.textContent !== "已核验").map(td => td.textContent).join("; ")`); bad != "" {
		t.Errorf("filtered entries not verified: %s", bad)
	}

	// A dead letter to count: a junk record published to household, waited
	// for until the count over HTTP holds it (the samples may have left
	// dead letters already).
	var rj struct {
		Rejections []struct {
			Dataset, Code string
			Count         int
		}
	}
	rejections := func() int {
		t.Helper()
		resp, b := call(t, "GET", env.BaseURL+"/v1/audit/rejections", "Bearer "+tok, nil, nil)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &rj) != nil {
			t.Fatalf("rejections over HTTP: %d %s", resp.StatusCode, b)
		}
		n := 0
		for _, r := range rj.Rejections {
			n += r.Count
		}
		return n
	}
	before := rejections()
	if status, ans := publishHTTP(t, env, "public-security", "household", "junk-console-1"); status >= 500 || len(resultCodes(ans)) != 1 {
		t.Fatalf("publish junk: %d %v", status, ans)
	}
	waitFor(t, "the junk counted", func() bool { return rejections() > before })
	var wantRows []string
	for _, r := range rj.Rejections {
		wantRows = append(wantRows, fmt.Sprintf("%s|%s|%d", r.Dataset, r.Code, r.Count))
	}
	run(t, ctx, "open dead letters", chromedp.Navigate(base+"/console/#deadletters"))
	until(t, ctx, "dead letters", `document.querySelector("#page-deadletters[data-loaded]") !== null`)
	rows := eval[string](t, ctx, `[...document.querySelectorAll("#page-deadletters tbody tr")].map(r => [...r.children].map(td => td.textContent).join("|")).join("\n")`)
	if gotRows := strings.Join(wantRows, "\n"); rows != gotRows {
		t.Errorf("dead-letter rows %q, want %q", rows, gotRows)
	}
}
