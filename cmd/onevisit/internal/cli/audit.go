package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// auditOrigin is the origin line of the exchange's checkpoints.
const auditOrigin = "onevisit/audit"

// auditPage is the page size verify asks for (the exchange's limit).
const auditPage = 1000

func runAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want `audit verify|prove|export|verify-export`")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, e, args[1:])
	case "prove":
		return auditProve(ctx, e, args[1:])
	case "export":
		return auditExport(ctx, e, args[1:])
	case "verify-export":
		return auditVerifyExport(ctx, e, args[1:])
	}
	return usagef("unknown audit command %q", args[0])
}

// auditSource is where verify and prove read: the exchange's public
// documents over plain HTTP, and, with officer credentials, its entries.
type auditSource struct {
	base   string
	client *connectors.Client // nil without credentials
	pinned pinnedKeys         // nil: trust the exchange's key directory
}

func newAuditSource(exchangeURL, cred, pinned string) (*auditSource, error) {
	src := &auditSource{base: exchangeURL}
	if pinned != "" {
		p, err := parsePinned(pinned)
		if err != nil {
			return nil, err
		}
		src.pinned = p
	}
	if cred != "" {
		_, c, err := loadClient(cred, exchangeURL)
		if err != nil {
			return nil, err
		}
		src.base, src.client = c.BaseURL, c
	}
	if src.base == "" {
		return nil, usagef("--exchange or --credentials is required")
	}
	src.base = strings.TrimSuffix(src.base, "/")
	return src, nil
}

// get fetches a public document; an error answer names its status.
func (s *auditSource) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// pinnedKeys is a key resolver holding only audit keys given as note
// verifier keys ("<kid>+<hash>+<base64(0x01 || public key)>").
type pinnedKeys map[string]keys.PublicKey

func (p pinnedKeys) PublicKey(kid string) (keys.PublicKey, error) {
	k, ok := p[kid]
	if !ok {
		return keys.PublicKey{}, fmt.Errorf("pinned keys: %w: %q", keys.ErrUnknownKey, kid)
	}
	return k, nil
}

// parsePinned reads comma-separated note verifier keys.
func parsePinned(list string) (pinnedKeys, error) {
	p := pinnedKeys{}
	for _, vk := range splitList(list) {
		parts := strings.SplitN(vk, "+", 3)
		if len(parts) != 3 {
			return nil, usagef("--verifier-key %q: want <name>+<hash>+<key>", vk)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(parts[2])
		if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
			return nil, usagef("--verifier-key %q: not an Ed25519 note verifier key", vk)
		}
		k := keys.PublicKey{KID: parts[0], Owner: keys.OwnerExchange, Use: keys.UseAudit, Key: ed25519.PublicKey(raw[1:]), Status: keys.Active}
		if got, err := audit.NoteVerifierKey(k); err != nil || got != vk {
			return nil, usagef("--verifier-key %q: its key hash does not match its name and key", vk)
		}
		p[k.KID] = k
	}
	return p, nil
}

// checkpoint fetches the latest checkpoint and verifies it against the
// pinned keys, or else against the exchange's key directory.
func (s *auditSource) checkpoint(ctx context.Context) (string, audit.Checkpoint, keys.Resolver, error) {
	var dir keys.Resolver = s.pinned
	if s.pinned == nil {
		d, err := (&connectors.Requester{Client: &connectors.Client{BaseURL: s.base}}).Keys(ctx)
		if err != nil {
			return "", audit.Checkpoint{}, nil, err
		}
		dir = d
	}
	b, err := s.get(ctx, "/v1/audit/checkpoint")
	if err != nil {
		return "", audit.Checkpoint{}, nil, err
	}
	cp, err := audit.VerifyCheckpoint(string(b), dir)
	if err != nil {
		return "", audit.Checkpoint{}, nil, err
	}
	if cp.Origin != auditOrigin {
		return "", audit.Checkpoint{}, nil, fmt.Errorf("checkpoint: %w: %q, want %q", audit.ErrWrongLog, cp.Origin, auditOrigin)
	}
	return string(b), cp, dir, nil
}

