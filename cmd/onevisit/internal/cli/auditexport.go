package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// exportJSON is what export and verify-export print with -o json.
type exportJSON struct {
	File       string              `json:"file"`
	Entries    int                 `json:"entries"`
	Checkpoint auditCheckpointJSON `json:"checkpoint"` // the latest in the bundle
	Uncovered  int                 `json:"uncovered"`  // entries after it, which no checkpoint covers
}

func newExportJSON(file string, x audit.Export, cp audit.Checkpoint) exportJSON {
	return exportJSON{File: file, Entries: len(x.Entries), Uncovered: len(x.Entries) - int(cp.Size), Checkpoint: checkpointJSON(cp)}
}

func (j exportJSON) text(verb string) func(io.Writer) error {
	return func(w io.Writer) error {
		fmt.Fprintf(w, "%s %s: %d entries reproduce the signed root of checkpoint size %d root %s time %s: ok\n",
			verb, j.File, j.Entries-j.Uncovered, j.Checkpoint.Size, j.Checkpoint.Root, j.Checkpoint.Time)
		if j.Uncovered > 0 {
			fmt.Fprintf(w, "%d entries after it are not covered by a checkpoint\n", j.Uncovered)
		}
		return nil
	}
}

// auditExport: `audit export --credentials officer.json --out FILE`
// writes the audit log as an export bundle (entries, leaf hashes and the
// signed checkpoint; exchange/audit.Export) for an outside auditor,
// after verifying it as they will.
func auditExport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit export")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit audit export --credentials officer.json --out FILE [--exchange URL] [--verifier-key VKEY]

Writes every entry of the audit log up to the latest signed checkpoint, with
their leaf hashes and the checkpoint, to FILE as one JSON bundle (the format
of exchange/audit.Export), after checking it as `+"`audit verify-export`"+` will:
the checkpoint's signature and every entry against its root. Give the bundle
and the exchange's note verifier keys (GET /v1/audit/verifiers) to an auditor.

Flags:
`)
		fs.PrintDefaults()
	}
	exURL := fs.String("exchange", "", "exchange base URL (default: from the credentials file)")
	cred := fs.String("credentials", "", "an officer's credentials file (required: entries are for officers)")
	pin := fs.String("verifier-key", "", "trust only these note verifier keys (comma-separated), not the exchange's key directory")
	out := fs.String("out", "", "the file to write (required; 0600)")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cred == "" || *out == "" {
		return usagef("--credentials and --out are required")
	}
	src, err := newAuditSource(*exURL, *cred, *pin)
	if err != nil {
		return err
	}
	note, cp, dir, err := src.checkpoint(ctx)
	if err != nil {
		return err
	}
	entries, leaves, err := src.entries(ctx, 0, cp.Size)
	if err != nil {
		return err
	}
	x := audit.Export{Entries: entries, Checkpoints: []string{note}, LeafHashes: leaves}
	if _, err := audit.VerifyExport(x, auditOrigin, dir); err != nil {
		return fmt.Errorf("the exchange's entries do not verify; nothing written: %w", err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o600); err != nil {
		return err
	}
	j := newExportJSON(*out, x, cp)
	return o.print(e, j, j.text("exported to"))
}

// auditVerifyExport: `audit verify-export FILE (--verifier-key VKEY |
// --exchange URL)` checks a bundle offline: with pinned verifier keys it
// needs no exchange at all.
func auditVerifyExport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit verify-export")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit audit verify-export FILE (--verifier-key VKEY | --exchange URL)

Checks an export bundle (from `+"`audit export`"+`): every checkpoint's signature,
that the checkpoints only grew, and that the entries reproduce every signed
root; names the first entry that does not. With --verifier-key (the
exchange's note verifier keys, kept from GET /v1/audit/verifiers) it runs
offline; with --exchange it trusts that exchange's key directory.
Exits 1 on any failed check.

Flags:
`)
		fs.PrintDefaults()
	}
	exURL := fs.String("exchange", "", "exchange base URL whose key directory to trust")
	pin := fs.String("verifier-key", "", "trust only these note verifier keys (comma-separated)")
	o := outputFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want `audit verify-export FILE`")
	}
	if (*pin == "") == (*exURL == "") {
		return usagef("give one of --verifier-key and --exchange")
	}
	var dir keys.Resolver
	if *pin != "" {
		p, err := parsePinned(*pin)
		if err != nil {
			return err
		}
		dir = p
	} else {
		d, err := (&connectors.Requester{Client: &connectors.Client{BaseURL: *exURL}}).Keys(ctx)
		if err != nil {
			return err
		}
		dir = d
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	x, err := audit.ParseExport(b)
	if err != nil {
		return err
	}
	cp, err := audit.VerifyExport(x, auditOrigin, dir)
	if err != nil {
		var te *audit.TamperError
		if errors.As(err, &te) {
			if te.End == te.Index+1 {
				return refusedf("%s: first bad entry: %d: %v", pos[0], te.Index, err)
			}
			return refusedf("%s: a bad entry in [%d, %d): %v", pos[0], te.Index, te.End, err)
		}
		return refusedf("%s: %v", pos[0], err)
	}
	j := newExportJSON(pos[0], x, cp)
	return o.print(e, j, j.text("export"))
}
