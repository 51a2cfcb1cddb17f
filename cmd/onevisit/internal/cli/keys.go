package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/keys/vault"
)

func runKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want `keys list|rotate|revoke|break-glass|generate`")
	}
	switch args[0] {
	case "generate":
		return keysGenerate(ctx, e, args[1:])
	case "break-glass":
		return keysBreakGlass(e, args[1:])
	case "list":
		return keysList(ctx, e, args[1:])
	case "rotate":
		return keysRotate(ctx, e, args[1:])
	case "revoke":
		return keysRevoke(ctx, e, args[1:])
	}
	return usagef("unknown keys command %q", args[0])
}

func keysList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys list")
	url := fs.String("exchange", "", "exchange base URL")
	cred := fs.String("credentials", "", "any client's credentials file (for the exchange URL)")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	base := *url
	if base == "" && *cred != "" {
		c, err := connectors.LoadCredentials(*cred)
		if err != nil {
			return err
		}
		base = c.ExchangeURL
	}
	if base == "" {
		return usagef("--exchange or --credentials is required")
	}
	d, err := (&connectors.Requester{Client: &connectors.Client{BaseURL: base}}).Keys(ctx)
	if err != nil {
		return err
	}
	rows := []keyRow{}
	for _, k := range d.All() {
		r := keyRow{Owner: k.Owner, Use: string(k.Use), KID: k.KID, Status: string(k.Status)}
		if !k.Created.IsZero() {
			r.Created = k.Created.UTC().Format(time.RFC3339)
		}
		if !k.RevokedAt.IsZero() {
			r.RevokedAt = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, r)
	}
	return o.print(e, rows, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OWNER\tUSE\tKID\tSTATUS\tCREATED\tREVOKED AT")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Owner, r.Use, r.KID, r.Status, r.Created, r.RevokedAt)
		}
		return tw.Flush()
	})
}

