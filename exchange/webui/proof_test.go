package webui_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/mod/sumdb/note"

	"github.com/onevisit/onevisit/deploy/testkit/browser"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/webui"
)

// proofVectors is what the page's checker sees: a signed checkpoint, the
// verifier keys, and the inclusion proofs of a log of n entries.
type proofVectors struct {
	Checkpoint string            `json:"checkpoint"`
	Verifiers  string            `json:"verifiers"`
	Proofs     map[string]string `json:"proofs"` // path → JSON body
	Entries    []string          `json:"entries"`
}

// noteKey makes a signed-note key whose verifier key's base64 holds a
// "+", the case a naive split of name+hash+key gets wrong.
func noteKey(t *testing.T, name string) (note.Signer, string) {
	t.Helper()
	for {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(vkey, "+") > 2 {
			s, err := note.NewSigner(skey)
			if err != nil {
				t.Fatal(err)
			}
			return s, vkey
		}
	}
}

func vectors(t *testing.T, n int, signer note.Signer, vkey string) proofVectors {
	t.Helper()
	l := audit.NewLog()
	v := proofVectors{Verifiers: vkey + "\n", Proofs: map[string]string{}}
	for i := range n {
		e := fmt.Appendf(nil, `{"time":"2026-11-28T10:00:%02dZ","kind":"query","actor":"school-enrolment"}`, i)
		l.Append(e)
		v.Entries = append(v.Entries, base64.StdEncoding.EncodeToString(e))
	}
	size := l.Size()
	root, err := l.Root(size)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("onevisit/audit\n%d\n%s\n", size, base64.StdEncoding.EncodeToString(root))
	msg, err := note.Sign(&note.Note{Text: body}, signer)
	if err != nil {
		t.Fatal(err)
	}
	v.Checkpoint = string(msg)
	for i := range size {
		prf, err := l.InclusionProof(i, size)
		if err != nil {
			t.Fatal(err)
		}
		hs := make([]string, len(prf))
		for j, h := range prf {
			hs[j] = base64.StdEncoding.EncodeToString(h)
		}
		b, _ := json.Marshal(map[string]any{"index": i, "size": size, "proof": hs})
		v.Proofs[fmt.Sprintf("/v1/audit/proof/inclusion?index=%d&size=%d", i, size)] = string(b)
	}
	return v
}

// TestProofCheckInBrowser runs the pages' proof checker (proof.js) in
// headless Chromium against a log built here with exchange/audit and a
// checkpoint signed with golang.org/x/mod/sumdb/note: every entry of logs
// of several sizes verifies; a changed entry, an entry checked at another
// index, a checkpoint signed by another key and a changed root do not.
func TestProofCheckInBrowser(t *testing.T) {
	ctx := browser.New(t, time.Minute)
	srv := httptest.NewServer(webui.Handler())
	defer srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/me/")); err != nil {
		t.Fatal(err)
	}
	signer, vkey := noteKey(t, "exchange-audit#1")
	other, _ := noteKey(t, "exchange-audit#1")

	// check runs the checker on entry (base64) at index with vectors v and
	// returns "ok" or the checker's error.
	check := func(t *testing.T, v proofVectors, index int, entry string) string {
		t.Helper()
		vj, _ := json.Marshal(v)
		js := fmt.Sprintf(`(async () => {
			const v = %s;
			const fetchText = async (p) => p === "/v1/audit/checkpoint" ? v.checkpoint : p === "/v1/audit/verifiers" ? v.verifiers : v.proofs[p];
			const r = await OVProof.Checker(fetchText).check(%d, OVProof.b64(%q));
			return r.ok ? "ok" : r.error;
		})()`, vj, index, entry)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	for _, n := range []int{1, 2, 3, 5, 8, 13} {
		v := vectors(t, n, signer, vkey)
		for i, e := range v.Entries {
			if got := check(t, v, i, e); got != "ok" {
				t.Errorf("log of %d, entry %d: %s, want ok", n, i, got)
			}
		}
	}

	v := vectors(t, 7, signer, vkey)
	changed, _ := base64.StdEncoding.DecodeString(v.Entries[3])
	changed = []byte(strings.Replace(string(changed), "school-enrolment", "school-enrolmenT", 1))
	otherSigned := vectors(t, 7, other, vkey)
	badRoot := v
	lines := strings.SplitN(v.Checkpoint, "\n", 4)
	lines[2] = base64.StdEncoding.EncodeToString(make([]byte, 32))
	badRoot.Checkpoint = strings.Join(lines, "\n")
	for _, c := range []struct {
		name    string
		v       proofVectors
		index   int
		entry   string
		wantErr string
	}{
		{"changed entry", v, 3, base64.StdEncoding.EncodeToString(changed), "root mismatch"},
		{"entry at another index", v, 4, v.Entries[3], "root mismatch"},
		{"checkpoint signed by another key", otherSigned, 3, otherSigned.Entries[3], "does not verify"},
		{"root changed after signing", badRoot, 3, v.Entries[3], "does not verify"},
		{"index past the checkpoint", v, 7, v.Entries[3], "newer than the checkpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := check(t, c.v, c.index, c.entry); !strings.Contains(got, c.wantErr) {
				t.Errorf("got %q, want an error containing %q", got, c.wantErr)
			}
		})
	}
}

