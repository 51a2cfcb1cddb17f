package pseudonym_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/pseudonym"
)

// keyedHMAC is a real HMAC-SHA256 under a key the test knows, so the
// output can be checked against crypto/hmac directly. (The file store
// and Vault never hand their key out.)
type keyedHMAC struct{ key []byte }

var _ keys.HMACer = keyedHMAC{}

func (h keyedHMAC) HMAC(ctx context.Context, msg []byte) ([]byte, error) {
	m := hmac.New(sha256.New, h.key)
	m.Write(msg)
	return m.Sum(nil), nil
}

func hmacHex(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

const (
	child    = "330106202003080153"
	guardian = "330106198503120415"
)

func TestOfIsDomainSeparatedHMAC(t *testing.T) {
	key := []byte("a test key that is 32 bytes long")
	p := pseudonym.New(keyedHMAC{key})
	ctx := context.Background()
	for _, subject := range []string{child, guardian, "", "11010519491231002X", "subject\x00with nul"} {
		got, err := p.Of(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		if want := hmacHex(key, "onevisit/subject/v1\x00"+subject); got != want {
			t.Errorf("Of(%q) = %s, want HMAC(key, domain+subject) = %s", subject, got, want)
		}
		if plain := hmacHex(key, subject); got == plain {
			t.Errorf("Of(%q) is the HMAC of the bare subject: no domain separation", subject)
		}
		if !hex64.MatchString(got) {
			t.Errorf("Of(%q) = %q, want 64 lower-case hex digits", subject, got)
		}
	}
}

// TestKnownVector pins the pseudonym of one subject under one key, so a
// change of domain string or encoding (which would re-key every topic)
// cannot pass unnoticed.
func TestKnownVector(t *testing.T) {
	p := pseudonym.New(keyedHMAC{[]byte("onevisit-test-key")})
	got, err := p.Of(context.Background(), child)
	if err != nil {
		t.Fatal(err)
	}
	const want = "35bc5259112ba730fc100e9349476cef7a75225979bb730b8d12c1d935419b2d"
	if got != want {
		t.Errorf("Of(child) = %s, want %s", got, want)
	}
}

func TestOfWithFileStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := keys.OpenFileStore(dir)
	h1, err := store.HMACer("exchange-pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := store.HMACer("other-pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	a, b := pseudonym.New(h1), pseudonym.New(h2)
	of := func(p *pseudonym.Pseudonymizer, s string) string {
		t.Helper()
		v, err := p.Of(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if !hex64.MatchString(v) {
			t.Fatalf("pseudonym %q is not 64 lower-case hex digits", v)
		}
		if strings.Contains(v, s) && s != "" {
			t.Fatalf("pseudonym %q contains the subject", v)
		}
		return v
	}
	// Deterministic per key, also across a reopened store.
	reopened, err := keys.OpenFileStore(dir).HMACer("exchange-pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	if x, y, z := of(a, child), of(a, child), of(pseudonym.New(reopened), child); x != y || x != z {
		t.Errorf("same key, same subject: %s, %s, %s", x, y, z)
	}
	// Different subjects, different pseudonyms; different keys too.
	if of(a, child) == of(a, guardian) {
		t.Error("two subjects share a pseudonym")
	}
	if of(a, child) == of(b, child) {
		t.Error("two keys give the same pseudonym")
	}
	other, err := keys.OpenFileStore(t.TempDir()).HMACer("exchange-pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	if of(a, child) == of(pseudonym.New(other), child) {
		t.Error("two stores' keys of the same name give the same pseudonym")
	}
}

func TestOfFailsWithItsHMACer(t *testing.T) {
	h, err := keys.OpenFileStore(t.TempDir()).HMACer("exchange-pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := pseudonym.New(h).Of(ctx, child)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Of with a cancelled context = %q, %v; want context.Canceled", got, err)
	}
	if got != "" {
		t.Errorf("Of returned %q with its error", got)
	}
	if !strings.HasPrefix(err.Error(), "pseudonym: ") {
		t.Errorf("error %q does not start with the operation", err)
	}
	if strings.Contains(err.Error(), child) {
		t.Errorf("error %q carries the identity number", err)
	}
}

func TestOfConcurrent(t *testing.T) {
	h, err := keys.OpenFileStore(t.TempDir()).HMACer("exchange-pseudonym")
	if err != nil {
		t.Fatal(err)
	}
	p := pseudonym.New(h)
	want, err := p.Of(context.Background(), child)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := p.Of(context.Background(), child)
				if err != nil || got != want {
					t.Errorf("concurrent Of = %s, %v; want %s", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
