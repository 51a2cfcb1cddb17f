package clients_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/keys"
)

func newKey(t *testing.T, kid, owner string, use keys.Use) keys.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys.PublicKey{KID: kid, Owner: owner, Use: use, Key: pub, Status: keys.Active,
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func goodClients() []clients.Client {
	return []clients.Client{
		{ID: "tax-bureau", Role: "publisher", Name: "Tax Bureau", Datasets: []string{"tax"}},
		{ID: "school-enrolment", Role: "consumer", Name: "School enrolment service", Purposes: []string{"school_enrolment"}},
		{ID: "public-security", Role: "publisher", Name: "Public Security Bureau", Datasets: []string{"household"}},
		{ID: "security-officer", Role: "officer"},
	}
}

func goodKeys(t *testing.T) []keys.PublicKey {
	retired := newKey(t, "public-security-record#1", "public-security", keys.UseRecord)
	retired.Status = keys.Retired
	revoked := newKey(t, "tax-bureau-record#1", "tax-bureau", keys.UseRecord)
	revoked.Status, revoked.RevokedAt = keys.Revoked, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	return []keys.PublicKey{
		newKey(t, "public-security-auth#1", "public-security", keys.UseAuth),
		retired,
		newKey(t, "public-security-record#2", "public-security", keys.UseRecord),
		newKey(t, "school-enrolment-auth#1", "school-enrolment", keys.UseAuth),
		newKey(t, "security-officer-auth#1", "security-officer", keys.UseAuth),
		revoked,
		newKey(t, "tax-bureau-record#2", "tax-bureau", keys.UseRecord),
	}
}

func TestParseGoodRegistry(t *testing.T) {
	cs, ks := goodClients(), goodKeys(t)
	b, err := clients.Marshal(cs, ks)
	if err != nil {
		t.Fatal(err)
	}
	r, err := clients.Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(...)): %v\n%s", err, b)
	}
	want := []clients.Client{
		{ID: "public-security", Role: "publisher", Name: "Public Security Bureau", Datasets: []string{"household"}},
		{ID: "school-enrolment", Role: "consumer", Name: "School enrolment service", Purposes: []string{"school_enrolment"}},
		{ID: "security-officer", Role: "officer"},
		{ID: "tax-bureau", Role: "publisher", Name: "Tax Bureau", Datasets: []string{"tax"}},
	}
	if got := r.All(); !reflect.DeepEqual(got, want) {
		t.Errorf("All() = %+v\nwant %+v", got, want)
	}
	if got := r.PublicKeys(); !reflect.DeepEqual(got, ks) {
		t.Errorf("PublicKeys() = %+v\nwant %+v", got, ks)
	}
	// PublicKeys hands out a copy.
	got := r.PublicKeys()
	got[0].KID = "changed"
	if r.PublicKeys()[0].KID == "changed" {
		t.Error("PublicKeys returns the registry's own slice")
	}

	roles := []struct {
		id       string
		wantRole string
		wantOK   bool
	}{
		{"public-security", "publisher", true},
		{"school-enrolment", "consumer", true},
		{"security-officer", "officer", true},
		{"nobody", "", false},
		{"", "", false},
		{"Public-Security", "", false},
	}
	for _, tt := range roles {
		role, ok := r.Role(tt.id)
		if role != tt.wantRole || ok != tt.wantOK {
			t.Errorf("Role(%q) = %q, %v; want %q, %v", tt.id, role, ok, tt.wantRole, tt.wantOK)
		}
		c, ok := r.Client(tt.id)
		if ok != tt.wantOK || c.Role != tt.wantRole || (ok && c.ID != tt.id) {
			t.Errorf("Client(%q) = %+v, %v", tt.id, c, ok)
		}
	}
}

