package connectors

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"

	"github.com/onevisit/onevisit/exchange/keys"
)

// Credentials is a client's credentials file as dev mode writes it to
// DIR/clients/<client>.json (mode 0600). It holds private keys: keep it
// out of version control and logs.
type Credentials struct {
	ClientID string `json:"client_id"`
	Role     string `json:"role"`
	Name     string `json:"name,omitempty"`
	// AuthKey is the private Ed25519 JWK (with kid) that signs client
	// assertions at the token endpoint.
	AuthKey json.RawMessage `json:"auth_key"`
	// SigningKey is a publisher's private record key (JWK with kid).
	SigningKey json.RawMessage `json:"signing_key,omitempty"`
	Datasets   []string        `json:"datasets,omitempty"`
	Purposes   []string        `json:"purposes,omitempty"`
	// ExchangeURL and KafkaBrokers say where dev mode runs.
	ExchangeURL  string   `json:"exchange_url,omitempty"`
	KafkaBrokers []string `json:"kafka_brokers,omitempty"`
}

// LoadCredentials reads a credentials file.
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	var c Credentials
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("load credentials %s: %w", path, err)
	}
	if c.ClientID == "" || len(c.AuthKey) == 0 {
		return nil, fmt.Errorf("load credentials %s: client_id and auth_key are required", path)
	}
	return &c, nil
}

// AuthSigner returns the signer of the client's assertions.
func (c *Credentials) AuthSigner() (keys.Signer, error) { return signer(c.AuthKey, "auth_key") }

// RecordSigner returns a publisher's record signer.
func (c *Credentials) RecordSigner() (keys.Signer, error) {
	if len(c.SigningKey) == 0 {
		return nil, fmt.Errorf("credentials of %s: no signing_key (not a publisher)", c.ClientID)
	}
	return signer(c.SigningKey, "signing_key")
}

func signer(jwk json.RawMessage, what string) (keys.Signer, error) {
	kid, k, err := keys.ParsePrivateJWK(jwk)
	if err != nil {
		return nil, fmt.Errorf("credentials: %s: %w", what, err)
	}
	return keys.NewLocalSigner(kid, k), nil
}

// PublicKey returns the public half of a private JWK, for registries.
func PublicKey(jwk json.RawMessage) (string, ed25519.PublicKey, error) {
	kid, k, err := keys.ParsePrivateJWK(jwk)
	if err != nil {
		return "", nil, err
	}
	return kid, k.Public().(ed25519.PublicKey), nil
}
