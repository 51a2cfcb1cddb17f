package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// Everything in this file runs against the real OpenBao server that
// deploy/vault/run.sh starts; without VAULT_ADDR and VAULT_TOKEN it is
// skipped (see needVault).

var sampleSigningKeys = []struct {
	key   string
	owner string
	use   keys.Use
}{
	{"public-security-record", "public-security", keys.UseRecord},
	{"tax-bureau-record", "tax-bureau", keys.UseRecord},
	{"natural-resources-record", "natural-resources", keys.UseRecord},
	{"exchange-token", "exchange", keys.UseToken},
	{"exchange-receipt", "exchange", keys.UseReceipt},
	{"exchange-audit", "exchange", keys.UseAudit},
}

func randomBytes(tb testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestSignVerifySampleKeys(t *testing.T) {
	tv := needVault(t)
	msgs := map[string][]byte{
		"empty":      {},
		"jws input":  []byte("eyJhbGciOiJFZERTQSIsImtpZCI6InRheC1idXJlYXUtcmVjb3JkIzEifQ.eyJpc3MiOiJ0YXgtYnVyZWF1In0"),
		"64KiB":      randomBytes(t, 64<<10),
		"nul and ff": {0, 0xff, 0, 0xff},
	}
	for _, k := range sampleSigningKeys {
		t.Run(k.key, func(t *testing.T) {
			cfg := tv.rootConfig(k.key, k.use)
			cfg.Owner = k.owner
			s := startSigner(t, cfg)
			vs, err := s.Versions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			latest := vs[len(vs)-1]
			if latest.KID != s.KeyID() || latest.Status != keys.Active || latest.Owner != k.owner || latest.Use != k.use ||
				len(latest.Key) != ed25519.PublicKeySize || latest.Created.IsZero() {
				t.Fatalf("latest version = %+v, KeyID %q", latest, s.KeyID())
			}
			for name, msg := range msgs {
				sig, err := s.Sign(context.Background(), s.KeyID(), msg)
				if err != nil {
					t.Fatalf("Sign(%s): %v", name, err)
				}
				if len(sig) != ed25519.SignatureSize || !ed25519.Verify(latest.Key, msg, sig) {
					t.Fatalf("Sign(%s) = %x does not verify with %s", name, sig, latest.KID)
				}
				// Ed25519 is deterministic: the same message gives the same bytes.
				again, err := s.Sign(context.Background(), s.KeyID(), msg)
				if err != nil || !bytes.Equal(again, sig) {
					t.Fatalf("second Sign(%s) = %x, %v; want %x", name, again, err, sig)
				}
				if ed25519.Verify(latest.Key, append(bytes.Clone(msg), 0), sig) {
					t.Fatalf("signature of %s verifies over another message", name)
				}
			}
		})
	}
}

func TestSignBatch(t *testing.T) {
	tv := needVault(t)
	s := startSigner(t, tv.rootConfig("public-security-record", keys.UseRecord))
	ctx := context.Background()
	kid := s.KeyID()
	pub := publicKeys(t, s)[kid]
	st := s.state.Load()
	v, _ := parseKID(kid, s.cfg.Key)
	for _, n := range []int{1, 16, 64, 256} {
		t.Run("n="+strconv.Itoa(n), func(t *testing.T) {
			msgs := make([][]byte, n)
			for i := range msgs {
				msgs[i] = []byte(fmt.Sprintf("record %d of %d: %x", i, n, randomBytes(t, 8)))
			}
			// The public API: every item signed, in order, each the same as
			// a single Sign of that message.
			sigs, errs, err := s.SignBatch(ctx, kid, msgs)
			if err != nil || len(sigs) != n || len(errs) != n {
				t.Fatalf("SignBatch() = %d sigs, %d errs, %v", len(sigs), len(errs), err)
			}
			for i := range msgs {
				if errs[i] != nil || !ed25519.Verify(pub, msgs[i], sigs[i]) {
					t.Fatalf("item %d: err %v, signature does not verify", i, errs[i])
				}
			}
			single, err := s.Sign(ctx, kid, msgs[n-1])
			if err != nil || !bytes.Equal(single, sigs[n-1]) {
				t.Fatalf("Sign() of the last item = %x, %v; batch gave %x", single, err, sigs[n-1])
			}

			// One item Vault must refuse (its input is not base64): only
			// that item fails.
			bad := n / 2
			items := make([]map[string]string, n)
			for i, m := range msgs {
				items[i] = map[string]string{"input": base64.StdEncoding.EncodeToString(m)}
			}
			items[bad]["input"] = "!!! not base64 !!!"
			sigs, errs, err = s.signItems(ctx, st, v, items, msgs)
			if err != nil {
				t.Fatalf("signItems() = %v", err)
			}
			for i := range msgs {
				switch {
				case i == bad:
					if !errors.Is(errs[i], ErrItemRejected) || sigs[i] != nil {
						t.Fatalf("bad item %d: sig %x, err %v; want nil, ErrItemRejected", i, sigs[i], errs[i])
					}
				case errs[i] != nil || !ed25519.Verify(pub, msgs[i], sigs[i]):
					t.Fatalf("good item %d: err %v or signature does not verify", i, errs[i])
				}
			}

			// A key_version Vault does not hold fails every item on the
			// server, each as keys.ErrUnknownKey (SignBatch itself checks
			// the kid first and never sends this).
			for i, m := range msgs {
				items[i] = map[string]string{"input": base64.StdEncoding.EncodeToString(m)}
			}
			sigs, errs, err = s.signItems(ctx, st, st.latest+1000, items, msgs)
			if err != nil {
				t.Fatalf("signItems(bad version) = %v", err)
			}
			for i := range msgs {
				if sigs[i] != nil || !errors.Is(errs[i], keys.ErrUnknownKey) {
					t.Fatalf("item %d with a missing version: sig %x, err %v", i, sigs[i], errs[i])
				}
			}
		})
	}
	t.Run("split into calls of MaxBatch", func(t *testing.T) {
		msgs := make([][]byte, 600)
		for i := range msgs {
			msgs[i] = []byte("item " + strconv.Itoa(i))
		}
		sigs, errs, err := s.SignBatch(ctx, kid, msgs)
		if err != nil || len(sigs) != len(msgs) || len(errs) != len(msgs) {
			t.Fatalf("SignBatch(600) = %d sigs, %d errs, %v", len(sigs), len(errs), err)
		}
		for i := range msgs {
			if errs[i] != nil || !ed25519.Verify(pub, msgs[i], sigs[i]) {
				t.Fatalf("item %d: %v", i, errs[i])
			}
		}
	})
	t.Run("one call over the server's JSON limit", func(t *testing.T) {
		// OpenBao refuses a body with more than 1000 JSON strings by
		// default; 600 items are 1200. The whole call fails, nothing is
		// returned, and the error is not retryable.
		cfg := tv.rootConfig("public-security-record", keys.UseRecord)
		cfg.MaxBatch = 600
		big := startSigner(t, cfg)
		msgs := make([][]byte, 600)
		for i := range msgs {
			msgs[i] = []byte{byte(i)}
		}
		sigs, errs, err := big.SignBatch(ctx, kid, msgs)
		if sigs != nil || errs != nil || !errors.Is(err, ErrRejected) || errors.Is(err, keys.ErrUnavailable) {
			t.Fatalf("SignBatch(600 in one call) = %d sigs, %d errs, %v; want whole-call ErrRejected", len(sigs), len(errs), err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		sigs, errs, err := s.SignBatch(ctx, kid, nil)
		if err != nil || len(sigs) != 0 || len(errs) != 0 {
			t.Fatalf("SignBatch(nil) = %v, %v, %v", sigs, errs, err)
		}
	})
}

func TestSignErrors(t *testing.T) {
	tv := needVault(t)
	ctx := context.Background()
	s := startSigner(t, tv.rootConfig("tax-bureau-record", keys.UseRecord))
	hmacOnly := startSigner(t, tv.rootConfig("exchange-pseudonym", ""))
	latest := s.state.Load().latest
	tests := []struct {
		name    string
		signer  *Signer
		kid     string
		wantErr error
	}{
		{name: "kid of another key", signer: s, kid: "exchange-token#1", wantErr: keys.ErrUnknownKey},
		{name: "kid without version", signer: s, kid: "tax-bureau-record", wantErr: keys.ErrUnknownKey},
		{name: "version 0", signer: s, kid: "tax-bureau-record#0", wantErr: keys.ErrUnknownKey},
		{name: "version Vault does not hold", signer: s, kid: "tax-bureau-record#" + strconv.Itoa(latest+1), wantErr: keys.ErrUnknownKey},
		{name: "signing with an HMAC-only key", signer: hmacOnly, kid: "exchange-pseudonym#1", wantErr: ErrKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := tt.signer.Sign(ctx, tt.kid, []byte("m"))
			if sig != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Sign(%q) = %x, %v; want nil, %v", tt.kid, sig, err, tt.wantErr)
			}
			sigs, errs, err := tt.signer.SignBatch(ctx, tt.kid, [][]byte{[]byte("m")})
			if sigs != nil || errs != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("SignBatch(%q) = %v, %v, %v; want whole-call %v", tt.kid, sigs, errs, err, tt.wantErr)
			}
		})
	}

	starts := []struct {
		name    string
		cfg     Config
		wantErr error
	}{
		{name: "key does not exist", cfg: tv.rootConfig("no-such-key", keys.UseRecord), wantErr: keys.ErrUnknownKey},
		{name: "aes key for signing", cfg: tv.rootConfig("exchange-pseudonym", keys.UseRecord), wantErr: ErrKeyType},
		{name: "bad token", cfg: func() Config {
			c := tv.rootConfig("exchange-token", keys.UseToken)
			c.Auth.Token = "not-a-token"
			return c
		}(), wantErr: ErrPermissionDenied},
		{name: "transit not mounted there", cfg: func() Config { c := tv.rootConfig("exchange-token", keys.UseToken); c.Mount = "nowhere"; return c }(), wantErr: keys.ErrUnknownKey},
	}
	for _, tt := range starts {
		t.Run("start/"+tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Start(ctx); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Start() = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestHMAC(t *testing.T) {
	tv := needVault(t)
	ctx := context.Background()
	pseudo := startSigner(t, tv.rootConfig("exchange-pseudonym", ""))
	// An exportable copy of the same kind of key lets the test compute
	// the HMAC itself and compare bytes.
	name := tv.newKey(t, "aes256-gcm96", true)
	mine := startSigner(t, tv.rootConfig(name, ""))
	exp, err := tv.admin(t).Logical().Read("transit/export/hmac-key/" + name + "/1")
	if err != nil {
		t.Fatal(err)
	}
	hmacKey, err := base64.StdEncoding.DecodeString(exp.Data["keys"].(map[string]any)["1"].(string))
	if err != nil {
		t.Fatal(err)
	}

	id := []byte("330106199001011234") // a made-up resident identity number
	a, err := pseudo.HMAC(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pseudo.HMAC(ctx, id)
	if err != nil || !bytes.Equal(a, b) || len(a) != sha256.Size {
		t.Fatalf("HMAC twice = %x, %x (%v); want the same 32 bytes", a, b, err)
	}
	other, err := pseudo.HMAC(ctx, []byte("330106199001011242"))
	if err != nil || bytes.Equal(other, a) {
		t.Fatalf("HMAC of another subject = %x, %v; want different bytes", other, err)
	}
	c, err := mine.HMAC(ctx, id)
	if err != nil || bytes.Equal(c, a) {
		t.Fatalf("HMAC under another key = %x, %v; want different bytes", c, err)
	}
	m := hmac.New(sha256.New, hmacKey)
	m.Write(id)
	if want := m.Sum(nil); !bytes.Equal(c, want) {
		t.Fatalf("HMAC() = %x, want HMAC-SHA256 %x", c, want)
	}
	// Vault's own check of the value it gave.
	res, err := tv.admin(t).Logical().Write("transit/verify/exchange-pseudonym", map[string]any{
		"input": base64.StdEncoding.EncodeToString(id), "hmac": "vault:v1:" + base64.StdEncoding.EncodeToString(a)})
	if err != nil || res.Data["valid"] != true {
		t.Fatalf("transit/verify of the HMAC = %v, %v", res, err)
	}

	// A pinned version keeps pseudonyms across a rotation; latest does not.
	cfg := tv.rootConfig(name, "")
	cfg.HMACVersion = 1
	pinned := startSigner(t, cfg)
	if _, err := tv.admin(t).Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	p, err := pinned.HMAC(ctx, id)
	if err != nil || !bytes.Equal(p, c) {
		t.Fatalf("pinned HMAC after rotation = %x, %v; want %x", p, err, c)
	}
	l, err := mine.HMAC(ctx, id)
	if err != nil || bytes.Equal(l, c) {
		t.Fatalf("latest HMAC after rotation = %x, %v; want a new value", l, err)
	}

	// A key deleted under a running Signer.
	gone := tv.newKey(t, "aes256-gcm96", false)
	orphan := startSigner(t, tv.rootConfig(gone, ""))
	admin := tv.admin(t)
	if _, err := admin.Logical().Write("transit/keys/"+gone+"/config", map[string]any{"deletion_allowed": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Logical().Delete("transit/keys/" + gone); err != nil {
		t.Fatal(err)
	}
	if mac, err := orphan.HMAC(ctx, id); mac != nil || !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("HMAC with a deleted key = %x, %v; want nil, ErrUnknownKey", mac, err)
	}
}

func TestAppRole(t *testing.T) {
	tv := needVault(t)
	if tv.roleID == "" || tv.secretID == "" {
		testkit.Unavailable(t, "ONEVISIT_VAULT_ROLE_ID and ONEVISIT_VAULT_SECRET_ID are not set (deploy/vault/run.sh start sets them)")
	}
	ctx := context.Background()
	secretFile := t.TempDir() + "/secret-id"
	writeFile(t, secretFile, tv.secretID+"\n")
	t.Setenv("ONEVISIT_TEST_SECRET_ID", tv.secretID)
	approle := func(ar AppRole) Config {
		return Config{Address: tv.addr, Key: "exchange-receipt", Owner: "exchange", Use: keys.UseReceipt, Auth: Auth{AppRole: &ar}}
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
	}{
		{name: "secret id given", cfg: approle(AppRole{RoleID: tv.roleID, SecretID: tv.secretID})},
		{name: "secret id from env", cfg: approle(AppRole{RoleID: tv.roleID, SecretIDEnv: "ONEVISIT_TEST_SECRET_ID"})},
		{name: "secret id from file", cfg: approle(AppRole{RoleID: tv.roleID, SecretIDFile: secretFile})},
		{name: "wrong secret id", cfg: approle(AppRole{RoleID: tv.roleID, SecretID: "00000000-0000-0000-0000-000000000000"}), wantErr: ErrPermissionDenied},
		{name: "wrong role id", cfg: approle(AppRole{RoleID: "nobody", SecretID: tv.secretID}), wantErr: ErrPermissionDenied},
		{name: "approle not mounted there", cfg: approle(AppRole{Mount: "elsewhere", RoleID: tv.roleID, SecretID: tv.secretID}), wantErr: ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Start(ctx)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Start() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if s.client.Token() == tv.root || s.logins.Load() != 1 {
				t.Fatalf("signer is not using its own AppRole token (logins %d)", s.logins.Load())
			}
			msg := []byte("receipt")
			sig, err := s.Sign(ctx, s.KeyID(), msg)
			if err != nil || !ed25519.Verify(publicKeys(t, s)[s.KeyID()], msg, sig) {
				t.Fatalf("Sign() with the AppRole token = %x, %v", sig, err)
			}
			// The exchange's policy signs and reads but may not rotate.
			if pk, err := s.Rotate(ctx); !errors.Is(err, ErrPermissionDenied) {
				t.Fatalf("Rotate() with the exchange role = %+v, %v; want ErrPermissionDenied", pk, err)
			}
		})
	}
}

func TestOfficerRotates(t *testing.T) {
	tv := needVault(t)
	if tv.officerRoleID == "" || tv.officerSecretID == "" {
		testkit.Unavailable(t, "ONEVISIT_VAULT_OFFICER_ROLE_ID/SECRET_ID are not set (deploy/vault/run.sh start sets them)")
	}
	name := tv.newKey(t, "ed25519", false)
	s := startSigner(t, Config{Address: tv.addr, Key: name, Owner: "exchange", Use: keys.UseAudit,
		Auth: Auth{AppRole: &AppRole{RoleID: tv.officerRoleID, SecretID: tv.officerSecretID}}})
	pk, err := s.Rotate(context.Background())
	if err != nil {
		t.Fatalf("Rotate() with the officer role = %v", err)
	}
	if pk.KID != name+"#2" || pk.Status != keys.Active || s.KeyID() != name+"#2" {
		t.Fatalf("Rotate() = %+v, KeyID %q; want %s#2 active", pk, s.KeyID(), name)
	}
}

// TestTokenRenewal uses a role whose tokens live 3s and at most 8s, so
// within a few seconds the LifetimeWatcher renews the token and then,
// at the max TTL, the Signer logs in again. The clock is Vault's, so this
// waits in real time (bounded), not in a synctest bubble.
func TestTokenRenewal(t *testing.T) {
	tv := needVault(t)
	if testing.Short() {
		t.Skip("waits about 10s for a token to reach its max TTL")
	}
	admin := tv.admin(t)
	role := "onevisit-test-renewal"
	if _, err := admin.Logical().Write("auth/approle/role/"+role, map[string]any{
		"token_policies": "onevisit-exchange", "token_ttl": "3s", "token_max_ttl": "8s"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Logical().Delete("auth/approle/role/" + role) })
	rid, err := admin.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := admin.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := startSigner(t, Config{Address: tv.addr, Key: "exchange-token", Owner: "exchange", Use: keys.UseToken,
		Auth: Auth{AppRole: &AppRole{RoleID: rid.Data["role_id"].(string), SecretID: sid.Data["secret_id"].(string)}}})
	first := s.client.Token()
	testkit.WaitFor(t, 30*time.Second, "at least 1 renewal and 2 logins", func() bool { return s.renewals.Load() >= 1 && s.logins.Load() >= 2 })
	if s.client.Token() == first {
		t.Fatal("a new login kept the first token")
	}
	// The first token is past its max TTL; the Signer still signs.
	msg := []byte("after renewal")
	sig, err := s.Sign(context.Background(), s.KeyID(), msg)
	if err != nil || !ed25519.Verify(publicKeys(t, s)[s.KeyID()], msg, sig) {
		t.Fatalf("Sign() after re-login = %x, %v", sig, err)
	}
	t.Logf("renewals %d, logins %d", s.renewals.Load(), s.logins.Load())
}

func TestRotateWhileSigning(t *testing.T) {
	tv := needVault(t)
	ctx := context.Background()
	name := tv.newKey(t, "ed25519", false)
	s := startSigner(t, tv.rootConfig(name, keys.UseRecord))
	// A signature by version 1 made before any rotation.
	v1msg := []byte("signed by v1 before rotation")
	v1kid := s.KeyID()
	v1sig, err := s.Sign(ctx, v1kid, v1msg)
	if err != nil || v1kid != name+"#1" {
		t.Fatalf("Sign(%s) = %v", v1kid, err)
	}

	type signed struct {
		kid      string
		msg, sig []byte
	}
	const workers, rotations = 4, 5
	var (
		mu   sync.Mutex
		all  []signed
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := []byte(fmt.Sprintf("worker %d message %d", w, i))
				var (
					kid string
					sig []byte
					err error
				)
				// A rotation between KeyID and Sign retires the version
				// the kid names: take KeyID again, as keys.SignJWT does.
				for try := 0; try < 2; try++ {
					kid = s.KeyID()
					if i%2 == 0 {
						sig, err = s.Sign(ctx, kid, msg)
					} else {
						var sigs [][]byte
						var errs []error
						sigs, errs, err = s.SignBatch(ctx, kid, [][]byte{msg})
						if err == nil {
							sig, err = sigs[0], errs[0]
						}
					}
					if !errors.Is(err, keys.ErrRetired) {
						break
					}
				}
				if err != nil {
					t.Errorf("Sign(%s) during rotation: %v", kid, err)
					return
				}
				mu.Lock()
				all = append(all, signed{kid, msg, sig})
				mu.Unlock()
			}
		}()
	}
	// Signatures pile up between rotations, and after the last one.
	signedSoFar := func() int { mu.Lock(); defer mu.Unlock(); return len(all) }
	pileUp := func() {
		n := signedSoFar()
		testkit.WaitFor(t, 30*time.Second, "more signatures", func() bool { return signedSoFar() >= n+2*workers })
	}
	for range rotations {
		pileUp()
		if _, err := s.Rotate(ctx); err != nil {
			t.Errorf("Rotate(): %v", err)
		}
	}
	pileUp()
	close(stop)
	wg.Wait()

	pubs := publicKeys(t, s)
	kids := map[string]int{}
	for _, x := range all {
		pub, ok := pubs[x.kid]
		if !ok || !ed25519.Verify(pub, x.msg, x.sig) {
			t.Fatalf("signature under %s does not verify with the version its kid names", x.kid)
		}
		kids[x.kid]++
	}
	if len(kids) < 2 {
		t.Errorf("signatures spanned only %v; rotation did not interleave with signing", kids)
	}
	t.Logf("%d signatures across versions %v", len(all), kids)

	// Version 1 still verifies, and the directory view is what rotation
	// promises: the last version active, the rest retired.
	vs, err := s.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.KID+" "+string(v.Status))
	}
	var want []string
	for i := 1; i <= rotations+1; i++ {
		st := keys.Retired
		if i == rotations+1 {
			st = keys.Active
		}
		want = append(want, fmt.Sprintf("%s#%d %s", name, i, st))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Versions() = %v\nwant %v", got, want)
	}
	if !ed25519.Verify(vs[0].Key, v1msg, v1sig) {
		t.Fatal("the v1 signature no longer verifies with v1 after rotation")
	}
	// But v1 signs nothing new: rotation retires it.
	if again, err := s.Sign(ctx, v1kid, v1msg); !errors.Is(err, keys.ErrRetired) {
		t.Fatalf("Sign(%s) after rotation = %x, %v; want keys.ErrRetired", v1kid, again, err)
	}
	if _, _, err := s.SignBatch(ctx, v1kid, [][]byte{v1msg}); !errors.Is(err, keys.ErrRetired) {
		t.Fatalf("SignBatch(%s) after rotation = %v; want keys.ErrRetired", v1kid, err)
	}
}

