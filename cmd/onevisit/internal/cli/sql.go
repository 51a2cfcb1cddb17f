package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/sqlsource"
)

// runSQL is `onevisit connector sql`: a department's PostgreSQL table
// published through the publisher path (connectors/sqlsource): a full
// snapshot, then the changes by a monotonic cursor column, polling; the
// cursor persisted in --state so a restart resumes.
func runSQL(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "connector sql")
	dsn := fs.String("dsn", "", "PostgreSQL connection string, postgres://... (required)")
	dataset := fs.String("dataset", "", "dataset (required)")
	query := fs.String("query", "", "SELECT whose columns are the dataset's fields and the cursor column (required)")
	cursor := fs.String("cursor", "", "monotonic column: grows with every insert and update (required)")
	cred := fs.String("credentials", "", "publisher credentials file (required)")
	state := fs.String("state", "", "file keeping the cursor between runs (default: <dataset>.cursor.json)")
	via := fs.String("via", "kafka", "kafka: write to the ingest topic; http: POST to the exchange")
	url := fs.String("exchange", "", "exchange base URL for --via http (default: from the credentials file)")
	brokers := fs.String("brokers", "", "Kafka brokers for --via kafka, comma separated (default: from the credentials file)")
	ns := fs.String("namespace", "", "topic namespace for --via kafka (default onevisit)")
	poll := fs.Duration("poll", sqlsource.DefaultPoll, "how often to look for changes")
	once := fs.Bool("once", false, "publish what is there and exit, instead of polling")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dsn == "" || *dataset == "" || *query == "" || *cursor == "" || *cred == "" {
		return usagef("--dsn, --dataset, --query, --cursor and --credentials are required")
	}
	if *state == "" {
		*state = *dataset + ".cursor.json"
	}
	creds, client, err := viaCredentials(*cred, *url, *via)
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
	p := &connectors.Publisher{Issuer: creds.ClientID, Dataset: *dataset, Schema: ds.Latest, SubjectField: ds.Subject, Signer: signer}
	switch *via {
	case "http":
		p.Sink = connectors.HTTPSink{Client: client}
	case "kafka":
		kc, err := clientKafka(*brokers, *ns, creds)
		if err != nil {
			return err
		}
		w, err := kc.Writer()
		if err != nil {
			return err
		}
		defer w.Close()
		p.Sink = connectors.KafkaSink{Writer: w, Names: kc.Names}
	default:
		return usagef("--via %q: want kafka or http", *via)
	}
	db, err := pgxpool.New(ctx, *dsn)
	if err != nil {
		return fmt.Errorf("--dsn: %w", err)
	}
	defer db.Close()
	src := &sqlsource.Source{DB: db, Query: *query, Cursor: *cursor, State: *state, Publisher: p, Schemas: reg, Poll: *poll, Logger: e.log}
	report := func(st sqlsource.Stats) {
		for _, r := range st.Invalid {
			fmt.Fprintf(e.out, "row at cursor %s: %s %s: %s\n", r.Cursor, r.Code, r.Pointer, r.Message)
		}
		fmt.Fprintf(e.out, "published %d %s records, %d rows invalid; cursor %s\n", st.Published, *dataset, len(st.Invalid), st.Cursor)
	}
	if *once {
		st, err := src.Sync(ctx)
		report(st)
		if err != nil {
			return err
		}
		if len(st.Invalid) > 0 {
			return fmt.Errorf("%d rows invalid (reported above; the others were published)", len(st.Invalid))
		}
		return nil
	}
	fmt.Fprintf(e.out, "publishing %s from the database every %s (cursor %s, state %s); Ctrl-C to stop\n", *dataset, *poll, *cursor, *state)
	return src.Run(ctx, report)
}