func TestParseWithoutKeys(t *testing.T) {
	r, err := clients.Parse([]byte(`{"clients":[{"client_id":"tax-bureau","role":"publisher"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.PublicKeys(); len(got) != 0 {
		t.Errorf("PublicKeys = %v, want none", got)
	}
	if got := r.All(); !reflect.DeepEqual(got, []clients.Client{{ID: "tax-bureau", Role: "publisher"}}) {
		t.Errorf("All = %+v", got)
	}
}

// registry renders a registry whose one client has the given JSON and
// whose keys member is jwks (omitted when empty).
func registry(clientsJSON, jwks string) []byte {
	s := `{"clients":[` + clientsJSON + `]`
	if jwks != "" {
		s += `,"keys":` + jwks
	}
	return []byte(s + "}")
}

func jwks(t *testing.T, ks ...keys.PublicKey) string {
	t.Helper()
	b, err := keys.MarshalJWKS(ks)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// twice renders a JWK set that lists k twice.
func twice(t *testing.T, k keys.PublicKey) string {
	t.Helper()
	one := jwks(t, k)
	obj := strings.TrimSuffix(strings.TrimPrefix(one, `{"keys":[`), `]}`)
	return `{"keys":[` + obj + "," + obj + `]}`
}

func TestParseRefuses(t *testing.T) {
	pub := `{"client_id":"tax-bureau","role":"publisher"}`
	long := strings.Repeat("a", 64)
	tests := []struct {
		name    string
		in      []byte
		wantMsg string // part of the error message that names the problem
	}{
		{"empty client id", registry(`{"client_id":"","role":"publisher"}`, ""), `client_id ""`},
		{"missing client id", registry(`{"role":"publisher"}`, ""), `client_id ""`},
		{"upper case id", registry(`{"client_id":"Tax-Bureau","role":"publisher"}`, ""), `client_id "Tax-Bureau"`},
		{"one character id", registry(`{"client_id":"t","role":"publisher"}`, ""), `client_id "t"`},
		{"id starting with a digit", registry(`{"client_id":"1tax","role":"publisher"}`, ""), `client_id "1tax"`},
		{"id starting with a dash", registry(`{"client_id":"-tax","role":"publisher"}`, ""), `client_id "-tax"`},
		{"underscore in id", registry(`{"client_id":"tax_bureau","role":"publisher"}`, ""), `client_id "tax_bureau"`},
		{"space in id", registry(`{"client_id":"tax bureau","role":"publisher"}`, ""), `client_id "tax bureau"`},
		{"64-character id", registry(`{"client_id":"`+long+`","role":"publisher"}`, ""), `client_id "` + long + `"`},
		{"unknown role", registry(`{"client_id":"tax-bureau","role":"admin"}`, ""), `role "admin"`},
		{"empty role", registry(`{"client_id":"tax-bureau","role":""}`, ""), `role ""`},
		{"capitalised role", registry(`{"client_id":"tax-bureau","role":"Publisher"}`, ""), `role "Publisher"`},
		{"client listed twice", registry(pub+`,{"client_id":"tax-bureau","role":"consumer"}`, ""), "tax-bureau listed twice"},
		{"key of an unknown client", registry(pub, jwks(t, newKey(t, "ghost-auth#1", "ghost", keys.UseAuth))), `unknown client "ghost"`},
		{"token key", registry(pub, jwks(t, newKey(t, "tax-bureau-token#1", "tax-bureau", keys.UseToken))), "not token"},
		{"receipt key", registry(pub, jwks(t, newKey(t, "tax-bureau-receipt#1", "tax-bureau", keys.UseReceipt))), "not receipt"},
		{"audit key", registry(pub, jwks(t, newKey(t, "tax-bureau-audit#1", "tax-bureau", keys.UseAudit))), "not audit"},
		{"kid twice", registry(pub, twice(t, newKey(t, "tax-bureau-auth#1", "tax-bureau", keys.UseAuth))), "duplicate key id"},
		{"private key material", registry(pub, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kid":"tax-bureau-auth#1","owner":"tax-bureau","key_use":"auth","status":"active"}]}`), "private key material"},
		{"keys not a JWK set", registry(pub, `[]`), "keys:"},
		{"unknown top-level field", []byte(`{"clients":[` + pub + `],"extra":1}`), "unknown JSON field"},
		{"unknown client field", registry(`{"client_id":"tax-bureau","role":"publisher","region":"zj"}`, ""), "unknown JSON field"},
		{"unknown JWK member", registry(pub, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"tax-bureau-auth#1","owner":"tax-bureau","key_use":"auth","status":"active","extra":"x"}]}`), "keys:"},
		{"duplicate top-level key", []byte(`{"clients":[],"clients":[` + pub + `]}`), "duplicate"},
		{"duplicate client key", registry(`{"client_id":"tax-bureau","client_id":"evil","role":"publisher"}`, ""), "duplicate"},
		{"case-variant duplicate key", registry(`{"client_id":"tax-bureau","Client_ID":"evil","role":"publisher"}`, ""), "duplicate"},
		{"not JSON", []byte(`clients: []`), "invalid client registry"},
		{"trailing data", []byte(`{"clients":[]} {}`), "invalid client registry"},
		{"invalid UTF-8", []byte("{\"clients\":[{\"client_id\":\"tax-bureau\",\"role\":\"publisher\",\"name\":\"\xff\"}]}"), "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := clients.Parse(tt.in)
			if !errors.Is(err, clients.ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want ErrInvalid\ninput: %s", r, err, tt.in)
			}
			if r != nil {
				t.Error("Parse returned a registry with its error")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not name the problem (%q)", err, tt.wantMsg)
			}
		})
	}
}

// TestParseRefusesRecordKeyOfNonPublisher: the package doc says record
// keys are a publisher's, and POST /v1/keys refuses a record key for a
// consumer or officer; the registry file must not let one in either.
func TestParseRefusesRecordKeyOfNonPublisher(t *testing.T) {
	for _, role := range []string{"consumer", "officer"} {
		t.Run(role, func(t *testing.T) {
			b, err := clients.Marshal(
				[]clients.Client{{ID: "some-client", Role: role}},
				[]keys.PublicKey{newKey(t, "some-client-record#1", "some-client", keys.UseRecord)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := clients.Parse(b); !errors.Is(err, clients.ErrInvalid) {
				t.Fatalf("Parse accepted a record key owned by a client with role %s (err %v)", role, err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "registry.json")
	b, err := clients.Marshal(goodClients(), goodKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := clients.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.All()); n != 4 {
		t.Errorf("loaded %d clients, want 4", n)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"clients":[{"client_id":"x","role":"publisher"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr error
	}{
		{"missing file", filepath.Join(dir, "none.json"), fs.ErrNotExist},
		{"invalid file", bad, clients.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clients.Load(tt.path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Load(%s) = %v, want %v", tt.path, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.path) && tt.wantErr == clients.ErrInvalid {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestMarshalRefusesInvalidKey(t *testing.T) {
	k := newKey(t, "tax-bureau-auth#1", "tax-bureau", keys.UseAuth)
	k.Key = k.Key[:16]
	if _, err := clients.Marshal(goodClients(), []keys.PublicKey{k}); !errors.Is(err, keys.ErrBadJWK) {
		t.Fatalf("Marshal with a 16-byte key = %v, want keys.ErrBadJWK", err)
	}
}
