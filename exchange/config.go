package exchange

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/citizen"
	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/keys/vault"
	"github.com/onevisit/onevisit/policy"
	"github.com/onevisit/onevisit/schemas"
)

// Config is an exchange node's config file (YAML). Every key is
// documented in deploy/README.md. Unknown keys are errors. Secrets are
// never in the file: it names environment variables that hold them.
type Config struct {
	Node string     `yaml:"node"`
	HTTP HTTPConfig `yaml:"http"`
	// Kafka says how to reach the cluster.
	Kafka  KafkaConfig  `yaml:"kafka"`
	Topics TopicsConfig `yaml:"topics"`
	// Clients is the client registry file (see exchange/clients).
	Clients string `yaml:"clients"`
	// Policies is a folder of policy YAML; empty means the built-in
	// example policies (dev and tests only).
	Policies string `yaml:"policies"`
	// PolicyApprovals is N, the distinct officers a widening policy
	// change needs (policy governance); 0 means 2.
	PolicyApprovals int `yaml:"policy_approvals"`
	// Schemas is a folder of dataset schemas; empty means the built-in set.
	Schemas string       `yaml:"schemas"`
	Keys    KeysConfig   `yaml:"keys"`
	Ingest  IngestConfig `yaml:"ingest"`
	View    ViewConfig   `yaml:"view"`
	Audit   AuditConfig  `yaml:"audit"`
	// Citizen is the OpenID Connect provider residents sign in with for
	// the citizen page (/me); unset: citizen sign-in is off.
	Citizen citizen.Config `yaml:"citizen"`
}

// IngestConfig tunes the acceptance pipeline.
type IngestConfig struct {
	// FutureSkew is how far ahead of the node's clock a record's iat may
	// be; 0 means 5 minutes.
	FutureSkew time.Duration `yaml:"future_skew"`
}

