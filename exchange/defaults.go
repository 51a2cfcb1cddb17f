package exchange

import (
	"time"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/keys/vault"
)

// The defaults of a node's settings, in one place: the config file
// (LoadConfig), a node built from Parts (New, Run) and dev mode all fill
// an unset value from here. deploy/README.md lists them with their keys.
const (
	// DefaultHTTPAddr is http.addr, and dev mode's --http.
	DefaultHTTPAddr = "127.0.0.1:8080"
	// DefaultNode names a node built from Parts without a name (a config
	// file defaults node to the host name).
	DefaultNode = "node-1"
	// DefaultKafkaPasswordEnv is kafka.password_env.
	DefaultKafkaPasswordEnv = bus.EnvPassword

	// DefaultKeyBackend is keys.backend.
	DefaultKeyBackend = "file"
	// The exchange's key names: keys.token_key, keys.receipt_key,
	// keys.audit_key and keys.pseudonym_key.
	DefaultTokenKey     = "exchange-token"
	DefaultReceiptKey   = "exchange-receipt"
	DefaultAuditKey     = "exchange-audit"
	DefaultPseudonymKey = "exchange-pseudonym"
	// DefaultKeyRefresh is keys.refresh: how often a node re-reads its
	// key versions.
	DefaultKeyRefresh = 30 * time.Second
	// DefaultVaultGrace is keys.grace with the vault backend (the file
	// backend has no limit).
	DefaultVaultGrace = 15 * time.Minute
	// DefaultVaultMount is keys.vault.mount.
	DefaultVaultMount = vault.DefaultMount
	// DefaultVaultTokenEnv is keys.vault.token_env.
	DefaultVaultTokenEnv = vault.EnvToken
)
