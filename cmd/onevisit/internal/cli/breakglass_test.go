package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/exchange/keys"
)

// TestKeysBreakGlass: the break-glass command revokes an exchange key
// version in the file keystore, making a new active version first when
// it revokes the active one, and refuses client keys.
func TestKeysBreakGlass(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := keys.OpenFileStore(dir)
	if _, err := st.Signer("exchange-token", keys.OwnerExchange, keys.UseToken); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Signer("tax-bureau-record", "tax-bureau", keys.UseRecord); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, ctx, "keys", "break-glass", "--keys-dir", dir, "--kid", "exchange-token#1", "--at", "2026-11-28T06:00:00Z", "--reason", "key file leaked")
	if code != 0 || !strings.Contains(out, "revoked exchange-token#1 as of 2026-11-28T06:00:00Z") {
		t.Fatalf("break-glass: exit %d\n%s%s", code, out, errOut)
	}
	vs, err := keys.OpenFileStore(dir).Versions("exchange-token")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.KID+" "+string(v.Status)+" "+v.RevokedAt.Format("15:04"))
	}
	if want := []string{"exchange-token#1 revoked 06:00", "exchange-token#2 active 00:00"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("versions after break-glass = %v, want %v", got, want)
	}
	code, _, errOut = run(t, ctx, "keys", "break-glass", "--keys-dir", dir, "--kid", "tax-bureau-record#1", "--reason", "x")
	if code == 0 || !strings.Contains(errOut, "keys revoke") {
		t.Fatalf("break-glass of a client key: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, ctx, "keys", "break-glass", "--keys-dir", dir, "--kid", "exchange-token#1")
	if code == 0 || !strings.Contains(errOut, "--reason") {
		t.Fatalf("break-glass without a reason: exit %d, stderr %q", code, errOut)
	}
}
