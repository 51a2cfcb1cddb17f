package dev_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/cmd/onevisit/internal/cli"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/api"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// auditQueries makes n audited queries as the school-enrolment service
// (the subject is unknown in an empty dev mode: each is audited, 404).
func auditQueries(t *testing.T, env *dev.Env, n int) {
	t.Helper()
	tok := token(t, env, roleClients[api.RoleConsumer])
	for i := range n {
		body := fmt.Sprintf(`{"dataset":"household","subject":"330106202003080153","purpose":"school_enrolment","case_id":"SE-2026-%04d"}`, i)
		resp, b := call(t, "POST", env.BaseURL+"/v1/query", "Bearer "+tok, []byte(body), nil)
		if resp.StatusCode != 404 && resp.StatusCode != 200 {
			t.Fatalf("query: %d %s", resp.StatusCode, b)
		}
	}
}

// publicCheckpoint fetches the checkpoint over plain HTTP and opens it as
// any C2SP signed-note verifier would: with a verifier key built from the
// audit key the public key directory lists, and no OneVisit code but
// NoteVerifierKey's formula. It returns the size and root from the note's
// standard lines.
func publicCheckpoint(t *testing.T, env *dev.Env) (string, int64, tlog.Hash) {
	t.Helper()
	resp, b := call(t, "GET", env.BaseURL+"/v1/audit/checkpoint", "", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("checkpoint: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	dir, err := (&connectors.Requester{Client: &connectors.Client{BaseURL: env.BaseURL}}).Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var vs []note.Verifier
	for _, k := range dir.All() {
		if k.Use != keys.UseAudit || k.Status == keys.Revoked {
			continue
		}
		vk, err := note.NewEd25519VerifierKey(k.KID, k.Key)
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(vk)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(b, note.VerifierList(vs...))
	if err != nil {
		t.Fatalf("note.Open: %v\n%s", err, b)
	}
	// The verifier keys the exchange serves are exactly these, and open
	// the note by themselves.
	resp, vb := call(t, "GET", env.BaseURL+"/v1/audit/verifiers", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("verifiers: %d %s", resp.StatusCode, vb)
	}
	var served []note.Verifier
	for _, line := range strings.Split(strings.TrimSuffix(string(vb), "\n"), "\n") {
		v, err := note.NewVerifier(line)
		if err != nil {
			t.Fatalf("served verifier key %q: %v", line, err)
		}
		served = append(served, v)
	}
	if len(served) != len(vs) {
		t.Fatalf("%d verifier keys served, %d audit keys listed", len(served), len(vs))
	}
	for i := range vs {
		if served[i].Name() != vs[i].Name() || served[i].KeyHash() != vs[i].KeyHash() {
			t.Fatalf("served verifier %d is %s/%08x, the key directory's %s/%08x", i, served[i].Name(), served[i].KeyHash(), vs[i].Name(), vs[i].KeyHash())
		}
	}
	if _, err := note.Open(b, note.VerifierList(served...)); err != nil {
		t.Fatalf("note.Open with the served verifier keys: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != "onevisit/audit" {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	return string(b), size, root
}

// getJSON GETs url with an optional bearer token and decodes a 200 answer.
func getJSON(t *testing.T, url, tok string, out any) {
	t.Helper()
	authz := ""
	if tok != "" {
		authz = "Bearer " + tok
	}
	resp, b := call(t, "GET", url, authz, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

func tlogHashes(t *testing.T, in []string) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(in))
	for i, s := range in {
		h, err := tlog.ParseHash(s)
		if err != nil {
			t.Fatalf("hash %d: %v", i, err)
		}
		out[i] = h
	}
	return out
}

// TestAuditProofsVerifyWithTlog: the served checkpoint opens with a
// standard note verifier; the entries the officer reads rebuild its root
// with golang.org/x/mod/sumdb/tlog; every inclusion proof passes
// tlog.CheckRecord and the consistency proofs tlog.CheckTree.
func TestAuditProofsVerifyWithTlog(t *testing.T) {
	env := startDev(t)
	auditQueries(t, env, 5)
	// The node's copy of the log may trail the durable writes (real Kafka).
	var size int64
	var root tlog.Hash
	waitFor(t, "a checkpoint covering the 5 queries", func() bool {
		_, size, root = publicCheckpoint(t, env)
		return size >= 5
	})
	officer := token(t, env, roleClients[api.RoleOfficer])
	var page struct {
		Start, End uint64
		Entries    []string `json:"entries"`
		LeafHashes []string `json:"leaf_hashes"`
	}
	getJSON(t, fmt.Sprintf("%s/v1/audit/entries?start=0&end=%d", env.BaseURL, size), officer, &page)
	if int64(len(page.Entries)) != size || len(page.LeafHashes) != len(page.Entries) {
		t.Fatalf("%d entries, %d leaf hashes, want %d", len(page.Entries), len(page.LeafHashes), size)
	}
	entries := make([][]byte, size)
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, s := range page.Entries {
		e, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = e
		if tlog.RecordHash(e) != tlogHashes(t, page.LeafHashes[i:i+1])[0] {
			t.Fatalf("entry %d: served leaf hash is not tlog.RecordHash of the entry", i)
		}
		hs, err := tlog.StoredHashes(int64(i), e, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	if got, err := tlog.TreeHash(size, r); err != nil || got != root {
		t.Fatalf("tlog.TreeHash of the entries %v (%v), checkpoint root %v", got, err, root)
	}
	for i := int64(0); i < size; i++ {
		var p struct {
			Proof []string `json:"proof"`
		}
		getJSON(t, fmt.Sprintf("%s/v1/audit/proof/inclusion?index=%d&size=%d", env.BaseURL, i, size), "", &p)
		if err := tlog.CheckRecord(tlogHashes(t, p.Proof), size, root, i, tlog.RecordHash(entries[i])); err != nil {
			t.Fatalf("inclusion of %d: tlog.CheckRecord: %v", i, err)
		}
	}
	for _, from := range []int64{1, size / 2, size - 1, size} {
		var p struct {
			Proof []string `json:"proof"`
		}
		getJSON(t, fmt.Sprintf("%s/v1/audit/proof/consistency?from=%d&to=%d", env.BaseURL, from, size), "", &p)
		old, err := tlog.TreeHash(from, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(tlogHashes(t, p.Proof), size, root, from, old); err != nil {
			t.Fatalf("consistency %d → %d: tlog.CheckTree: %v", from, size, err)
		}
	}
}

// TestAuditProofBadRanges: malformed, reversed, over-wide and
// beyond-the-log parameters get their stable codes, naming the parameter.
func TestAuditProofBadRanges(t *testing.T) {
	env := startDev(t)
	officer := token(t, env, roleClients[api.RoleOfficer])
	tests := []struct {
		name, path, tok string
		status          int
		code, pointer   string
	}{
		{"index missing", "/v1/audit/proof/inclusion?size=1", "", 400, "bad_range", "/index"},
		{"index not decimal", "/v1/audit/proof/inclusion?index=1e3&size=5000", "", 400, "bad_range", "/index"},
		{"index negative", "/v1/audit/proof/inclusion?index=-1&size=1", "", 400, "bad_range", "/index"},
		{"index repeated", "/v1/audit/proof/inclusion?index=0&index=1&size=2", "", 400, "bad_range", "/index"},
		{"size leading zero", "/v1/audit/proof/inclusion?index=0&size=01", "", 400, "bad_range", "/size"},
		{"index not below size", "/v1/audit/proof/inclusion?index=1&size=1", "", 400, "bad_range", "/index"},
		{"size beyond the log", "/v1/audit/proof/inclusion?index=0&size=99999999", "", 404, "beyond_log", "/size"},
		{"size overflows", "/v1/audit/proof/inclusion?index=0&size=18446744073709551616", "", 400, "bad_range", "/size"},
		{"consistency reversed", "/v1/audit/proof/consistency?from=2&to=1", "", 400, "bad_range", "/from"},
		{"consistency beyond", "/v1/audit/proof/consistency?from=0&to=99999999", "", 404, "beyond_log", "/to"},
		{"entries reversed", "/v1/audit/entries?start=2&end=1", officer, 400, "bad_range", "/start"},
		{"entries page too wide", "/v1/audit/entries?start=0&end=1001", officer, 400, "bad_range", "/end"},
		{"entries beyond", "/v1/audit/entries?start=0&end=99999999", officer, 400, "bad_range", "/end"},
		{"entries end beyond", "/v1/audit/entries?start=99999000&end=99999999", officer, 404, "beyond_log", "/end"},
		{"entries without a token", "/v1/audit/entries?start=0&end=1", "", 401, "unauthenticated", ""},
		{"entries as a consumer", "/v1/audit/entries?start=0&end=1", token(t, env, roleClients[api.RoleConsumer]), 403, "forbidden", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			authz := ""
			if tc.tok != "" {
				authz = "Bearer " + tc.tok
			}
			resp, b := call(t, "GET", env.BaseURL+tc.path, authz, nil, nil)
			var body struct {
				Error struct{ Code, Pointer string }
			}
			_ = json.Unmarshal(b, &body)
			if resp.StatusCode != tc.status || body.Error.Code != tc.code || body.Error.Pointer != tc.pointer {
				t.Errorf("%d %s, want %d %s at %q", resp.StatusCode, b, tc.status, tc.code, tc.pointer)
			}
		})
	}
}

// runCLI runs the onevisit command line and returns its exit code and
// output.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	rc := cli.Main(context.Background(), args, &out, &errOut)
	return rc, out.String(), errOut.String()
}

func officerCredentials(env *dev.Env) string {
	return filepath.Join(env.DataDir, "clients", roleClients[api.RoleOfficer]+".json")
}

// TestAuditVerifyCLI: `onevisit audit verify` passes on a genuine log,
// keeps the checkpoint, and later checks consistency with it; `audit
// prove` checks one entry's inclusion.
func TestAuditVerifyCLI(t *testing.T) {
	env := startDev(t)
	auditQueries(t, env, 3)
	saved := filepath.Join(t.TempDir(), "cp.txt")
	rc, out, errOut := runCLI("audit", "verify", "--exchange", env.BaseURL, "--credentials", officerCredentials(env), "--out", saved)
	if rc != 0 || !strings.Contains(out, "signature ok") || !strings.Contains(out, "reproduce the signed root: ok") {
		t.Fatalf("verify: rc %d\n%s%s", rc, out, errOut)
	}
	first, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	cp1, err := audit.VerifyCheckpoint(string(first), env.Node.Directory())
	if err != nil {
		t.Fatalf("saved checkpoint: %v", err)
	}
	auditQueries(t, env, 2)
	waitFor(t, "a larger checkpoint", func() bool {
		_, size, _ := publicCheckpoint(t, env)
		return uint64(size) > cp1.Size
	})
	rc, out, errOut = runCLI("audit", "verify", "--exchange", env.BaseURL, "--since", saved)
	if rc != 0 || !strings.Contains(out, fmt.Sprintf("consistent with %s (size %d): ok", saved, cp1.Size)) || !strings.Contains(out, "entries: not checked") {
		t.Fatalf("verify --since: rc %d\n%s%s", rc, out, errOut)
	}
	rc, out, errOut = runCLI("audit", "prove", "--exchange", env.BaseURL, "--credentials", officerCredentials(env), "--index", "1")
	if rc != 0 || !strings.Contains(out, "entry 1 is in the signed log") {
		t.Fatalf("prove: rc %d\n%s%s", rc, out, errOut)
	}
	for _, args := range [][]string{{"audit", "verify", "-h"}, {"audit", "prove", "-h"}} {
		// Help goes to stdout (cmd/onevisit/internal/cli/doc.go).
		if rc, out, errOut := runCLI(args...); rc != 0 || !strings.Contains(out, "Usage: onevisit "+strings.Join(args[:2], " ")) {
			t.Errorf("%v: rc %d\n%s%s", args, rc, out, errOut)
		}
	}
	if rc, _, _ := runCLI("audit", "prove", "--exchange", env.BaseURL, "--index", "1"); rc != 2 {
		t.Errorf("prove without an entry source: rc %d, want 2", rc)
	}
}

// lyingExchange is an outsider's view of a compromised or faulty
// exchange: a reverse proxy to the real one that rewrites some answers.
// Its token endpoint hands out a genuine officer token (the assertion
// audience names the real exchange, not the proxy).
func lyingExchange(t *testing.T, env *dev.Env, rewrite func(path string, body []byte) []byte) string {
	t.Helper()
	target, err := url.Parse(env.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	officer, err := env.Client(roleClients[api.RoleOfficer])
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b = rewrite(resp.Request.URL.Path, b)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/token" {
			tok, err := officer.Token(r.Context())
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":300}`, tok)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAttackTamperedEntryNamed: an exchange that serves one entry altered
// (the node's copy edited, or a proxy in front of it) is caught by `audit
// verify`, which names that entry, and by `audit prove` for that entry.
func TestAttackTamperedEntryNamed(t *testing.T) {
	for _, rehash := range []bool{false, true} {
		t.Run(fmt.Sprintf("leaf hashes rewritten %v", rehash), func(t *testing.T) { tamperedEntryNamed(t, rehash) })
	}
}

// tamperedEntryNamed alters one served entry; with rehash the lying
// exchange also serves the altered entry's leaf hash, so the leaf hashes
// no longer vouch for themselves and verify narrows by inclusion proofs.
func tamperedEntryNamed(t *testing.T, rehash bool) {
	env := startDev(t)
	auditQueries(t, env, 4)
	var size int64
	waitFor(t, "a checkpoint covering the 4 queries", func() bool {
		_, size, _ = publicCheckpoint(t, env)
		return size >= 4
	})
	victim := size - 2
	proxy := lyingExchange(t, env, func(path string, b []byte) []byte {
		if path != "/v1/audit/entries" {
			return b
		}
		var page map[string]any
		if err := json.Unmarshal(b, &page); err != nil {
			return b
		}
		start := int64(page["start"].(float64))
		es := page["entries"].([]any)
		if k := victim - start; k >= 0 && k < int64(len(es)) {
			e, _ := base64.StdEncoding.DecodeString(es[k].(string))
			e = append(e, ' ')
			es[k] = base64.StdEncoding.EncodeToString(e)
			if rehash {
				page["leaf_hashes"].([]any)[k] = base64.StdEncoding.EncodeToString(audit.LeafHash(e))
			}
		}
		out, _ := json.Marshal(page)
		return out
	})
	rc, out, errOut := runCLI("audit", "verify", "--exchange", proxy, "--credentials", officerCredentials(env))
	if rc != 1 || !strings.Contains(errOut, fmt.Sprintf("first bad entry: %d:", victim)) || !strings.Contains(errOut, "audit log tampered") {
		t.Fatalf("verify through the lying exchange: rc %d, want 1 naming entry %d\n%s%s", rc, victim, out, errOut)
	}
	rc, out, errOut = runCLI("audit", "prove", "--exchange", proxy, "--credentials", officerCredentials(env), "--index", strconv.FormatInt(victim, 10))
	if rc != 1 || !strings.Contains(errOut, "invalid merkle proof") {
		t.Fatalf("prove of the altered entry: rc %d, want 1\n%s%s", rc, out, errOut)
	}
	// The same entries, untouched, verify.
	if rc, out, errOut := runCLI("audit", "verify", "--exchange", env.BaseURL, "--credentials", officerCredentials(env)); rc != 0 {
		t.Fatalf("verify of the real exchange: rc %d\n%s%s", rc, out, errOut)
	}
}

// TestAttackForgedCheckpoint: a checkpoint signed by a key the directory
// does not list for it (an outsider's key under the exchange's audit kid,
// or under a kid of its own) is refused by `audit verify`, and so is the
// genuine note with its body changed.
func TestAttackForgedCheckpoint(t *testing.T) {
	env := startDev(t)
	auditQueries(t, env, 2)
	genuine, size, _ := publicCheckpoint(t, env)
	kid := strings.Fields(genuine[strings.Index(genuine, "\n\n")+2:])[1]
	body := genuine[:strings.Index(genuine, "\n\n")+1]
	forge := func(name, text string) string {
		skey, _, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	grown := strings.Replace(body, "\n"+strconv.FormatInt(size, 10)+"\n", "\n"+strconv.FormatInt(size+1, 10)+"\n", 1)
	tests := []struct {
		name, note, want string
	}{
		{"another key under the audit kid", forge(kid, body), "invalid checkpoint signature"},
		{"another key under its own name", forge("attacker-audit#1", body), "invalid checkpoint signature"},
		{"genuine signature, size changed", grown + genuine[len(body):], "invalid checkpoint signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proxy := lyingExchange(t, env, func(path string, b []byte) []byte {
				if path == "/v1/audit/checkpoint" {
					return []byte(tc.note)
				}
				return b
			})
			rc, out, errOut := runCLI("audit", "verify", "--exchange", proxy)
			if rc != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(out, "signature ok") {
				t.Fatalf("rc %d, want 1 with %q\n%s%s", rc, tc.want, out, errOut)
			}
		})
	}

	// An exchange that also lists the forger's key in its own key
	// directory fools a verifier that trusts that directory, but not one
	// that pinned the verifier keys it kept earlier.
	_, vb := call(t, "GET", env.BaseURL+"/v1/audit/verifiers", "", nil, nil)
	pinned := strings.ReplaceAll(strings.TrimSpace(string(vb)), "\n", ",")
	skey, vkey, err := note.GenerateKey(rand.Reader, "exchange-audit#99")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(&note.Note{Text: body}, signer)
	if err != nil {
		t.Fatal(err)
	}
	proxy := lyingExchange(t, env, func(path string, b []byte) []byte {
		if path == "/v1/audit/checkpoint" {
			return forged
		}
		return b
	})
	if rc, out, errOut := runCLI("audit", "verify", "--exchange", proxy, "--verifier-key", pinned); rc != 1 || !strings.Contains(errOut, "invalid checkpoint signature") {
		t.Fatalf("forged note with pinned keys: rc %d, want 1\n%s%s", rc, out, errOut)
	}
	if rc, out, errOut := runCLI("audit", "verify", "--exchange", proxy, "--verifier-key", vkey); rc != 0 {
		t.Fatalf("forged note with the forger's key pinned: rc %d, want 0 (the pin is what is trusted)\n%s%s", rc, out, errOut)
	}
	if rc, out, errOut := runCLI("audit", "verify", "--exchange", env.BaseURL, "--verifier-key", pinned); rc != 0 {
		t.Fatalf("genuine note with pinned keys: rc %d\n%s%s", rc, out, errOut)
	}
	if rc, _, errOut := runCLI("audit", "verify", "--exchange", env.BaseURL, "--verifier-key", "exchange-audit#1+00000000+AQ=="); rc != 2 {
		t.Fatalf("malformed pin: rc %d, want 2\n%s", rc, errOut)
	}
}
