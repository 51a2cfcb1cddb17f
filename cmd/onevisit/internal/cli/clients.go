package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/keys"
)

// The client registry commands: an officer enrols a client (a proposal
// that other officers approve with `policy approve`), lists the registry
// and disables a client (at once, on every node). Changes are signed
// with the officer's own key, as policy changes are.
func runClients(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want `clients add|list|disable`")
	}
	switch args[0] {
	case "add":
		return clientsAdd(ctx, e, args[1:])
	case "list":
		return clientsList(ctx, e, args[1:])
	case "disable":
		return clientsDisable(ctx, e, args[1:])
	}
	return usagef("unknown clients command %q", args[0])
}

// clientsAdd: `clients add --id ID --role ROLE --jwk FILE --reason R
// --credentials C`.
func clientsAdd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "clients add")
	g := newGovFlags(fs, true)
	id := fs.String("id", "", "the new client's id (required)")
	role := fs.String("role", "", "consumer, publisher, consent or officer (required)")
	jwkPath := fs.String("jwk", "", "the client's public auth JWK, as `keys generate` printed it (required)")
	recordPath := fs.String("record-jwk", "", "a publisher's or consent service's public record JWK, as `keys generate --record-jwk` wrote it")
	name := fs.String("name", "", "a display name")
	datasets := fs.String("datasets", "", "comma-separated datasets (publishers)")
	purposes := fs.String("purposes", "", "comma-separated purposes (procedure services)")
	proposal := fs.String("proposal-id", "", "proposal id (default: a random one)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" || *role == "" || *jwkPath == "" {
		return usagef("--id, --role and --jwk are required")
	}
	c := clients.Client{ID: *id, Role: *role, Name: *name, Datasets: split(*datasets), Purposes: split(*purposes)}
	if err := clients.Check(c); err != nil {
		return usagef("%v", err)
	}
	var jwk []byte
	var err error
	jwk, err = publicJWK("--jwk", *jwkPath)
	if err != nil {
		return err
	}
	var recordJWK []byte
	if *recordPath != "" {
		if recordJWK, err = publicJWK("--record-jwk", *recordPath); err != nil {
			return err
		}
	}
	if err := g.propose(ctx, e, "/v1/clients/events", proposal, control.Event{Action: control.ActionClientsAdd,
		Client: &c, JWK: jwk, RecordJWK: recordJWK}); err != nil {
		return err
	}
	g.approveHint(e, *proposal)
	return nil
}

// clientsDisable: `clients disable ID --reason R --credentials C`.
func clientsDisable(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "clients disable")
	g := newGovFlags(fs, true)
	proposal := fs.String("proposal-id", "", "proposal id (default: a random one)")
	id, err := parseWithArg(fs, args, "client ID")
	if err != nil {
		return err
	}
	return g.propose(ctx, e, "/v1/clients/events", proposal, control.Event{Action: control.ActionClientsDisable, ClientID: id})
}

// clientsList: `clients list --credentials C [-o text|json]`.
func clientsList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "clients list")
	g := newGovFlags(fs, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, cl, err := g.client()
	if err != nil {
		return err
	}
	var doc struct {
		Node    string          `json:"node"`
		Version uint64          `json:"version"`
		Clients []clients.Entry `json:"clients"`
	}
	if err := cl.Do(ctx, "GET", "/v1/clients", nil, &doc); err != nil {
		return err
	}
	return g.out.print(e, doc, func(w io.Writer) error {
		fmt.Fprintf(w, "node %s, version %d\n", doc.Node, doc.Version)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT\tROLE\tSOURCE\tSTATUS\tNAME")
		for _, c := range doc.Clients {
			status := "enabled"
			if c.Disabled {
				status = "disabled since " + c.DisabledAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Role, c.Source, status, c.Name)
		}
		return tw.Flush()
	})
}

// publicJWK reads a public JWK file; a file with a private part is
// refused (the private key never leaves its holder).
func publicJWK(flag, path string) ([]byte, error) {
	b, err := readAtMost(path, maxJWKFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if _, _, err := keys.ParsePublicJWK(b); err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return b, nil
}

// maxJWKFile bounds a public JWK file: an Ed25519 JWK is about 150 bytes.
const maxJWKFile = 4 << 10

// readAtMost reads a file that someone else gave the officer (a client's
// JWK, a data owner's schema), refusing one larger than max bytes
// without reading more of it.
func readAtMost(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
