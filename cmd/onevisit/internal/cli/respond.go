package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/sqlsource"
	"github.com/onevisit/onevisit/schemas"
)

// connectorCommands are the `connector` subcommands beside csv.
var connectorCommands = map[string]func(ctx context.Context, e *env, args []string) error{
	"respond": runRespond,
	"sql":     runSQL,
}

// runRespond is `onevisit connector respond`: a department's live-query
// responder (connectors.Responder) answering from a CSV file (dev and
// demonstrations) or from its PostgreSQL database (--dsn and
// --lookup-query, connectors/sqlsource); a department's own system can
// also plug its own LookupFunc into the SDK.
func runRespond(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "connector respond")
	dataset := fs.String("dataset", "", "live dataset to answer (required); the credentials' client needs a live grant for it")
	cred := fs.String("credentials", "", "publisher credentials file (required): its record key signs the answers")
	file := fs.String("file", "", "CSV file whose header names the dataset's fields; a subject not in it is answered \"no record\" (404)")
	dsn := fs.String("dsn", "", "instead of --file: PostgreSQL connection string (postgres://...), with --lookup-query")
	lookupQuery := fs.String("lookup-query", "", "with --dsn: a SELECT with one parameter $1, the subject, whose columns are the dataset's fields; no row answers \"no record\"")
	encoding := fs.String("encoding", connectors.EncodingUTF8, "text encoding of the file: utf-8 or gb18030")
	url := fs.String("exchange", "", "exchange base URL, for its key directory (default: from the credentials file)")
	brokers := fs.String("brokers", "", "Kafka brokers, comma separated (default: from the credentials file, then ONEVISIT_KAFKA_BROKERS)")
	ns := fs.String("namespace", "", "topic namespace (default onevisit)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dataset == "" || *cred == "" || (*file == "") == (*dsn == "") || (*dsn == "") != (*lookupQuery == "") {
		return usagef("--dataset, --credentials and either --file or --dsn with --lookup-query are required")
	}
	creds, client, err := loadClient(*cred, *url)
	if err != nil {
		return err
	}
	signer, err := creds.RecordSigner()
	if err != nil {
		return err
	}
	reg, ds, err := knownDataset(*dataset)
	if err != nil {
		return err
	}
	var lookup connectors.LookupFunc
	source := *file
	if *dsn != "" {
		db, err := pgxpool.New(ctx, *dsn)
		if err != nil {
			return fmt.Errorf("--dsn: %w", err)
		}
		defer db.Close()
		if lookup, err = sqlsource.Lookup(db, *lookupQuery); err != nil {
			return err
		}
		source = "the database's --lookup-query"
	} else if lookup, err = csvLookup(e, reg, ds, *file, *encoding); err != nil {
		return err
	}
	kc, err := clientKafka(*brokers, *ns, creds)
	if err != nil {
		return err
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
		Lookup: lookup, Keys: (&connectors.Requester{Client: client}).Keys,
		Reader: rd, Writer: w, Names: kc.Names, Logger: e.log,
	}
	fmt.Fprintf(e.out, "answering live queries of %s as %s from %s on %s; Ctrl-C to stop\n",
		*dataset, creds.ClientID, source, kc.Names.Request(*dataset))
	err = r.Run(ctx)
	answered, dropped := r.Counts()
	fmt.Fprintf(e.out, "stopped: %d answered, %d dropped\n", answered, dropped)
	return err
}

// csvLookup answers from the rows of a CSV file, refusing a file with an
// invalid row.
func csvLookup(e *env, reg *schemas.Registry, ds schemas.Dataset, file, encoding string) (connectors.LookupFunc, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	parsed, err := connectors.ParseCSV(f, reg, ds.Latest, encoding)
	f.Close()
	if err != nil {
		return nil, err
	}
	if len(parsed.Invalid) > 0 {
		for _, r := range parsed.Invalid {
			fmt.Fprintf(e.errOut, "line %d: %s %s: %s\n", r.Line, r.Code, r.Pointer, r.Message)
		}
		return nil, fmt.Errorf("%d of %d rows invalid; answering from none of them", len(parsed.Invalid), len(parsed.Invalid)+len(parsed.Rows))
	}
	return connectors.MapLookup(connectors.BySubject(parsed.Items, ds.Subject)), nil
}