// TestRefresh shows both refresh paths: a Signer sees a rotation made by
// another process on its interval, and at once when a kid names a newer
// version than its cache.
func TestRefresh(t *testing.T) {
	tv := needVault(t)
	ctx := context.Background()
	name := tv.newKey(t, "ed25519", false)
	cfg := tv.rootConfig(name, keys.UseRecord)
	cfg.RefreshInterval = time.Second
	polling := startSigner(t, cfg)
	cfg.RefreshInterval = time.Hour
	stale := startSigner(t, cfg)
	if _, err := tv.admin(t).Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	if got := stale.KeyID(); got != name+"#1" {
		t.Fatalf("stale KeyID() = %q before any refresh", got)
	}
	// On demand: a kid of version 2 makes the stale signer re-read.
	sig, err := stale.Sign(ctx, name+"#2", []byte("m"))
	if err != nil || stale.KeyID() != name+"#2" || !ed25519.Verify(publicKeys(t, stale)[name+"#2"], []byte("m"), sig) {
		t.Fatalf("Sign(#2) on a stale cache = %v, KeyID %q", err, stale.KeyID())
	}
	// On the interval (a bounded real-time wait: the clock is Vault's).
	testkit.WaitFor(t, 10*time.Second, "KeyID() "+name+"#2 with a 1s refresh interval", func() bool { return polling.KeyID() == name+"#2" })
}