// HTTPConfig is the API listener.
type HTTPConfig struct {
	Addr      string `yaml:"addr"`
	PublicURL string `yaml:"public_url"`
	// TLSCert and TLSKey are PEM files; with both set the listener
	// speaks only HTTPS (TLS 1.2 and up), and reads the pair again when
	// the files change. Without them it speaks plain HTTP, for TLS
	// terminated in front of the node (an ingress).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// KafkaConfig is the cluster connection.
type KafkaConfig struct {
	Brokers []string `yaml:"brokers"`
	// Namespace prefixes every topic and group name (default onevisit).
	Namespace     string        `yaml:"namespace"`
	SASLMechanism string        `yaml:"sasl_mechanism"`
	User          string        `yaml:"user"`
	PasswordEnv   string        `yaml:"password_env"`
	TLS           TLSConfig     `yaml:"tls"`
	ClientID      string        `yaml:"client_id"`
	BatchTimeout  time.Duration `yaml:"batch_timeout"`
}

// TLSConfig turns on TLS to the brokers.
type TLSConfig struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// TopicsConfig lays out the topics.
type TopicsConfig struct {
	Partitions        int  `yaml:"partitions"`
	ReplicationFactor int  `yaml:"replication_factor"`
	MinInsyncReplicas int  `yaml:"min_insync_replicas"`
	Create            bool `yaml:"create"`
}

// KeysConfig says where the exchange's keys live.
type KeysConfig struct {
	Backend      string      `yaml:"backend"` // file or vault
	Dir          string      `yaml:"dir"`     // file backend
	Vault        VaultConfig `yaml:"vault"`
	TokenKey     string      `yaml:"token_key"`
	ReceiptKey   string      `yaml:"receipt_key"`
	AuditKey     string      `yaml:"audit_key"`
	PseudonymKey string      `yaml:"pseudonym_key"`
	// Refresh is how often the exchange re-reads its key versions from
	// the backend (default 30s): the bound on how stale they can be.
	Refresh time.Duration `yaml:"refresh"`
	// Grace is how long the node keeps verifying and answering with its
	// cached key versions while the backend cannot be reached; past it,
	// ingest and queries fail closed with keys_stale. 0 means no limit
	// (file backend).
	Grace time.Duration `yaml:"grace"`
}

// VaultConfig is the Vault transit backend.
type VaultConfig struct {
	Address     string `yaml:"address"`
	Mount       string `yaml:"mount"`
	Auth        string `yaml:"auth"` // approle or token
	RoleIDEnv   string `yaml:"role_id_env"`
	SecretIDEnv string `yaml:"secret_id_env"`
	TokenEnv    string `yaml:"token_env"`
}

// WithDefaults fills the key names and timings left empty.
func (k KeysConfig) WithDefaults() KeysConfig {
	if k.Backend == "" {
		k.Backend = DefaultKeyBackend
	}
	if k.TokenKey == "" {
		k.TokenKey = DefaultTokenKey
	}
	if k.ReceiptKey == "" {
		k.ReceiptKey = DefaultReceiptKey
	}
	if k.AuditKey == "" {
		k.AuditKey = DefaultAuditKey
	}
	if k.PseudonymKey == "" {
		k.PseudonymKey = DefaultPseudonymKey
	}
	if k.Refresh == 0 {
		k.Refresh = DefaultKeyRefresh
	}
	if k.Backend == "vault" {
		if k.Grace == 0 {
			k.Grace = DefaultVaultGrace
		}
		if k.Vault.Mount == "" {
			k.Vault.Mount = DefaultVaultMount
		}
		if k.Vault.TokenEnv == "" {
			k.Vault.TokenEnv = DefaultVaultTokenEnv
		}
	}
	return k
}

// OpenKeys opens the backend the config names.
func OpenKeys(ctx context.Context, c KeysConfig, lg *slog.Logger) (KeyBackend, error) {
	switch c.Backend {
	case "file":
		return FileKeys(c)
	case "vault":
		return VaultKeys(ctx, c, lg)
	}
	return KeyBackend{}, fmt.Errorf("keys.backend %q: want file or vault", c.Backend)
}

// LoadConfig reads and validates a config file, filling defaults.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	c.defaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

func (c *Config) defaults() {
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	if c.HTTP.PublicURL == "" {
		c.HTTP.PublicURL = "http://" + c.HTTP.Addr
		if c.HTTP.TLSCert != "" {
			c.HTTP.PublicURL = "https://" + c.HTTP.Addr
		}
	}
	c.Keys = c.Keys.WithDefaults()
	if c.Kafka.PasswordEnv == "" {
		c.Kafka.PasswordEnv = DefaultKafkaPasswordEnv
	}
}

// Validate names the first bad key and its allowed values.
func (c Config) Validate() error {
	if c.Clients == "" {
		return errors.New("clients: the client registry file is required")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		return errors.New("http.tls_cert, http.tls_key: set both (HTTPS) or neither (plain HTTP, TLS terminated in front of the node)")
	}
	if c.Ingest.FutureSkew < 0 {
		return fmt.Errorf("ingest.future_skew: %s is negative; want a duration such as 5m", c.Ingest.FutureSkew)
	}
	if c.Citizen.Enabled() {
		if err := c.Citizen.WithDefaults().Validate(); err != nil {
			return err
		}
	}
	if err := c.checkApart(); err != nil {
		return err
	}
	switch c.Keys.Backend {
	case "file":
		if c.Keys.Dir == "" {
			return errors.New("keys.dir: required with keys.backend file")
		}
	case "vault":
		if c.Keys.Vault.Address == "" {
			return errors.New("keys.vault.address: required with keys.backend vault")
		}
		switch c.Keys.Vault.Auth {
		case "approle", "token":
		default:
			return fmt.Errorf("keys.vault.auth %q: want approle or token", c.Keys.Vault.Auth)
		}
	default:
		return fmt.Errorf("keys.backend %q: want file or vault", c.Keys.Backend)
	}
	if c.Topics.ReplicationFactor < 0 || c.Topics.Partitions < 0 || c.Topics.MinInsyncReplicas < 0 {
		return errors.New("topics: counts must not be negative")
	}
	return c.bus().Validate()
}

func (c Config) bus() bus.Config {
	return bus.Config{
		Brokers: c.Kafka.Brokers, Names: bus.Names(c.Kafka.Namespace), SASLMechanism: c.Kafka.SASLMechanism, User: c.Kafka.User,
		Password: os.Getenv(c.Kafka.PasswordEnv), ClientID: c.Kafka.ClientID, BatchTimeout: c.Kafka.BatchTimeout,
	}
}

// Bus returns the Kafka connection with the password read from the
// environment and TLS loaded.
func (c Config) Bus() (bus.Config, error) {
	b := c.bus()
	if c.Kafka.TLS.Enabled {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.Kafka.TLS.ServerName}
		if c.Kafka.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.Kafka.TLS.CAFile)
			if err != nil {
				return bus.Config{}, fmt.Errorf("kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return bus.Config{}, fmt.Errorf("kafka.tls.ca_file: no certificate in %s", c.Kafka.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		b.TLS = tc
	}
	return b, nil
}

// KeyBackend is what a key backend gives a node.
type KeyBackend struct {
	Token, Receipt, Audit keys.Signer
	Pseudonyms            keys.HMACer
	Public                []keys.PublicKey
	// Refresh re-reads the exchange's key versions (nil: they never
	// change while the node runs).
	Refresh func(ctx context.Context) ([]keys.PublicKey, error)
	Close   func()
}

// VaultKeys opens the exchange's keys in Vault's transit engine and logs
// in. The pseudonym key's HMAC version is pinned to 1, so rotating that
// key never changes a subject's pseudonym.
func VaultKeys(ctx context.Context, c KeysConfig, lg *slog.Logger) (KeyBackend, error) {
	v := c.Vault
	auth := vault.Auth{TokenEnv: v.TokenEnv}
	if v.Auth == "approle" {
		auth = vault.Auth{AppRole: &vault.AppRole{RoleID: os.Getenv(v.RoleIDEnv), SecretIDEnv: v.SecretIDEnv}}
	}
	var started []*vault.Signer
	kb := KeyBackend{Close: func() {
		for _, s := range started {
			s.Close()
		}
	}}
	open := func(name string, use keys.Use, hmacVersion int) (*vault.Signer, error) {
		s, err := vault.New(vault.Config{Address: v.Address, Mount: v.Mount, Key: name, Owner: keys.OwnerExchange, Use: use, Auth: auth, HMACVersion: hmacVersion}, lg)
		if err != nil {
			return nil, err
		}
		if err := s.Start(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("vault key %s: %w", name, err)
		}
		started = append(started, s)
		return s, nil
	}
	var signers []*vault.Signer
	for _, k := range []struct {
		name string
		use  keys.Use
		dst  *keys.Signer
	}{{c.TokenKey, keys.UseToken, &kb.Token}, {c.ReceiptKey, keys.UseReceipt, &kb.Receipt}, {c.AuditKey, keys.UseAudit, &kb.Audit}} {
		s, err := open(k.name, k.use, 0)
		if err != nil {
			kb.Close()
			return KeyBackend{}, err
		}
		*k.dst = s
		signers = append(signers, s)
	}
	ps, err := open(c.PseudonymKey, "", 1)
	if err != nil {
		kb.Close()
		return KeyBackend{}, err
	}
	kb.Pseudonyms = ps
	kb.Refresh = func(ctx context.Context) ([]keys.PublicKey, error) {
		var all []keys.PublicKey
		for _, s := range signers {
			vs, err := s.Refresh(ctx)
			if err != nil {
				return nil, err
			}
			all = append(all, vs...)
		}
		return all, nil
	}
	if kb.Public, err = kb.Refresh(ctx); err != nil {
		kb.Close()
		return KeyBackend{}, err
	}
	return kb, nil
}

// FileKeys opens the file keystore backend. Its Refresh re-reads the
// keystore folder.
func FileKeys(c KeysConfig) (KeyBackend, error) {
	store := keys.OpenFileStore(c.Dir)
	var kb KeyBackend
	var err error
	if kb.Token, err = store.Signer(c.TokenKey, "exchange", keys.UseToken); err != nil {
		return kb, err
	}
	if kb.Receipt, err = store.Signer(c.ReceiptKey, "exchange", keys.UseReceipt); err != nil {
		return kb, err
	}
	if kb.Audit, err = store.Signer(c.AuditKey, "exchange", keys.UseAudit); err != nil {
		return kb, err
	}
	if kb.Pseudonyms, err = store.HMACer(c.PseudonymKey); err != nil {
		return kb, err
	}
	kb.Public, err = store.PublicKeys()
	kb.Close = func() {}
	// Re-reading the folder picks up a rotation or revocation another
	// process made there (the break-glass procedure, deploy/README.md).
	kb.Refresh = func(context.Context) ([]keys.PublicKey, error) {
		store.Reload()
		return store.PublicKeys()
	}
	return kb, err
}

// Parts loads what a config names into a node's parts.
func (c Config) Parts(kb KeyBackend, lg *slog.Logger) (Parts, error) {
	bc, err := c.Bus()
	if err != nil {
		return Parts{}, err
	}
	var reg *schemas.Registry
	if c.Schemas == "" {
		reg, err = schemas.Default()
	} else {
		reg, err = schemas.Load(os.DirFS(c.Schemas))
	}
	if err != nil {
		return Parts{}, err
	}
	var pol *policy.Set
	if c.Policies == "" {
		pol, err = policy.Default(reg)
	} else {
		pol, err = policy.Load(os.DirFS(c.Policies), reg)
	}
	if err != nil {
		return Parts{}, err
	}
	cl, err := clients.Load(c.Clients)
	if err != nil {
		return Parts{}, err
	}
	return Parts{
		Node: c.Node, HTTPAddr: c.HTTP.Addr, PublicURL: c.HTTP.PublicURL, TLSCert: c.HTTP.TLSCert, TLSKey: c.HTTP.TLSKey, Kafka: bc,
		Topics:       bus.TopicSpec{Partitions: c.Topics.Partitions, ReplicationFactor: c.Topics.ReplicationFactor, MinInsyncReplicas: c.Topics.MinInsyncReplicas},
		CreateTopics: c.Topics.Create, Schemas: reg, Policy: pol, Clients: cl,
		TokenSigner: kb.Token, ReceiptSigner: kb.Receipt, AuditSigner: kb.Audit, Pseudonyms: kb.Pseudonyms, ExchangeKeys: kb.Public,
		RefreshKeys: kb.Refresh, KeyRefresh: c.Keys.Refresh, KeyGrace: c.Keys.Grace,
		Logger: lg, FutureSkew: c.Ingest.FutureSkew, PolicyApprovals: c.PolicyApprovals, Citizen: c.Citizen,
		ViewDir: c.View.Dir, AuditDir: c.Audit.Dir,
	}, nil
}
