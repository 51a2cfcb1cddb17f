package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/pseudonym"
)

// countingCitizens accepts the ID token "good" for resident id and counts
// the verifications.
type countingCitizens struct {
	id    string
	calls atomic.Int32
}

func (c *countingCitizens) Resident(_ context.Context, tok string) (string, error) {
	c.calls.Add(1)
	if tok != "good" {
		return "", errors.New("not signed by the provider")
	}
	return c.id, nil
}

func (c *countingCitizens) SignInURL() string { return "" }

type sumHMAC struct{}

func (sumHMAC) HMAC(_ context.Context, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	return h[:], nil
}

// TestCitizenRouteVerifiesTokenOnce: a citizen route verifies the ID token
// once a request (in authorize), and the handler serves the resident that
// verification named.
func TestCitizenRouteVerifiesTokenOnce(t *testing.T) {
	cz := &countingCitizens{id: "11010520190301002X"}
	s, err := New(Deps{Citizens: cz, Pseudonym: pseudonym.New(sumHMAC{})})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/v1/me/corrections", nil)
	req.Header.Set("Authorization", "Bearer good")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	var out struct {
		Corrections []json.RawMessage `json:"corrections"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Corrections == nil {
		t.Fatalf("answer %s: want {\"corrections\": []} (%v)", rec.Body, err)
	}
	if n := cz.calls.Load(); n != 1 {
		t.Errorf("ID token verified %d times for one request, want 1", n)
	}
}

// TestCorrectionLimiterWindow: a resident gets correctionBurst requests a
// window however the window falls on the clock (a burst across an hour
// boundary is still one burst), and a fresh allowance after it.
func TestCorrectionLimiterWindow(t *testing.T) {
	var l correctionLimiter
	start := time.Date(2026, 11, 28, 13, 59, 59, 0, time.UTC) // one second before a clock hour
	for i := range correctionBurst + 1 {
		now := start.Add(time.Duration(i) * time.Second)
		if got, want := l.allow("p1", now), i < correctionBurst; got != want {
			t.Fatalf("request %d at %s: allowed %v, want %v", i+1, now.Format(time.TimeOnly), got, want)
		}
	}
	if !l.allow("p2", start.Add(10*time.Second)) {
		t.Error("another resident refused: the limit is per resident")
	}
	if !l.allow("p1", start.Add(correctionWindow)) {
		t.Error("refused a window later")
	}
}
