package vault

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

// Defaults filled in by Config.withDefaults, the one place they live.
const (
	DefaultMount           = "transit"
	DefaultAppRoleMount    = "approle"
	DefaultTimeout         = 10 * time.Second
	DefaultRefreshInterval = time.Minute
	DefaultMaxBatch        = 256
)

// Config is one Signer's configuration: one transit key on one Vault.
// Secrets (a token, an AppRole secret id) never come from a config file:
// the fields that hold them are tagged out of YAML and JSON, and a file
// names an environment variable or a file path instead.
type Config struct {
	// Address is Vault's base URL, e.g. "https://vault.internal:8200".
	Address string `yaml:"address" json:"address"`
	// Mount is the transit engine's mount path. Default "transit".
	Mount string `yaml:"mount" json:"mount"`
	// Key is the transit key's name; kids are "<Key>#<version>".
	Key string `yaml:"key" json:"key"`
	// Owner is the client id of the key's holder, or "exchange"; it is
	// copied into every keys.PublicKey. Required when Use is set.
	Owner string `yaml:"owner" json:"owner"`
	// Use is what the key signs. Empty means the key serves HMAC only
	// (subject pseudonyms): Sign and Versions then fail with ErrKeyType.
	Use keys.Use `yaml:"use" json:"use"`
	// Auth says how to log in. Exactly one method.
	Auth Auth `yaml:"auth" json:"auth"`
	// Timeout bounds one HTTP request to Vault. Default 10s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxRetries is how many times the client repeats a request that got
	// no answer or a 5xx, with about a second between tries. 0 (the
	// default) means no retry: callers retry on keys.ErrUnavailable.
	MaxRetries int `yaml:"max_retries" json:"max_retries"`
	// RefreshInterval is how often the cached key versions are re-read.
	// Default 1m.
	RefreshInterval time.Duration `yaml:"refresh_interval" json:"refresh_interval"`
	// MaxBatch is the most items SignBatch sends in one transit/sign
	// call; longer batches are split. Each item costs two JSON strings and
	// OpenBao refuses requests with more than 1000 by default
	// (max_request_json_strings), so keep it under about 490 unless the
	// server's listener allows more. Default 256.
	MaxBatch int `yaml:"max_batch" json:"max_batch"`
	// HMACVersion pins the key version HMAC uses, so pseudonyms stay the
	// same across a rotation of the pseudonym key. 0: the latest version
	// at each call (then a rotation changes every pseudonym).
	HMACVersion int `yaml:"hmac_version" json:"hmac_version"`
	// VerifySignatures makes Sign and SignBatch check each signature
	// against the cached public key of its version before returning it
	// (one local Ed25519 verification per signature).
	VerifySignatures bool `yaml:"verify_signatures" json:"verify_signatures"`
}

// Auth is how the Signer gets its Vault token. Set exactly one of Token,
// TokenEnv, TokenFile or AppRole.
type Auth struct {
	// Token is a Vault token given by code (never by a config file).
	Token string `yaml:"-" json:"-"`
	// TokenEnv names an environment variable holding the token.
	TokenEnv string `yaml:"token_env" json:"token_env"`
	// TokenFile is the path of a file holding the token.
	TokenFile string `yaml:"token_file" json:"token_file"`
	// AppRole logs in with a role id and a secret id, and logs in again
	// when the token can no longer be renewed.
	AppRole *AppRole `yaml:"approle" json:"approle"`
}

// AppRole is an AppRole login. The role id is not secret; the secret id
// comes from exactly one of SecretID (code only), SecretIDEnv or
// SecretIDFile, read at each login so a rotated secret id is picked up.
type AppRole struct {
	// Mount is the AppRole auth mount. Default "approle".
	Mount string `yaml:"mount" json:"mount"`
	// RoleID is the role's id.
	RoleID string `yaml:"role_id" json:"role_id"`
	// SecretID is the secret id given by code (never by a config file).
	SecretID string `yaml:"-" json:"-"`
	// SecretIDEnv names an environment variable holding the secret id.
	SecretIDEnv string `yaml:"secret_id_env" json:"secret_id_env"`
	// SecretIDFile is the path of a file holding the secret id.
	SecretIDFile string `yaml:"secret_id_file" json:"secret_id_file"`
}

