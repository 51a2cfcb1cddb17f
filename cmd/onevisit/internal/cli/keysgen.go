package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/keys/vault"
)

// keysGenerate: `keys generate --id ID --out FILE` or `keys generate --id
// ID --vault-transit NAME`. A client about to be enrolled makes its own
// auth key pair, so no private key passes through the officer: the
// private half goes to a new credentials file (mode 0600) or stays in
// Vault's transit engine, and the public JWK is printed on standard
// output (-o json: {"jwk": ..., "record_jwk": ...}), for `clients add
// --jwk`. A publisher or consent service (file
// keys) also gets a record key pair, its public JWK written to
// --record-jwk, for `clients add --record-jwk`.
func keysGenerate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "keys generate")
	id := fs.String("id", "", "the client id to be enrolled (required): lower-case letters, digits and dashes")
	out := fs.String("out", "", "write the credentials file (private key, mode 0600) here; it must not exist")
	role := fs.String("role", "consumer", "the role recorded in the credentials file: consumer, publisher, consent or officer")
	exchangeURL := fs.String("exchange", "", "exchange base URL recorded in the credentials file")
	recordOut := fs.String("record-jwk", "", "publisher or consent role, with --out: write the public record JWK here (the private one goes to the credentials file)")
	o := outputFlag(fs)
	transit := fs.String("vault-transit", "", "use this Vault transit key (ed25519, named \"<id>-<name>\") instead of a file; VAULT_ADDR and VAULT_TOKEN from the environment")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case !clients.ValidID(*id):
		return usagef("--id %q: want lower-case letters, digits and dashes, 2 to 63", *id)
	case (*out == "") == (*transit == ""):
		return usagef("want exactly one of --out FILE and --vault-transit NAME")
	case *transit != "" && !strings.HasPrefix(*transit, *id+"-"):
		return usagef("--vault-transit %q: the key's name must start with %q (kids name their owner)", *transit, *id+"-")
	}
	if err := clients.Check(clients.Client{ID: *id, Role: *role}); err != nil {
		return usagef("--role: %v", err)
	}
	records := *role == "publisher" || *role == "consent"
	switch {
	case records && *out != "" && *recordOut == "":
		return usagef("--record-jwk FILE is required for a %s: it publishes with a record key", *role)
	case *recordOut != "" && (!records || *out == ""):
		return usagef("--record-jwk goes with --out and a publisher or consent role")
	}
	var pubJWK, recordJWK []byte
	if *transit != "" {
		s, err := vault.New(vault.FromEnv(*transit, *id, keys.UseAuth), e.log)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Start(ctx); err != nil {
			return err
		}
		vs, err := s.Versions(ctx)
		if err != nil {
			return err
		}
		kid := s.KeyID()
		for _, v := range vs {
			if v.KID == kid {
				pubJWK, err = keys.MarshalPublicJWK(kid, v.Key)
				if err != nil {
					return err
				}
			}
		}
		if pubJWK == nil {
			return fmt.Errorf("keys generate: Vault lists no public key for %s", kid)
		}
	} else {
		kid := *id + "-auth#1"
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		privJWK, err := keys.MarshalPrivateJWK(kid, priv)
		if err != nil {
			return err
		}
		if pubJWK, err = keys.MarshalPublicJWK(kid, pub); err != nil {
			return err
		}
		cred := connectors.Credentials{ClientID: *id, Role: *role, AuthKey: privJWK, ExchangeURL: *exchangeURL}
		if records {
			rpub, rpriv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			rkid := *id + "-record#1"
			if cred.SigningKey, err = keys.MarshalPrivateJWK(rkid, rpriv); err != nil {
				return err
			}
			if recordJWK, err = keys.MarshalPublicJWK(rkid, rpub); err != nil {
				return err
			}
		}
		b, err := json.MarshalIndent(cred, "", "  ")
		if err != nil {
			return err
		}
		if err := writeNew(*out, append(b, '\n')); err != nil {
			return fmt.Errorf("keys generate: %w", err)
		}
		if recordJWK != nil {
			if err := writeNew(*recordOut, append(recordJWK, '\n')); err != nil {
				return fmt.Errorf("keys generate: wrote %s, but not the record JWK: %w", *out, err)
			}
		}
		fmt.Fprintf(e.errOut, "wrote the private key of %s to %s (mode 0600); give the officer the public JWK below\n", kid, *out)
	}
	doc := map[string]json.RawMessage{"jwk": pubJWK}
	if recordJWK != nil {
		doc["record_jwk"] = recordJWK
	}
	return o.print(e, doc, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s\n", pubJWK)
		return err
	})
}

// writeNew writes a new file readable by its owner only; an existing
// file is never overwritten (it may hold another key).
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	return errors.Join(werr, f.Close())
}
