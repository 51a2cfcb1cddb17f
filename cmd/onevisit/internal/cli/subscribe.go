package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/onevisit/onevisit/connectors"
)

// errEnough stops the subscriber after --count deliveries.
var errEnough = errors.New("enough deliveries")

// runSubscribe is `onevisit connector subscribe`: it reads the consumer's
// delivery topic with connectors.Subscriber and writes each verified
// delivery as one JSON line to stdout; messages that do not verify are
// reported on stderr and skipped.
func runSubscribe(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "connector subscribe")
	cred := fs.String("credentials", "", "consumer credentials file (required)")
	url := fs.String("exchange", "", "exchange base URL, for its key directory (default: from the credentials file)")
	brokers := fs.String("brokers", "", "Kafka brokers, comma separated (default: from the credentials file); SASL from ONEVISIT_KAFKA_SASL_MECHANISM, ONEVISIT_KAFKA_USER, ONEVISIT_KAFKA_PASSWORD")
	namespace := fs.String("namespace", "", "topic namespace of the exchange (default onevisit)")
	count := fs.Int("count", 0, "exit after this many deliveries (0: run until interrupted)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cred == "" {
		return usagef("--credentials is required")
	}
	creds, client, err := loadClient(*cred, *url)
	if err != nil {
		return err
	}
	kc, err := clientKafka(*brokers, *namespace, creds)
	if err != nil {
		return err
	}
	s := &connectors.Subscriber{Requester: &connectors.Requester{Client: client}, Kafka: kc,
		OnRefused: func(partition int, offset int64, err error) {
			fmt.Fprintf(e.errOut, "refused: %s partition %d offset %d: %v\n", kc.Names.Deliver(creds.ClientID), partition, offset, err)
		}}
	enc := json.NewEncoder(e.out)
	n := 0
	err = s.Run(ctx, func(_ context.Context, d connectors.Delivery) error {
		if err := enc.Encode(d); err != nil {
			return err
		}
		if n++; *count > 0 && n >= *count {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

func init() { connectorCommands["subscribe"] = runSubscribe }