// proof fetches an inclusion or consistency proof.
func (s *auditSource) proof(ctx context.Context, path string) ([][]byte, error) {
	b, err := s.get(ctx, path)
	if err != nil {
		return nil, err
	}
	var out struct {
		Proof []string `json:"proof"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return decodeHashes(path, out.Proof)
}

func decodeHashes(what string, in []string) ([][]byte, error) {
	out := make([][]byte, len(in))
	for i, s := range in {
		h, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s: element %d is not base64", what, i)
		}
		out[i] = h
	}
	return out, nil
}

// entries fetches entries [start, end) with their leaf hashes, in pages.
func (s *auditSource) entries(ctx context.Context, start, end uint64) (entries, leaves [][]byte, err error) {
	if s.client == nil {
		return nil, nil, usagef("reading entries needs an officer's --credentials")
	}
	for from := start; from < end; {
		to := min(end, from+auditPage)
		var page struct {
			Entries    []string `json:"entries"`
			LeafHashes []string `json:"leaf_hashes"`
		}
		path := fmt.Sprintf("/v1/audit/entries?start=%d&end=%d", from, to)
		if err := s.client.Do(ctx, "GET", path, nil, &page); err != nil {
			return nil, nil, err
		}
		if uint64(len(page.Entries)) != to-from || len(page.LeafHashes) != len(page.Entries) {
			return nil, nil, fmt.Errorf("GET %s: %d entries and %d leaf hashes, want %d", path, len(page.Entries), len(page.LeafHashes), to-from)
		}
		es, err := decodeHashes(path+" entries", page.Entries)
		if err != nil {
			return nil, nil, err
		}
		ls, err := decodeHashes(path+" leaf_hashes", page.LeafHashes)
		if err != nil {
			return nil, nil, err
		}
		entries, leaves = append(entries, es...), append(leaves, ls...)
		from = to
	}
	return entries, leaves, nil
}

// maxProve bounds how many inclusion proofs verify fetches to narrow a
// mismatch to one entry.
const maxProve = 10000

// firstUnproven returns the first index in [from, to) whose entry has no
// valid inclusion proof in cp's tree. A log that serves a bad proof for a
// good entry is misbehaving too, so the index is the first the exchange
// cannot prove.
func (s *auditSource) firstUnproven(ctx context.Context, entries [][]byte, from, to uint64, cp audit.Checkpoint) (uint64, error) {
	if to-from > maxProve {
		return 0, fmt.Errorf("%d entries: too many to prove one by one", to-from)
	}
	for i := from; i < to; i++ {
		prf, err := s.proof(ctx, fmt.Sprintf("/v1/audit/proof/inclusion?index=%d&size=%d", i, cp.Size))
		if err != nil || audit.VerifyInclusion(entries[i], i, cp.Size, prf, cp.Root) != nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("every entry has a valid inclusion proof")
}

func auditVerify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit verify")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit audit verify --exchange URL [--credentials officer.json] [--since FILE] [--out FILE] [--verifier-key VKEY]

Fetches the exchange's latest checkpoint (a C2SP tlog-checkpoint signed note)
and checks its signature against the key directory (GET /v1/keys), or only
against the note verifier keys given with --verifier-key. With an
officer's credentials it fetches every entry the checkpoint covers, rebuilds
the Merkle tree offline and names the first entry that does not match. With
--since, an earlier checkpoint kept in a file, it checks the consistency proof
that the log only grew since. Exits 1 on any failed check.

`)
		fs.PrintDefaults()
	}
	exURL := fs.String("exchange", "", "exchange base URL (default: from the credentials file)")
	cred := fs.String("credentials", "", "an officer's credentials file: check every entry, not only the signature")
	pin := fs.String("verifier-key", "", "trust only these note verifier keys (comma-separated, from GET /v1/audit/verifiers kept earlier), not the exchange's key directory")
	since := fs.String("since", "", "a checkpoint saved earlier (--out): check that the log only grew since")
	out := fs.String("out", "", "write the verified checkpoint to this file, for a later --since")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	// Text mode says each check as it passes; -o json prints the same
	// facts as one document once all passed (nothing on a failure).
	var res auditVerifyJSON
	say := func(format string, a ...any) {
		if !o.json {
			fmt.Fprintf(e.out, format, a...)
		}
	}
	src, err := newAuditSource(*exURL, *cred, *pin)
	if err != nil {
		return err
	}
	note, cp, dir, err := src.checkpoint(ctx)
	if err != nil {
		return err
	}
	res.Checkpoint = checkpointJSON(cp)
	say("checkpoint: %s size %d root %s time %s: signature ok\n", res.Checkpoint.Origin, res.Checkpoint.Size, res.Checkpoint.Root, res.Checkpoint.Time)
	notes := []string{note}
	if *since != "" {
		b, err := os.ReadFile(*since)
		if err != nil {
			return err
		}
		old, err := audit.VerifyCheckpoint(string(b), dir)
		if err != nil {
			return fmt.Errorf("--since %s: %w", *since, err)
		}
		var prf [][]byte
		if old.Size <= cp.Size {
			if prf, err = src.proof(ctx, fmt.Sprintf("/v1/audit/proof/consistency?from=%d&to=%d", old.Size, cp.Size)); err != nil {
				return err
			}
		}
		if err := audit.VerifyCheckpointConsistency(old, cp, prf); err != nil {
			return fmt.Errorf("--since %s: %w", *since, err)
		}
		res.ConsistentWith = &auditSinceJSON{File: *since, Size: old.Size}
		say("consistent with %s (size %d): ok\n", *since, old.Size)
		notes = append(notes, string(b))
	}
	if src.client != nil {
		entries, leaves, err := src.entries(ctx, 0, cp.Size)
		if err != nil {
			return err
		}
		if _, err := audit.VerifyExport(audit.Export{Entries: entries, Checkpoints: notes, LeafHashes: leaves}, auditOrigin, dir); err != nil {
			var te *audit.TamperError
			if !errors.As(err, &te) {
				return err
			}
			if te.End != te.Index+1 {
				// The served leaf hashes did not vouch for themselves:
				// prove each entry of the range against the signed root.
				bad, perr := src.firstUnproven(ctx, entries, te.Index, min(te.End, uint64(len(entries))), cp)
				if perr != nil {
					return fmt.Errorf("first bad entry in [%d, %d) (%v): %w", te.Index, te.End, perr, err)
				}
				return fmt.Errorf("first bad entry: %d: its inclusion proof does not verify against the signed root: %w", bad, err)
			}
			return fmt.Errorf("first bad entry: %d: %w", te.Index, err)
		}
		res.EntriesChecked, res.Entries = true, len(entries)
		say("entries: %d reproduce the signed root: ok\n", len(entries))
	} else {
		say("entries: not checked (they need an officer's --credentials)\n")
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(note), 0o644); err != nil {
			return err
		}
	}
	if o.json {
		return o.print(e, res, nil)
	}
	return nil
}