// TestServerGoesAway starts a second, throwaway server with run.sh (its
// own port and run dir), then seals it and finally stops it while a
// Signer is using it: every call fails with keys.ErrUnavailable and
// returns no signature.
func TestServerGoesAway(t *testing.T) {
	needVault(t)
	if testing.Short() {
		t.Skip("starts a second server")
	}
	srv := startThrowaway(t)
	ctx := context.Background()
	cfg := Config{Address: srv.addr, Key: "exchange-token", Owner: "exchange", Use: keys.UseToken, Auth: Auth{Token: srv.root}}
	s := startSigner(t, cfg)
	h := startSigner(t, Config{Address: srv.addr, Key: "exchange-pseudonym", Auth: Auth{Token: srv.root}})
	kid := s.KeyID()
	if _, err := s.Sign(ctx, kid, []byte("before")); err != nil {
		t.Fatalf("Sign() while up: %v", err)
	}

	check := func(t *testing.T, also error) {
		t.Helper()
		sig, err := s.Sign(ctx, kid, []byte("m"))
		if sig != nil || !errors.Is(err, keys.ErrUnavailable) || (also != nil && !errors.Is(err, also)) {
			t.Fatalf("Sign() = %x, %v; want nil, ErrUnavailable", sig, err)
		}
		sigs, errs, err := s.SignBatch(ctx, kid, [][]byte{[]byte("a"), []byte("b")})
		if sigs != nil || errs != nil || !errors.Is(err, keys.ErrUnavailable) {
			t.Fatalf("SignBatch() = %v, %v, %v; want whole-call ErrUnavailable", sigs, errs, err)
		}
		mac, err := h.HMAC(ctx, []byte("m"))
		if mac != nil || !errors.Is(err, keys.ErrUnavailable) {
			t.Fatalf("HMAC() = %x, %v; want nil, ErrUnavailable", mac, err)
		}
		if _, err := s.Refresh(ctx); !errors.Is(err, keys.ErrUnavailable) {
			t.Fatalf("Refresh() = %v; want ErrUnavailable", err)
		}
		// The cached versions still serve the key directory.
		if vs, err := s.Versions(ctx); err != nil || len(vs) != 1 {
			t.Fatalf("Versions() from cache = %v, %v", vs, err)
		}
	}
	t.Run("sealed", func(t *testing.T) {
		if err := srv.admin(t).Sys().Seal(); err != nil {
			t.Fatal(err)
		}
		check(t, nil)
	})
	t.Run("stopped", func(t *testing.T) {
		srv.stop(t)
		check(t, nil)
	})
	t.Run("stopped, with a short deadline", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
		defer cancel()
		<-dctx.Done()
		if sig, err := s.Sign(dctx, kid, []byte("m")); sig != nil || !errors.Is(err, keys.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sign() = %x, %v; want nil, ErrUnavailable and DeadlineExceeded", sig, err)
		}
	})
}
