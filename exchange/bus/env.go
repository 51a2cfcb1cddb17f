package bus

import (
	"os"
	"strings"
)

// The environment variables that name a Kafka cluster and its SASL
// credentials for the command line (connector, bench), dev mode's tests
// and deploy/kafka's tests. A node's config file names its own password
// variable (kafka.password_env, default EnvPassword).
const (
	EnvBrokers       = "ONEVISIT_KAFKA_BROKERS" // comma separated host:port
	EnvSASLMechanism = "ONEVISIT_KAFKA_SASL_MECHANISM"
	EnvUser          = "ONEVISIT_KAFKA_USER"
	EnvPassword      = "ONEVISIT_KAFKA_PASSWORD"
)

// BrokersFromEnv returns the addresses in ONEVISIT_KAFKA_BROKERS, blanks
// dropped; none when it is unset.
func BrokersFromEnv() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// FromEnv returns the connection to brokers (ONEVISIT_KAFKA_BROKERS when
// brokers is empty) with the SASL mechanism, user and password from the
// environment, as clientID. It does not validate: call Validate.
func FromEnv(brokers []string, clientID string) Config {
	if len(brokers) == 0 {
		brokers = BrokersFromEnv()
	}
	return Config{
		Brokers: brokers, ClientID: clientID,
		SASLMechanism: os.Getenv(EnvSASLMechanism), User: os.Getenv(EnvUser), Password: os.Getenv(EnvPassword),
	}
}
