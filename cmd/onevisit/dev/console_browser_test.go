package dev_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/cmd/onevisit/internal/console"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit/browser"
	"github.com/onevisit/onevisit/exchange/keys"
)

// startConsole starts the console proxy of one officer on a free
// loopback port and returns its base URL.
func startConsole(t *testing.T, env *dev.Env, officer string) string {
	t.Helper()
	cred, err := env.Credentials(officer)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := env.Client(officer)
	if err != nil {
		t.Fatal(err)
	}
	p, err := console.New(cred, cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console proxy: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// run runs browser actions, failing the test with what on error.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// click waits for the element sel selects to be visible and clicks it
// as the page's own code would (element.click()): a real click event,
// independent of where a full-page screenshot left the viewport.
func click(sel string) chromedp.Action[chromedp.Void] {
	js, _ := json.Marshal(sel)
	return chromedp.Steps(chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).click()`, js)))
}

// labelled fails the test if a visible form control of the page has no
// label (a screen reader would announce nothing for it).
func labelled(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	missing := eval[string](t, ctx, `[...document.querySelectorAll("input, select, textarea, button")]
		.filter((e) => e.offsetParent !== null && !(e.labels && e.labels.length) && !(e.tagName === "BUTTON" && e.textContent.trim()))
		.map((e) => e.id || e.name || e.tagName).join(", ")`)
	if missing != "" {
		t.Errorf("%s: controls without a label: %s", page, missing)
	}
}

// eval evaluates a JavaScript expression in the page (awaiting it, if a
// promise).
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until polls a JavaScript condition in the page (30 s at most), across
// page loads (a poll that a navigation interrupts starts again).
func until(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if time.Now().Before(deadline) && ctx.Err() == nil && (strings.Contains(err.Error(), "navigated") || strings.Contains(err.Error(), "context was destroyed") || strings.Contains(err.Error(), "Cannot find context")) {
			continue
		}
		status := eval[string](t, ctx, `document.getElementById("status") ? document.getElementById("status").textContent : ""`)
		t.Fatalf("waiting for %s: %v (page status: %q)", what, err, status)
	}
}

// TestConsoleOfficerInBrowser drives the officer console in headless
// Chromium through two officers' console proxies: the first finds the
// school-enrolment query of the sample child in the audit page, with its
// inclusion proof verified in the page, and proposes granting the gender
// field; the second reviews and approves it (two-officer rule), after
// which school enrolment gets gender; the first registers a publisher's
// new key version. Each page is screenshotted to the kept folder.
func TestConsoleOfficerInBrowser(t *testing.T) {
	ctx := browser.New(t, 3*time.Minute)
	env := startDev(t)
	childQueried(t, env)
	first, second := startConsole(t, env, officer), startConsole(t, env, reviewer)

	// Overview, in Chinese by default.
	run(t, ctx, "open the console", chromedp.Navigate(first+"/console/"))
	until(t, ctx, "the overview", `document.querySelector("#page-overview[data-loaded]") !== null`)
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("page language %q, want zh-CN", lang)
	}
	if who := eval[string](t, ctx, `document.getElementById("who").textContent`); !strings.Contains(who, officer) {
		t.Errorf("signed in as %q, want %s", who, officer)
	}
	labelled(t, ctx, "console-overview")
	browser.Screenshot(t, ctx, "console-overview")

	// Audit by subject, with a reason: the child's school-enrolment query, its proof verified.
	run(t, ctx, "search the audit log",
		chromedp.Navigate(first+"/console/#audit"),
		chromedp.WaitVisible(chromedp.CSS("#a-subject")),
		chromedp.SetValue(chromedp.CSS("#a-subject"), samples.ChildResidentID),
		chromedp.SetValue(chromedp.CSS("#a-reason"), "citizen request 2026-118"),
		click("#a-search-subject"))
	until(t, ctx, "the proofs checked", `document.querySelector("#audit-results[data-proofs=done]") !== null`)
	row := eval[string](t, ctx, `(() => { const r = [...document.querySelectorAll("#audit-results tr[data-case='SE-2026-0001']")].find(r => r.textContent.includes("school-enrolment")); return r ? r.textContent : ""; })()`)
	if !strings.Contains(row, "school_enrolment") || !strings.Contains(row, "permit") {
		t.Fatalf("no permitted school-enrolment query of case SE-2026-0001 in the audit page: %q", row)
	}
	if proof := eval[string](t, ctx, `document.querySelector("#audit-results tr[data-case='SE-2026-0001'] td.proof").textContent`); proof != "已核验" {
		t.Errorf("proof cell %q, want 已核验 (verified)", proof)
	}
	if bad := eval[string](t, ctx, `[...document.querySelectorAll("#audit-results td.bad.proof")].map(td => td.title).join("; ")`); bad != "" {
		t.Errorf("entries failed their proof check: %s", bad)
	}
	labelled(t, ctx, "console-audit")
	browser.Screenshot(t, ctx, "console-audit")
	consoleServerSearch(t, ctx, env, first)

	// The first officer proposes granting gender.
	run(t, ctx, "open policies", chromedp.Navigate(first+"/console/#policies"), chromedp.WaitVisible(chromedp.CSS("#pol-yaml")))
	edited := eval[bool](t, ctx, `(() => { const ta = document.getElementById("pol-yaml");
		const from = 'fields: ["address", "birth_date", "household_id", "name", "relation_to_head"]';
		if (!ta.value.includes(from)) return false;
		ta.value = ta.value.replace(from, 'fields: ["address", "birth_date", "gender", "household_id", "name", "relation_to_head"]'); return true; })()`)
	if !edited {
		t.Fatal("the school-enrolment household fields are not in the policy text")
	}
	run(t, ctx, "propose",
		chromedp.SetValue(chromedp.CSS("#pol-id"), "grant-gender"),
		chromedp.SetValue(chromedp.CSS("#pol-reason"), "class balance needs gender (request 2026-31)"),
		click("#propose"))
	until(t, ctx, "the proposal listed", `document.querySelector("tr[data-proposal='grant-gender']") !== null`)
	labelled(t, ctx, "console-policies")
	browser.Screenshot(t, ctx, "console-policies")
	if got := schoolHouseholdFields(t, env, env.BaseURL); !slices.Equal(got, fieldsBefore) {
		t.Fatalf("a proposal alone changed the fields to %v", got)
	}

	// The same officer cannot approve it: the exchange refuses self-approval.
	run(t, ctx, "review own proposal", click("button[data-review='grant-gender']"), chromedp.WaitVisible(chromedp.CSS("#d-reason")),
		chromedp.SetValue(chromedp.CSS("#d-reason"), "looks fine"), click("#approve"))
	until(t, ctx, "the self-approval refused", `document.getElementById("status").textContent.includes("self_approval")`)

	// The second officer reviews (diff and what-if) and approves.
	run(t, ctx, "review as the second officer", chromedp.Navigate(second+"/console/#policies"),
		chromedp.WaitVisible(chromedp.CSS("button[data-review='grant-gender']")),
		click("button[data-review='grant-gender']"),
		chromedp.WaitVisible(chromedp.CSS("#proposal-changes")))
	if changes := eval[string](t, ctx, `document.getElementById("proposal-changes").textContent`); !strings.Contains(changes, "gender") {
		t.Errorf("the review's changes do not name gender: %q", changes)
	}
	if whatIf := eval[string](t, ctx, `document.querySelector("#proposal-detail table").textContent`); !strings.Contains(whatIf, "household.gender ×1") {
		t.Errorf("the what-if does not show the one answer gaining household.gender: %q", whatIf)
	}
	labelled(t, ctx, "console-proposal-review")
	browser.Screenshot(t, ctx, "console-proposal-review")
	run(t, ctx, "approve", chromedp.SetValue(chromedp.CSS("#d-reason"), "reviewed; request 2026-31 approved"), click("#approve"))
	until(t, ctx, "the approval applied", `document.getElementById("status").textContent.includes("policy.approve")`)
	waitFor(t, "school enrolment granted gender", func() bool { return slices.Equal(schoolHouseholdFields(t, env, env.BaseURL), fieldsWide) })

	// Key rotation: the key holder makes a new version; the officer registers its public half.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "public-security-record#2"
	jwk, err := keys.MarshalPublicJWK(kid, pub)
	if err != nil {
		t.Fatal(err)
	}
	jwkJS, _ := json.Marshal(string(jwk))
	run(t, ctx, "open keys", chromedp.Navigate(first+"/console/#keys"), chromedp.WaitVisible(chromedp.CSS("#k-jwk")))
	eval[bool](t, ctx, fmt.Sprintf(`(() => { document.getElementById("k-client").value = "public-security"; document.getElementById("k-use").value = "record"; document.getElementById("k-jwk").value = %s; return true; })()`, jwkJS))
	run(t, ctx, "register the new version", chromedp.SetValue(chromedp.CSS("#k-reason"), "annual rotation"), click("#k-register"))
	until(t, ctx, "the registration done", `document.getElementById("status").textContent === "完成"`)
	// On real Kafka the directory this node serves may show the new version a moment later: reload until it does.
	waitFor(t, "the new version listed as active", func() bool {
		run(t, ctx, "reload keys", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#page-keys[data-loaded]")))
		return eval[bool](t, ctx, fmt.Sprintf(`(() => { const r = document.querySelector("tr[data-kid='%s']"); return !!r && r.textContent.includes("active"); })()`, kid))
	})
	if st := eval[string](t, ctx, `(() => { const r = document.querySelector("tr[data-kid='public-security-record#1']"); return r ? r.children[3].textContent : ""; })()`); st != "retired" {
		t.Errorf("the old version is %q, want retired", st)
	}
	labelled(t, ctx, "console-keys")
	browser.Screenshot(t, ctx, "console-keys")

	// Revocation, with a reason: the retired version.
	run(t, ctx, "revoke the old version", chromedp.SetValue(chromedp.CSS("#r-kid"), "public-security-record#1"),
		chromedp.SetValue(chromedp.CSS("#r-reason"), "laptop lost (incident 2026-77)"), click("#r-revoke"))
	until(t, ctx, "the revocation done", `document.getElementById("status").textContent === "完成"`)
	waitFor(t, "the old version listed as revoked", func() bool {
		run(t, ctx, "reload keys", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#page-keys[data-loaded]")))
		return eval[string](t, ctx, `(() => { const r = document.querySelector("tr[data-kid='public-security-record#1']"); return r ? r.children[3].textContent : ""; })()`) == "revoked"
	})

	for _, page := range []string{"deadletters", "clients"} {
		run(t, ctx, "open "+page, chromedp.Navigate(first+"/console/#"+page))
		until(t, ctx, page, fmt.Sprintf(`document.querySelector("#page-%s[data-loaded]") !== null`, page))
		labelled(t, ctx, "console-"+page)
		browser.Screenshot(t, ctx, "console-"+page)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#page-clients tbody tr").length`); n != len(dev.SampleClients) {
		t.Errorf("clients page lists %d clients, want %d", n, len(dev.SampleClients))
	}

	// English switch.
	run(t, ctx, "switch to English", chromedp.SetValue(chromedp.CSS("#lang"), "en"))
	eval[bool](t, ctx, `document.getElementById("lang").dispatchEvent(new Event("change")) || true`)
	until(t, ctx, "English", `document.documentElement.lang === "en" && document.querySelector("nav a[href='#audit']").textContent === "Audit"`)
}

// TestConsoleTokenSignIn: signing in by pasting an access token, straight
// to the exchange: the token stays out of the URL, the pages load, and a
// policy change is refused in the page (the key is not in the browser).
func TestConsoleTokenSignIn(t *testing.T) {
	ctx := browser.New(t, 2*time.Minute)
	env := startDev(t)
	tok := token(t, env, officer)
	run(t, ctx, "sign in with a token", chromedp.Navigate(env.BaseURL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), tok),
		click("#usetoken"))
	until(t, ctx, "the overview", `document.querySelector("#page-overview[data-loaded]") !== null`)
	if loc := eval[string](t, ctx, `location.href`); strings.Contains(loc, tok) {
		t.Errorf("the token is in the URL %s", loc)
	}
	run(t, ctx, "open policies", chromedp.Navigate(env.BaseURL+"/console/#policies"), chromedp.WaitVisible(chromedp.CSS("#pol-reason")),
		chromedp.SetValue(chromedp.CSS("#pol-reason"), "try"), click("#narrow"))
	until(t, ctx, "the page to ask for the proxy", `document.getElementById("status").textContent.includes("onevisit console")`)
	// A consumer's token is not an officer's.
	run(t, ctx, "sign out", click("#signout"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), token(t, env, schoolService)), click("#usetoken"))
	until(t, ctx, "the refusal", `document.getElementById("status").textContent.length > 0 && document.getElementById("nav").hidden`)
}

