package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/keys/vault"
)

func loadClient(credPath, exchangeURL string) (*connectors.Credentials, *connectors.Client, error) {
	cred, err := connectors.LoadCredentials(credPath)
	if err != nil {
		return nil, nil, err
	}
	if exchangeURL == "" {
		exchangeURL = cred.ExchangeURL
	}
	if exchangeURL == "" {
		return nil, nil, usagef("--exchange is required (the credentials file names none)")
	}
	s, err := cred.AuthSigner()
	if err != nil {
		return nil, nil, err
	}
	return cred, &connectors.Client{BaseURL: exchangeURL, ClientID: cred.ClientID, Auth: s}, nil
}

func runToken(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "token")
	cred := fs.String("credentials", "", "client credentials file (required)")
	url := fs.String("exchange", "", "exchange base URL (default: from the credentials file)")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cred == "" {
		return usagef("--credentials is required")
	}
	_, c, err := loadClient(*cred, *url)
	if err != nil {
		return err
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	return o.print(e, struct {
		Token string `json:"token"`
	}{tok}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, tok)
		return err
	})
}

func runQuery(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "query")
	cred := fs.String("credentials", "", "consumer credentials file (required)")
	url := fs.String("exchange", "", "exchange base URL (default: from the credentials file)")
	var q connectors.Query
	fs.StringVar(&q.Dataset, "dataset", "", "dataset (required)")
	fs.StringVar(&q.Subject, "subject", "", "resident identity number; for a dataset about organisations (business_licence) the unified social credit code (required)")
	fs.StringVar(&q.Purpose, "purpose", "", "purpose (required)")
	fs.StringVar(&q.CaseID, "case-id", "", "case id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cred == "" || q.Dataset == "" || q.Subject == "" || q.Purpose == "" {
		return usagef("--credentials, --dataset, --subject and --purpose are required")
	}
	_, c, err := loadClient(*cred, *url)
	if err != nil {
		return err
	}
	a, err := (&connectors.Requester{Client: c}).Query(ctx, q)
	if err != nil {
		return err
	}
	out := map[string]any{
		"verified":   true,
		"record_id":  a.Record.ID,
		"issuer":     a.Record.Issuer,
		"key":        a.Record.KID,
		"schema":     a.Record.Schema,
		"data":       a.Data,
		"receipt":    map[string]any{"request_id": a.Receipt.ID, "fields": a.Receipt.Fields, "policy": a.Receipt.Policy},
		"request_id": a.RequestID,
	}
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func runConnector(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && connectorCommands[args[0]] != nil {
		return connectorCommands[args[0]](ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "csv" {
		return usagef("want `connector csv --dataset D --file F --credentials C [--via kafka|http]`, `connector respond --dataset D --credentials C --file F`, `connector sql --dsn postgres://... --dataset D --query Q --cursor COL --credentials C` or `connector subscribe --credentials C`")
	}
	fs := flags(e, "connector csv")
	dataset := fs.String("dataset", "", "dataset (required)")
	file := fs.String("file", "", "CSV file whose header names the dataset's fields (required)")
	cred := fs.String("credentials", "", "publisher credentials file (required)")
	via := fs.String("via", "kafka", "kafka: write to the ingest topic; http: POST to the exchange and print per-record results")
	url := fs.String("exchange", "", "exchange base URL for --via http (default: from the credentials file)")
	brokers := fs.String("brokers", "", "Kafka brokers for --via kafka, comma separated (default: from the credentials file)")
	vaultKey := fs.String("vault-key", "", "sign through this Vault transit key (VAULT_ADDR, VAULT_TOKEN from the environment) instead of the credentials file's signing_key; records wait in a bounded spool while Vault is unavailable")
	health := fs.String("health", "", "with --vault-key: serve /healthz and /metrics on this address while running")
	encoding := fs.String("encoding", connectors.EncodingUTF8, "text encoding of the file: utf-8 (a BOM is skipped) or gb18030 (GBK files from Excel and older department systems)")
	reportFile := fs.String("report", "", "also write the per-row report as JSON to this file")
	o := outputFlag(fs) // -o json prints the per-row report (as --report writes it) instead of the text
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *dataset == "" || *file == "" || *cred == "" {
		return usagef("--dataset, --file and --credentials are required")
	}
	if *reportFile != "" && *vaultKey != "" {
		return usagef("--report does not work with --vault-key yet (the spool reports records, not rows)")
	}
	creds, client, err := viaCredentials(*cred, *url, *via)
	if err != nil {
		return err
	}
	reg, ds, err := knownDataset(*dataset)
	if err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	parsed, err := connectors.ParseCSV(f, reg, ds.Latest, *encoding)
	if err != nil {
		return err
	}
	rep := &csvReport{File: *file, Dataset: *dataset, Encoding: *encoding, Via: *via, out: o}
	if len(parsed.Invalid) > 0 {
		// Nothing is signed or sent from a file with invalid rows: fix them
		// and run again (record ids make the rerun idempotent).
		rep.Results = append(rep.Results, parsed.Invalid...)
		for _, r := range parsed.Rows {
			r.Status = statusUnsent
			rep.Results = append(rep.Results, r)
		}
		return rep.finish(e, *reportFile, fmt.Sprintf("%d of %d rows invalid; nothing was signed or sent", len(parsed.Invalid), len(parsed.Invalid)+len(parsed.Rows)))
	}
	items := parsed.Items
	var signer keys.Signer
	if *vaultKey != "" {
		vs, err := vault.New(vault.FromEnv(*vaultKey, creds.ClientID, keys.UseRecord), e.log)
		if err != nil {
			return err
		}
		defer vs.Close()
		if err := vs.Start(ctx); err != nil {
			return err
		}
		signer = vs
	} else if signer, err = creds.RecordSigner(); err != nil {
		return err
	}
	p := &connectors.Publisher{Issuer: creds.ClientID, Dataset: *dataset, Schema: ds.Latest, SubjectField: ds.Subject, Signer: signer}
	switch *via {
	case "http":
		p.Sink = connectors.HTTPSink{Client: client}
	case "kafka":
		bl := splitList(*brokers)
		if len(bl) == 0 {
			bl = creds.KafkaBrokers
		}
		kc := bus.FromEnv(bl, "")
		if err := kc.Validate(); err != nil {
			return usagef("%v", err)
		}
		w, err := kc.Writer()
		if err != nil {
			return err
		}
		defer w.Close()
		p.Sink = connectors.KafkaSink{Writer: w}
	default:
		return usagef("--via %q: want kafka or http", *via)
	}
	if *vaultKey != "" {
		return spoolPublish(ctx, e, p, items, *health)
	}
	ids, results, err := p.Publish(ctx, items)
	if err != nil {
		return err
	}
	rep.Results = parsed.Rows
	for i := range rep.Results {
		rep.Results[i].RecordID = ids[i]
	}
	if *via == "kafka" {
		for i := range rep.Results {
			rep.Results[i].Status = connectors.StatusSent
		}
		if !o.json {
			fmt.Fprintf(e.out, "wrote %d signed %s records to %s (acks=all); the exchange verifies them from there\n", len(ids), *dataset, bus.Names("").Ingest(*dataset))
		}
		return rep.finish(e, *reportFile, "")
	}
	for _, r := range results {
		if r.Index < 0 || r.Index >= len(rep.Results) {
			return fmt.Errorf("the exchange answered for record %d of %d", r.Index, len(rep.Results))
		}
		row := &rep.Results[r.Index]
		row.Status, row.Code, row.Pointer, row.Message = string(r.Status), r.Code, r.Pointer, r.Message
	}
	if len(results) != len(rep.Results) {
		return fmt.Errorf("the exchange answered for %d of %d records", len(results), len(rep.Results))
	}
	failed := ""
	if n := rep.count("rejected"); n > 0 {
		failed = fmt.Sprintf("%d of %d rows rejected by the exchange", n, len(rep.Results))
	}
	return rep.finish(e, *reportFile, failed)
}

const statusUnsent = "unsent" // valid, but not sent: other rows are invalid

// csvReport is the CSV connector's per-row report: printed (rows that
// were not accepted, then a summary) and, with --report, written as JSON.
type csvReport struct {
	File      string                 `json:"file"`
	Dataset   string                 `json:"dataset"`
	Encoding  string                 `json:"encoding"`
	Via       string                 `json:"via"`
	Rows      int                    `json:"rows"`
	Accepted  int                    `json:"accepted"`
	Duplicate int                    `json:"duplicate"`
	Rejected  int                    `json:"rejected"`
	Invalid   int                    `json:"invalid"`
	Sent      int                    `json:"sent"`
	Unsent    int                    `json:"unsent"`
	Results   []connectors.RowResult `json:"results"`
	out       *output                // -o
}

func (r *csvReport) count(status string) int {
	n := 0
	for _, x := range r.Results {
		if x.Status == status {
			n++
		}
	}
	return n
}

// finish prints the report, writes it to path (if any) and returns an
// error (a non-zero exit) when failed says why the run failed.
func (r *csvReport) finish(e *env, path, failed string) error {
	sort.SliceStable(r.Results, func(i, j int) bool { return r.Results[i].Row < r.Results[j].Row })
	r.Rows = len(r.Results)
	r.Accepted, r.Duplicate, r.Rejected = r.count("accepted"), r.count("duplicate"), r.count("rejected")
	r.Invalid, r.Sent, r.Unsent = r.count(connectors.StatusInvalid), r.count(connectors.StatusSent), r.count(statusUnsent)
	if err := r.out.print(e, r, r.text); err != nil {
		return err
	}
	if path != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if failed != "" {
		return errors.New(failed)
	}
	return nil
}

// text is the report as lines: every invalid or rejected row, then the
// counts (none for a file sent whole to Kafka).
func (r *csvReport) text(w io.Writer) error {
	for _, x := range r.Results {
		if x.Status != connectors.StatusInvalid && x.Status != "rejected" {
			continue
		}
		where := x.Code
		if x.Pointer != "" {
			where += " " + x.Pointer
		}
		fmt.Fprintf(w, "row %d (line %d): %s %s: %s\n", x.Row, x.Line, x.Status, where, x.Message)
	}
	switch {
	case r.Via == "kafka" && r.Invalid == 0:
	case r.Invalid > 0:
		fmt.Fprintf(w, "%d rows: %d invalid, %d not sent\n", r.Rows, r.Invalid, r.Unsent)
	default:
		fmt.Fprintf(w, "%d rows: %d accepted, %d duplicate, %d rejected\n", r.Rows, r.Accepted, r.Duplicate, r.Rejected)
	}
	return nil
}

// spoolPublish sends items through a Spool, so a Vault or exchange outage
// makes the connector wait and retry rather than fail or send unsigned.
func spoolPublish(ctx context.Context, e *env, p *connectors.Publisher, items []connectors.Item, healthAddr string) error {
	reg := prometheus.NewRegistry()
	sp, err := connectors.NewSpool(p, connectors.SpoolConfig{}, reg, e.log)
	if err != nil {
		return err
	}
	defer sp.Close()
	if healthAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /healthz", sp.HealthHandler())
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Addr: healthAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	if err := sp.Offer(items...); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sp.Run(runCtx) }()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for sp.Buffered() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped with %d records unsent", sp.Buffered())
		case err := <-done:
			return err
		case <-t.C:
			if h := sp.Health(); h != nil {
				e.log.Warn("connector degraded; retrying", "err", h)
			}
		}
	}
	failed := sp.Failed()
	for _, f := range failed {
		fmt.Fprintf(e.out, "refused for good: %s: %v\n", f.Item.ID, f.Err)
	}
	fmt.Fprintf(e.out, "sent %d records signed in Vault (%d refused for good)\n", len(items)-len(failed), len(failed))
	return nil
}
