package dev_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
)

// otherResident is 陈建国, the child's father: another sample resident.
const otherResident = samples.GuardianResidentID

// childQueried publishes the samples and has the school-enrolment service
// ask for the sample child's household record (case SE-2026-0001) until
// it is answered: the access the citizen page and the console show.
func childQueried(t *testing.T, env *dev.Env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.PublishSamples(ctx); err != nil {
		t.Fatal(err)
	}
	tok := token(t, env, schoolService)
	body := []byte(`{"dataset":"household","subject":"` + samples.ChildResidentID + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`)
	waitFor(t, "the child's household record answered", func() bool {
		resp, _ := call(t, "POST", env.BaseURL+"/v1/query", "Bearer "+tok, body, nil)
		return resp.StatusCode == http.StatusOK
	})
}

type myAccesses struct {
	Size    uint64 `json:"size"`
	Entries []struct {
		Index uint64 `json:"index"`
		Leaf  string `json:"leaf"`
		Entry struct {
			Kind     string   `json:"kind"`
			Actor    string   `json:"actor"`
			Subject  string   `json:"subject"`
			Purpose  string   `json:"purpose"`
			CaseID   string   `json:"case_id"`
			Fields   []string `json:"fields"`
			Decision string   `json:"decision"`
			Code     string   `json:"code"`
			Dataset  string   `json:"dataset"`
		} `json:"entry"`
	} `json:"entries"`
}

func accessesOf(t *testing.T, env *dev.Env, idToken, query string) (int, myAccesses, []byte) {
	t.Helper()
	resp, b := call(t, "GET", env.BaseURL+"/v1/me/accesses"+query, "Bearer "+idToken, nil, nil)
	var out myAccesses
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out, b
}

// TestCitizenSeesOnlyOwnAccesses: with a valid ID token for the child, the
// citizen routes answer the child's entries only (the school-enrolment
// query among them), never the father's, however asked; a token the
// configured provider did not sign, or for another audience, or expired,
// gets 401; a correction request is filed, audited about the child, and
// rate-limited per resident.
func TestCitizenSeesOnlyOwnAccesses(t *testing.T) {
	env := startDev(t)
	childQueried(t, env)
	// The father has entries of his own (his records were accepted).
	fatherPseud, childPseud := pseudonymOf(t, env, otherResident), pseudonymOf(t, env, samples.ChildResidentID)
	childTok, err := env.CitizenToken(samples.ChildResidentID)
	if err != nil {
		t.Fatal(err)
	}

	var got myAccesses
	waitFor(t, "the child's query in the child's list", func() bool {
		status, a, b := accessesOf(t, env, childTok, "")
		if status != http.StatusOK {
			t.Fatalf("GET /v1/me/accesses: %d %s", status, b)
		}
		got = a
		for _, e := range a.Entries {
			if e.Entry.Kind == "query" && e.Entry.CaseID == "SE-2026-0001" && e.Entry.Actor == schoolService && e.Entry.Decision == "permit" {
				return true
			}
		}
		return false
	})
	for i, e := range got.Entries {
		if e.Entry.Subject != childPseud {
			t.Errorf("entry %d (index %d) is about %s, not the child", i, e.Index, e.Entry.Subject)
		}
		if i > 0 && e.Index > got.Entries[i-1].Index {
			t.Errorf("entries not newest first: %d after %d", e.Index, got.Entries[i-1].Index)
		}
	}

	// Asking for the father with the child's token: refused, naming the parameter.
	for _, q := range []string{"?subject=" + otherResident, "?resident_id=" + otherResident} {
		status, _, b := accessesOf(t, env, childTok, q)
		var eb struct {
			Error struct{ Code, Pointer string }
		}
		_ = json.Unmarshal(b, &eb)
		if status != http.StatusBadRequest || eb.Error.Code != "bad_request" || eb.Error.Pointer == "" {
			t.Errorf("%s with the child's token: %d %s, want 400 bad_request naming the parameter", q, status, b)
		}
		if containsString(b, fatherPseud) {
			t.Errorf("%s: the answer holds the father's pseudonym", q)
		}
	}

	// Tokens the node must refuse, each built as an outsider would.
	_, foreignKey, _ := ed25519.GenerateKey(rand.Reader)
	issuer := env.BaseURL + dev.DevSignInPath
	now := time.Now()
	sign := func(claims jwt.MapClaims, key ed25519.PrivateKey, kid string) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tk.Header["kid"] = kid
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": issuer, "aud": "onevisit-citizen-page", "resident_id": otherResident, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	bad := map[string]string{
		"signed by another key with the provider's kid": sign(base(), foreignKey, "dev-oidc-1"),
		"alg none": func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, base()).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(),
		"the child's token with its payload swapped for the father's": swapPayload(t, childTok, base()),
		"empty": "",
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			status, _, b := accessesOf(t, env, tok, "")
			if status != http.StatusUnauthorized || containsString(b, fatherPseud) {
				t.Errorf("%d %s, want 401 and nothing of the father", status, b)
			}
		})
	}

	// A correction request: filed (201), recorded in the log about the child.
	resp, b := call(t, "POST", env.BaseURL+"/v1/me/corrections", "Bearer "+childTok, []byte(`{"dataset":"household","field":"address","comment":"we moved in 2025"}`), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("correction: %d %s", resp.StatusCode, b)
	}
	waitFor(t, "the correction request in the child's list", func() bool {
		_, a, _ := accessesOf(t, env, childTok, "")
		for _, e := range a.Entries {
			if e.Entry.Kind == "correction" && e.Entry.Code == "correction_open" && e.Entry.Dataset == "household" && len(e.Entry.Fields) == 1 && e.Entry.Fields[0] == "address" {
				return true
			}
		}
		return false
	})
	// Five requests an hour per resident: each is an audit entry.
	for i := 2; i <= 6; i++ {
		resp, b := call(t, "POST", env.BaseURL+"/v1/me/corrections", "Bearer "+childTok, []byte(`{"dataset":"household","field":"name","comment":"spelling"}`), nil)
		want := http.StatusCreated
		if i == 6 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("correction request %d: %d %s, want %d", i, resp.StatusCode, b, want)
		}
	}
	fatherTok, err := env.CitizenToken(otherResident)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the father's household record in the view", func() bool { _, ok := env.Node.View().Get("household", fatherPseud); return ok })
	if resp, b := call(t, "POST", env.BaseURL+"/v1/me/corrections", "Bearer "+fatherTok, []byte(`{"dataset":"household","field":"name","comment":"spelling"}`), nil); resp.StatusCode != http.StatusCreated {
		t.Errorf("another resident's first request: %d %s, want 201 (the limit is per resident)", resp.StatusCode, b)
	}
	for name, c := range map[string]struct {
		body, pointer string
		status        int
	}{
		"unknown field":       {`{"dataset":"household","field":"salary","comment":"x"}`, "/field", 400},
		"the subject field":   {`{"dataset":"household","field":"resident_id","comment":"x"}`, "/field", 400},
		"identity in comment": {`{"dataset":"household","field":"address","comment":"see ` + otherResident + `"}`, "/comment", 400},
		"unknown dataset":     {`{"dataset":"salaries","field":"address","comment":"x"}`, "/dataset", 404},
		"no comment":          {`{"dataset":"household","field":"address"}`, "/comment", 400},
	} {
		resp, b := call(t, "POST", env.BaseURL+"/v1/me/corrections", "Bearer "+childTok, []byte(c.body), nil)
		var eb struct{ Error struct{ Pointer string } }
		_ = json.Unmarshal(b, &eb)
		if resp.StatusCode != c.status || eb.Error.Pointer != c.pointer {
			t.Errorf("%s: %d %s, want %d at %s", name, resp.StatusCode, b, c.status, c.pointer)
		}
	}
}

// swapPayload keeps tok's header and signature and replaces its payload.
func swapPayload(t *testing.T, tok string, claims jwt.MapClaims) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func containsString(b []byte, s string) bool { return strings.Contains(string(b), s) }