// TestCitizenPageInBrowser: the child signs in through the development
// provider and sees, in Chinese, the school-enrolment query with its
// proof verified in the page; the father's entries are not reachable
// with the child's sign-in, from the page's own origin.
func TestCitizenPageInBrowser(t *testing.T) {
	ctx := browser.New(t, 2*time.Minute)
	env := startDev(t)
	childQueried(t, env)

	run(t, ctx, "open the development sign-in", chromedp.Navigate(env.BaseURL+"/me/"), chromedp.WaitVisible(chromedp.CSS("#provider")))
	labelled(t, ctx, "citizen-signin")
	browser.Screenshot(t, ctx, "citizen-signin")
	run(t, ctx, "go to the provider", click("#provider"), chromedp.WaitVisible(chromedp.CSS(".devbanner")))
	if banner := eval[string](t, ctx, `document.querySelector(".devbanner").textContent`); !strings.Contains(banner, "DEVELOPMENT ONLY") {
		t.Errorf("the development provider is not marked as such: %q", banner)
	}
	labelled(t, ctx, "citizen-dev-provider")
	browser.Screenshot(t, ctx, "citizen-dev-provider")
	run(t, ctx, "sign in as the child",
		click(`input[value="`+samples.ChildResidentID+`"]`),
		click("#signin"))
	until(t, ctx, "the accesses with proofs", `location.pathname === "/me/" && document.body.dataset.proofs === "done"`)
	if loc := eval[string](t, ctx, `location.href`); loc != env.BaseURL+"/me/" {
		t.Errorf("after sign-in the URL is %s", loc)
	}
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("page language %q, want zh-CN", lang)
	}
	row := eval[string](t, ctx, `(() => { const r = [...document.querySelectorAll("#accesses tbody tr")].find(r => r.textContent.includes("SE-2026-0001")); return r ? r.textContent : ""; })()`)
	for _, want := range []string{"school-enrolment", "义务教育入学", "SE-2026-0001", "已允许", "已核验", "birth_date"} {
		if !strings.Contains(row, want) {
			t.Errorf("the school-enrolment access row %q lacks %q", row, want)
		}
	}
	if bad := eval[string](t, ctx, `[...document.querySelectorAll("#accesses td.bad.proof")].map(td => td.title).join("; ")`); bad != "" {
		t.Errorf("entries failed their proof check: %s", bad)
	}
	labelled(t, ctx, "citizen-me")
	browser.Screenshot(t, ctx, "citizen-me")
	// On a phone: one column, no horizontal scrolling of the page itself.
	run(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if wide := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`); wide {
		t.Error("the citizen page scrolls sideways on a 390 px wide phone")
	}
	labelled(t, ctx, "citizen-me-phone")
	browser.Screenshot(t, ctx, "citizen-me-phone")
	run(t, ctx, "desktop viewport", chromedp.EmulateReset())

	// The download: the list as JSON, each entry marked as checked in the signed log.
	download := eval[string](t, ctx, `(async () => {
		let blob = null;
		const create = URL.createObjectURL, clickA = HTMLAnchorElement.prototype.click;
		URL.createObjectURL = (b) => { blob = b; return "about:blank"; };
		HTMLAnchorElement.prototype.click = function () { this.dataset.clicked = this.download; };
		try { document.getElementById("download").click(); } finally { URL.createObjectURL = create; HTMLAnchorElement.prototype.click = clickA; }
		return blob ? blob.text() : "";
	})()`)
	var dl struct {
		Entries []struct {
			Index       uint64 `json:"index"`
			InSignedLog bool   `json:"in_signed_log"`
			Entry       struct {
				Actor  string `json:"actor"`
				CaseID string `json:"case_id"`
			} `json:"entry"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(download), &dl); err != nil {
		t.Fatalf("download is not JSON: %v: %q", err, download)
	}
	found := false
	for _, e := range dl.Entries {
		found = found || e.Entry.CaseID == "SE-2026-0001" && e.Entry.Actor == schoolService && e.InSignedLog
		if !e.InSignedLog {
			t.Errorf("downloaded entry %d not marked as in the signed log", e.Index)
		}
	}
	if !found {
		t.Errorf("the download lacks the school-enrolment query: %s", download)
	}

	// From the page, with the child's own sign-in, the father is out of reach.
	status := eval[float64](t, ctx, fmt.Sprintf(`fetch("/v1/me/accesses?subject=%s", {headers: {Authorization: "Bearer " + sessionStorage.getItem("ov.idtoken")}}).then(r => r.status)`, otherResident))
	if status != http.StatusBadRequest {
		t.Errorf("asking for the father with the child's token: %v, want 400", status)
	}
	father := pseudonymOf(t, env, otherResident)
	body := eval[string](t, ctx, `fetch("/v1/me/accesses", {headers: {Authorization: "Bearer " + sessionStorage.getItem("ov.idtoken")}}).then(r => r.text())`)
	if strings.Contains(body, father) {
		t.Error("the child's accesses hold the father's pseudonym")
	}

	// A correction request of the address, routed to the public security
	// bureau and shown as open; the bureau accepts it over the API and the
	// page, still open, shows it accepted (citizenCorrectionAccepted).
	eval[bool](t, ctx, `(() => { const d = document.getElementById("c-dataset"); d.value = "household"; d.onchange(); document.getElementById("c-field").value = "address"; return true; })()`)
	run(t, ctx, "ask for a correction",
		chromedp.SetValue(chromedp.CSS("#c-comment"), "我们已于2025年搬家"),
		click(`#correct button[type="submit"]`))
	citizenCorrectionAccepted(t, ctx, env)
}
