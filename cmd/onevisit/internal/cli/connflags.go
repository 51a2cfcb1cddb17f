package cli

import (
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/schemas"
)

// The steps the connector commands (client publish, respond, sql) share
// after parsing their flags.

// knownDataset is the built-in schema registry and its dataset name, or a
// usage error listing the datasets there are.
func knownDataset(name string) (*schemas.Registry, schemas.Dataset, error) {
	reg, err := schemas.Default()
	if err != nil {
		return nil, schemas.Dataset{}, err
	}
	ds, ok := reg.Dataset(name)
	if !ok {
		return nil, schemas.Dataset{}, usagef("unknown dataset %q (known: %v)", name, reg.Datasets())
	}
	return reg, ds, nil
}

// viaCredentials loads the credentials file and, for --via http, the
// exchange client; other transports need only the credentials, so a client
// that cannot be made is no error for them (and is nil).
func viaCredentials(cred, url, via string) (*connectors.Credentials, *connectors.Client, error) {
	creds, client, err := loadClient(cred, url)
	if err != nil && via == "http" {
		return nil, nil, err
	}
	if creds == nil {
		if creds, err = connectors.LoadCredentials(cred); err != nil {
			return nil, nil, err
		}
	}
	return creds, client, nil
}

// clientKafka is the Kafka config a connector runs with as its client:
// --brokers, else the credentials file's brokers (bus.FromEnv falls back to
// the environment), and the topics of --namespace.
func clientKafka(brokers, namespace string, creds *connectors.Credentials) (bus.Config, error) {
	bl := splitList(brokers)
	if len(bl) == 0 {
		bl = creds.KafkaBrokers
	}
	kc := bus.FromEnv(bl, creds.ClientID)
	kc.Names = bus.Names(namespace)
	if err := kc.Validate(); err != nil {
		return bus.Config{}, usagef("%v", err)
	}
	return kc, nil
}