// keyRow is one line of `keys list`, and one object of its -o json.
type keyRow struct {
	Owner     string `json:"owner"`
	Use       string `json:"use"`
	KID       string `json:"kid"`
	Status    string `json:"status"`
	Created   string `json:"created,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

// keysRotate makes a new version of a publisher's record key (or a
// client's auth key) and has an officer register it: in the client's
// credentials file for file-held keys, or in Vault's transit engine.
func keysRotate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys rotate")
	cred := fs.String("credentials", "", "the key holder's credentials file (file-held keys: updated in place)")
	officer := fs.String("officer", "", "an officer's credentials file (required): the officer registers the new version")
	use := fs.String("use", "record", "record or auth")
	vaultKey := fs.String("vault-key", "", "rotate this Vault transit key instead of a file-held one (VAULT_ADDR and VAULT_TOKEN from the environment)")
	client := fs.String("client", "", "the key holder's client id (with --vault-key)")
	reason := fs.String("reason", "", "why (required; audited)")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *officer == "" || *reason == "" {
		return usagef("--officer and --reason are required")
	}
	_, off, err := loadClient(*officer, "")
	if err != nil {
		return err
	}
	var kid, owner string
	var pub ed25519.PublicKey
	var commit func() error
	switch {
	case *vaultKey != "":
		if *client == "" {
			return usagef("--client is required with --vault-key")
		}
		s, err := vault.New(vault.FromEnv(*vaultKey, *client, keys.Use(*use)), e.log)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Start(ctx); err != nil {
			return err
		}
		k, err := s.Rotate(ctx)
		if err != nil {
			return err
		}
		kid, owner, pub, commit = k.KID, *client, k.Key, func() error { return nil }
	case *cred != "":
		c, err := connectors.LoadCredentials(*cred)
		if err != nil {
			return err
		}
		field := &c.SigningKey
		if *use == "auth" {
			field = &c.AuthKey
		}
		oldKID, _, err := keys.ParsePrivateJWK(*field)
		if err != nil {
			return err
		}
		kid, err = nextKID(oldKID)
		if err != nil {
			return err
		}
		var priv ed25519.PrivateKey
		pub, priv, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		jwk, err := keys.MarshalPrivateJWK(kid, priv)
		if err != nil {
			return err
		}
		owner = c.ClientID
		commit = func() error {
			*field = jwk
			b, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(*cred, append(b, '\n'), 0o600)
		}
	default:
		return usagef("--credentials or --vault-key is required")
	}
	pubJWK, err := keys.MarshalPublicJWK(kid, pub)
	if err != nil {
		return err
	}
	var out json.RawMessage
	body := map[string]any{"client_id": owner, "use": *use, "jwk": json.RawMessage(pubJWK), "reason": *reason}
	if err := off.Do(ctx, "POST", "/v1/keys", body, &out); err != nil {
		return fmt.Errorf("register %s: %w", kid, err)
	}
	if err := commit(); err != nil {
		return fmt.Errorf("registered %s but could not save it: %w", kid, err)
	}
	return o.print(e, keyRow{Owner: owner, Use: *use, KID: kid, Status: string(keys.Active)}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "registered %s for %s as active; earlier active versions are now retired and still verify\n", kid, owner)
		return err
	})
}

func nextKID(kid string) (string, error) {
	name, v, ok := strings.Cut(kid, "#")
	n, err := strconv.Atoi(v)
	if !ok || err != nil {
		return "", fmt.Errorf("kid %q is not <name>#<version>", kid)
	}
	return name + "#" + strconv.Itoa(n+1), nil
}

func keysRevoke(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys revoke")
	officer := fs.String("officer", "", "an officer's credentials file (required)")
	kid := fs.String("kid", "", "the key version to revoke (required)")
	at := fs.String("at", "", "revocation time, RFC 3339 (default now)")
	reason := fs.String("reason", "", "why (required; audited)")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *officer == "" || *kid == "" || *reason == "" {
		return usagef("--officer, --kid and --reason are required")
	}
	body := map[string]any{"kid": *kid, "reason": *reason}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return usagef("--at: %v", err)
		}
		body["revoked_at"] = t
	}
	_, off, err := loadClient(*officer, "")
	if err != nil {
		return err
	}
	if err := off.Do(ctx, "POST", "/v1/keys/revoke", body, nil); err != nil {
		return err
	}
	return o.print(e, struct {
		KID    string `json:"kid"`
		Status string `json:"status"`
	}{*kid, string(keys.Revoked)}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "revoked %s; records it signed that are accepted from then on are refused\n", *kid)
		return err
	})
}

// keysBreakGlass revokes a version of one of the exchange's own keys in
// the file keystore, the break-glass procedure of deploy/README.md: the
// exchange's keys are never revoked through the API. When the version is
// the active one it first makes a new active version. Running nodes pick
// the change up on their next key refresh (keys.refresh).
func keysBreakGlass(e *env, args []string) error {
	fs := flags(e, "keys break-glass")
	dir := fs.String("keys-dir", "", "the exchange's file keystore: keys.dir of the node's config (required)")
	kid := fs.String("kid", "", "the exchange key version to revoke, e.g. exchange-token#1 (required)")
	at := fs.String("at", "", "when the compromise began, RFC 3339 (default now): material the exchange accepted from then on is refused")
	reason := fs.String("reason", "", "why (required; printed for the incident record)")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *kid == "" || *reason == "" {
		return usagef("--keys-dir, --kid and --reason are required")
	}
	when := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return usagef("--at: %v", err)
		}
		when = t
	}
	name, _, _ := strings.Cut(*kid, "#")
	st := keys.OpenFileStore(*dir)
	vs, err := st.Versions(name)
	if err != nil {
		return err
	}
	var res struct {
		Activated string `json:"activated,omitempty"` // the new active version, when the revoked one was active
		Revoked   string `json:"revoked"`
		At        string `json:"at"`
		Reason    string `json:"reason"`
	}
	var target *keys.PublicKey
	for i := range vs {
		if vs[i].KID == *kid {
			target = &vs[i]
		}
	}
	switch {
	case target == nil:
		return fmt.Errorf("break-glass: %s is not in %s", *kid, *dir)
	case target.Owner != keys.OwnerExchange:
		return fmt.Errorf("break-glass: %s belongs to %s; client keys are revoked with `keys revoke`", *kid, target.Owner)
	case target.Status == keys.Active:
		k, err := st.Rotate(name)
		if err != nil {
			return err
		}
		res.Activated = k.KID
	}
	if err := st.Revoke(*kid, when); err != nil {
		return err
	}
	res.Revoked, res.At, res.Reason = *kid, when.UTC().Format(time.RFC3339), *reason
	return o.print(e, res, func(w io.Writer) error {
		if res.Activated != "" {
			fmt.Fprintf(w, "made %s the active version of %s\n", res.Activated, name)
		}
		_, err := fmt.Fprintf(w, "revoked %s as of %s (reason: %s); nodes apply it at their next key refresh\n", res.Revoked, res.At, res.Reason)
		return err
	})
}
