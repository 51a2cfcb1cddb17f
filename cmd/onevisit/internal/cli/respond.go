package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/schemas"
)

// connectorCommands are the `connector` subcommands beside csv.
var connectorCommands = map[string]func(ctx context.Context, e *env, args []string) error{
	"respond": runRespond,
}

// runRespond is `onevisit connector respond`: a department's live-query
// responder (connectors.Responder) answering from a CSV file, for dev
// and demonstrations; a department's own system plugs its own
// LookupFunc into the SDK instead.
func runRespond(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "connector respond")
	dataset := fs.String("dataset", "", "live dataset to answer (required); the credentials' client needs a live grant for it")
	cred := fs.String("credentials", "", "publisher credentials file (required): its record key signs the answers")
	file := fs.String("file", "", "CSV file whose header names the dataset's fields (required); a subject not in it is answered \"no record\" (404)")
	encoding := fs.String("encoding", connectors.EncodingUTF8, "text encoding of the file: utf-8 or gb18030")
	url := fs.String("exchange", "", "exchange base URL, for its key directory (default: from the credentials file)")
	brokers := fs.String("brokers", "", "Kafka brokers, comma separated (default: from the credentials file, then ONEVISIT_KAFKA_BROKERS)")
	ns := fs.String("namespace", "", "topic namespace (default onevisit)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dataset == "" || *cred == "" || *file == "" {
		return usagef("--dataset, --credentials and --file are required")
	}
	creds, client, err := loadClient(*cred, *url)
	if err != nil {
		return err
	}
	signer, err := creds.RecordSigner()
	if err != nil {
		return err
	}
	reg, err := schemas.Default()
	if err != nil {
		return err
	}
	ds, ok := reg.Dataset(*dataset)
	if !ok {
		return usagef("unknown dataset %q (known: %v)", *dataset, reg.Datasets())
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	parsed, err := connectors.ParseCSV(f, reg, ds.Latest, *encoding)
	f.Close()
	if err != nil {
		return err
	}
	if len(parsed.Invalid) > 0 {
		for _, r := range parsed.Invalid {
			fmt.Fprintf(e.errOut, "line %d: %s %s: %s\n", r.Line, r.Code, r.Pointer, r.Message)
		}
		return fmt.Errorf("%d of %d rows invalid; answering from none of them", len(parsed.Invalid), len(parsed.Invalid)+len(parsed.Rows))
	}
	by := map[string]map[string]any{}
	for _, it := range parsed.Items {
		if s, ok := it.Fields[ds.Subject].(string); ok {
			by[s] = it.Fields
		}
	}
	bl := splitList(*brokers)
	if len(bl) == 0 {
		bl = creds.KafkaBrokers
	}
	kc := bus.FromEnv(bl, creds.ClientID)
	kc.Names = bus.Names(*ns)
	if err := kc.Validate(); err != nil {
		return usagef("%v", err)
	}
	rd, err := kc.GroupReader(kc.Names.Responders(*dataset), []string{kc.Names.Request(*dataset)})
	if err != nil {
		return err
	}
	defer rd.Close()
	w, err := kc.Writer()
	if err != nil {
		return err
	}
	defer w.Close()
	r := &connectors.Responder{
		Issuer: creds.ClientID, Dataset: *dataset, Schema: ds.Latest, SubjectField: ds.Subject, Signer: signer,
		Lookup: connectors.MapLookup(by), Keys: (&connectors.Requester{Client: client}).Keys,
		Reader: rd, Writer: w, Names: kc.Names, Logger: e.log,
	}
	fmt.Fprintf(e.out, "answering live queries of %s as %s from %s (%d records) on %s; Ctrl-C to stop\n",
		*dataset, creds.ClientID, *file, len(by), kc.Names.Request(*dataset))
	err = r.Run(ctx)
	answered, dropped := r.Counts()
	fmt.Fprintf(e.out, "stopped: %d answered, %d dropped\n", answered, dropped)
	return err
}