// auditVerifyJSON is `audit verify -o json`: what passed.
type auditVerifyJSON struct {
	Checkpoint     auditCheckpointJSON `json:"checkpoint"`
	ConsistentWith *auditSinceJSON     `json:"consistent_with,omitempty"`
	EntriesChecked bool                `json:"entries_checked"` // false without an officer's credentials
	Entries        int                 `json:"entries,omitempty"`
}

type auditCheckpointJSON struct {
	Origin    string `json:"origin"`
	Size      uint64 `json:"size"`
	Root      string `json:"root"` // base64
	Time      string `json:"time"`
	Signature string `json:"signature"` // "ok"
}

// checkpointJSON is a checkpoint whose signature verified, as -o json
// prints it.
func checkpointJSON(cp audit.Checkpoint) auditCheckpointJSON {
	return auditCheckpointJSON{Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root),
		Time: cp.Time.Format("2006-01-02T15:04:05Z07:00"), Signature: "ok"}
}

type auditSinceJSON struct {
	File string `json:"file"`
	Size uint64 `json:"size"`
}

func auditProve(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit prove")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit audit prove --exchange URL --index N (--entry FILE | --credentials officer.json)

Checks that entry N is in the audit log the exchange signed: fetches the
latest checkpoint (verified against the key directory) and the inclusion proof
of entry N in it, and verifies the proof over the entry's exact bytes (from
--entry, or fetched with an officer's credentials). Exits 1 if it is not.

`)
		fs.PrintDefaults()
	}
	exURL := fs.String("exchange", "", "exchange base URL (default: from the credentials file)")
	cred := fs.String("credentials", "", "an officer's credentials file, to fetch the entry")
	pin := fs.String("verifier-key", "", "trust only these note verifier keys (comma-separated), not the exchange's key directory")
	index := fs.Int64("index", -1, "the entry's index in the log (required)")
	entryFile := fs.String("entry", "", "a file holding the entry's exact bytes")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *index < 0 {
		return usagef("--index is required")
	}
	if (*entryFile == "") == (*cred == "") {
		return usagef("give one of --entry and --credentials")
	}
	src, err := newAuditSource(*exURL, *cred, *pin)
	if err != nil {
		return err
	}
	_, cp, _, err := src.checkpoint(ctx)
	if err != nil {
		return err
	}
	i := uint64(*index)
	if i >= cp.Size {
		return fmt.Errorf("entry %d: %w: the latest checkpoint covers %d entries; try again later", i, audit.ErrOutOfRange, cp.Size)
	}
	var entry []byte
	if *entryFile != "" {
		if entry, err = os.ReadFile(*entryFile); err != nil {
			return err
		}
	} else {
		es, _, err := src.entries(ctx, i, i+1)
		if err != nil {
			return err
		}
		entry = es[0]
	}
	prf, err := src.proof(ctx, "/v1/audit/proof/inclusion?"+url.Values{"index": {fmt.Sprint(i)}, "size": {fmt.Sprint(cp.Size)}}.Encode())
	if err != nil {
		return err
	}
	if err := audit.VerifyInclusion(entry, i, cp.Size, prf, cp.Root); err != nil {
		return fmt.Errorf("entry %d: %w", i, err)
	}
	if o.json {
		res := struct {
			Index    uint64 `json:"index"`
			Size     uint64 `json:"size"`     // of the signed log it is in
			Included bool   `json:"included"` // true: the proof verified
			Entry    string `json:"entry"`    // its exact bytes, which the proof covers (for a later --entry)
		}{i, cp.Size, true, string(entry)}
		return o.print(e, res, nil)
	}
	fmt.Fprintf(e.out, "entry %d is in the signed log of size %d: ok\n%s\n", i, cp.Size, entry)
	return nil
}