// Names Vault accepts for keys and mounts: word characters, '-' and '.',
// starting and ending with a word character (framework.GenericNameRegex).
var (
	nameRE  = regexp.MustCompile(`^\w([\w.-]*\w)?$`)
	mountRE = regexp.MustCompile(`^\w([\w.-]*\w)?(/\w([\w.-]*\w)?)*$`)
)

// withDefaults returns c with every unset optional field given its
// default. It is the only place defaults live.
func (c Config) withDefaults() Config {
	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Auth.AppRole != nil {
		ar := *c.Auth.AppRole
		if ar.Mount == "" {
			ar.Mount = DefaultAppRoleMount
		}
		c.Auth.AppRole = &ar
	}
	return c
}

// Validate reports the first field that is wrong, as a *ConfigError
// (errors.Is(err, ErrInvalidConfig)). Unset optional fields are fine:
// their defaults apply.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	u, err := url.Parse(c.Address)
	switch {
	case c.Address == "":
		return bad("Address", "required, e.g. https://vault.internal:8200")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad("Address", "must be an http:// or https:// URL with a host")
	case u.User != nil:
		return bad("Address", "must not carry credentials")
	}
	if !mountRE.MatchString(c.Mount) {
		return bad("Mount", "must be a mount path like %q (letters, digits, '_', '-', '.', inner '/')", DefaultMount)
	}
	if !nameRE.MatchString(c.Key) {
		return bad("Key", "required; letters, digits, '_', '-', '.'")
	}
	switch c.Use {
	case "":
	case keys.UseRecord, keys.UseAuth, keys.UseToken, keys.UseReceipt, keys.UseAudit:
		if c.Owner == "" {
			return bad("Owner", "required when Use is set: the client id of the key holder, or \"exchange\"")
		}
	default:
		return bad("Use", "must be empty (HMAC only) or one of record, auth, token, receipt, audit; got %q", c.Use)
	}
	if c.Timeout < 0 {
		return bad("Timeout", "must not be negative")
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 {
		return bad("MaxRetries", "must be between 0 and 10")
	}
	if c.RefreshInterval < time.Second {
		return bad("RefreshInterval", "must be at least 1s")
	}
	if c.MaxBatch < 1 || c.MaxBatch > 100000 {
		return bad("MaxBatch", "must be between 1 and 100000")
	}
	if c.HMACVersion < 0 {
		return bad("HMACVersion", "must be 0 (latest) or a key version")
	}
	return c.Auth.validate()
}

func (a Auth) validate() error {
	n := 0
	for _, set := range []bool{a.Token != "", a.TokenEnv != "", a.TokenFile != "", a.AppRole != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return &ConfigError{Field: "Auth", Reason: "set exactly one of Token, TokenEnv, TokenFile, AppRole"}
	}
	if a.AppRole == nil {
		return nil
	}
	ar := a.AppRole
	if !mountRE.MatchString(ar.Mount) {
		return &ConfigError{Field: "Auth.AppRole.Mount", Reason: "must be a mount path like \"approle\""}
	}
	if ar.RoleID == "" {
		return &ConfigError{Field: "Auth.AppRole.RoleID", Reason: "required"}
	}
	n = 0
	for _, set := range []bool{ar.SecretID != "", ar.SecretIDEnv != "", ar.SecretIDFile != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return &ConfigError{Field: "Auth.AppRole.SecretID", Reason: "set exactly one of SecretID, SecretIDEnv, SecretIDFile"}
	}
	return nil
}

// readSecret returns a secret given directly, by environment variable or
// by file. It is called at login, never by New.
func readSecret(field, direct, env, file string) (string, error) {
	switch {
	case direct != "":
		return direct, nil
	case env != "":
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", &ConfigError{Field: field + "Env", Reason: "environment variable " + env + " is empty or unset"}
		}
		return v, nil
	default:
		b, err := os.ReadFile(file)
		if err != nil {
			return "", &ConfigError{Field: field + "File", Reason: "cannot read: " + err.Error()}
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", &ConfigError{Field: field + "File", Reason: "file " + file + " is empty"}
		}
		return v, nil
	}
}