// TestPagesHeaders: every page and asset is served with the strict CSP
// and without caching, / goes to the console, and nothing outside
// /console/ and /me/ is served.
func TestPagesHeaders(t *testing.T) {
	srv := httptest.NewServer(webui.Handler())
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path       string
		wantStatus int
		wantType   string
	}{
		{"/console/", 200, "text/html; charset=utf-8"},
		{"/console/app.js", 200, "text/javascript; charset=utf-8"},
		{"/me/", 200, "text/html; charset=utf-8"},
		{"/me/proof.js", 200, "text/javascript; charset=utf-8"},
		{"/me/style.css", 200, "text/css; charset=utf-8"},
		{"/", 302, ""},
		{"/console", 301, ""},
		{"/me/nothing.js", 404, ""},
	} {
		resp, err := noRedirect.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.wantStatus {
			t.Errorf("%s: %d, want %d", c.path, resp.StatusCode, c.wantStatus)
			continue
		}
		if c.wantStatus != 200 {
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != c.wantType {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.wantType)
		}
		for h, want := range map[string]string{"Content-Security-Policy": webui.CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s %q, want %q", c.path, h, got, want)
			}
		}
	}
}

// TestCitizenPageShowsVerifiedBytes: the citizen page shows the entry it
// decoded from the bytes its proof checked, not the server's decoded copy
// beside them (the "entry" field, which nothing verifies): a server that
// answers a verifying leaf with a different "entry" cannot make the page
// show, or download, a verified entry it never logged.
func TestCitizenPageShowsVerifiedBytes(t *testing.T) {
	signer, vkey := noteKey(t, "exchange-audit#1")
	v := vectors(t, 3, signer, vkey)
	forged := `{"time":"2026-11-28T10:00:01Z","kind":"query","actor":"forged-service"}`
	mux := http.NewServeMux()
	mux.Handle("/", webui.Handler())
	mux.HandleFunc("GET /v1/me/accesses", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"size":3,"entries":[{"index":1,"leaf":%q,"entry":%s}]}`, v.Entries[1], forged)
	})
	mux.HandleFunc("GET /v1/me/corrections", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"corrections":[]}`) })
	mux.HandleFunc("GET /v1/datasets", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"datasets":[{"name":"household","subject":"resident_id","fields":["resident_id","address"]}]}`)
	})
	mux.HandleFunc("GET /v1/audit/checkpoint", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, v.Checkpoint) })
	mux.HandleFunc("GET /v1/audit/verifiers", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, v.Verifiers) })
	mux.HandleFunc("GET /v1/audit/proof/inclusion", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, v.Proofs[r.URL.Path+"?"+r.URL.RawQuery])
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := browser.New(t, time.Minute)
	claims := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d}`, time.Now().Add(time.Hour).Unix()))
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/me/"),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`sessionStorage.setItem("ov.idtoken", "e30.%s.sig")`, claims)),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`body[data-proofs="done"]`)),
	); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).textContent`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	row, proof := text("#accesses tbody tr"), text("#accesses tbody tr td.proof")
	if strings.Contains(row, "forged-service") || !strings.Contains(row, "school-enrolment") {
		t.Errorf("row %q: want the logged actor school-enrolment, not the server's unverified forged-service", row)
	}
	if !strings.Contains(proof, "已核验") {
		t.Errorf("proof cell %q: want the logged entry verified", proof)
	}
}
