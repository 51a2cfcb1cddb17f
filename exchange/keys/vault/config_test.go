package vault

import (
	"errors"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Address: "http://127.0.0.1:18200", Key: "tax-bureau-record", Owner: "tax-bureau", Use: keys.UseRecord,
		Auth: Auth{AppRole: &AppRole{RoleID: "r", SecretIDEnv: "ONEVISIT_VAULT_SECRET_ID"}}}
	with := func(f func(c *Config)) Config {
		c := good
		ar := *good.Auth.AppRole
		c.Auth.AppRole = &ar
		f(&c)
		return c
	}
	tests := []struct {
		name      string
		cfg       Config
		wantErr   error
		wantField string
	}{
		{name: "good approle", cfg: good},
		{name: "good token, hmac only", cfg: Config{Address: "https://vault:8200", Key: "exchange-pseudonym", Auth: Auth{Token: "t"}}},
		{name: "good token file, custom mount", cfg: with(func(c *Config) { c.Mount = "onevisit/transit"; c.Auth = Auth{TokenFile: "/run/secrets/vault-token"} })},
		{name: "no address", cfg: with(func(c *Config) { c.Address = "" }), wantErr: ErrInvalidConfig, wantField: "Address"},
		{name: "address not a URL", cfg: with(func(c *Config) { c.Address = "127.0.0.1:8200" }), wantErr: ErrInvalidConfig, wantField: "Address"},
		{name: "address with credentials", cfg: with(func(c *Config) { c.Address = "http://u:p@vault:8200" }), wantErr: ErrInvalidConfig, wantField: "Address"},
		{name: "mount with slash at end", cfg: with(func(c *Config) { c.Mount = "transit/" }), wantErr: ErrInvalidConfig, wantField: "Mount"},
		{name: "no key", cfg: with(func(c *Config) { c.Key = "" }), wantErr: ErrInvalidConfig, wantField: "Key"},
		{name: "key with path", cfg: with(func(c *Config) { c.Key = "a/../b" }), wantErr: ErrInvalidConfig, wantField: "Key"},
		{name: "unknown use", cfg: with(func(c *Config) { c.Use = "pseudonym" }), wantErr: ErrInvalidConfig, wantField: "Use"},
		{name: "use without owner", cfg: with(func(c *Config) { c.Owner = "" }), wantErr: ErrInvalidConfig, wantField: "Owner"},
		{name: "negative timeout", cfg: with(func(c *Config) { c.Timeout = -time.Second }), wantErr: ErrInvalidConfig, wantField: "Timeout"},
		{name: "too many retries", cfg: with(func(c *Config) { c.MaxRetries = 11 }), wantErr: ErrInvalidConfig, wantField: "MaxRetries"},
		{name: "refresh too often", cfg: with(func(c *Config) { c.RefreshInterval = time.Millisecond }), wantErr: ErrInvalidConfig, wantField: "RefreshInterval"},
		{name: "negative batch", cfg: with(func(c *Config) { c.MaxBatch = -1 }), wantErr: ErrInvalidConfig, wantField: "MaxBatch"},
		{name: "negative hmac version", cfg: with(func(c *Config) { c.HMACVersion = -1 }), wantErr: ErrInvalidConfig, wantField: "HMACVersion"},
		{name: "no auth", cfg: with(func(c *Config) { c.Auth = Auth{} }), wantErr: ErrInvalidConfig, wantField: "Auth"},
		{name: "two auths", cfg: with(func(c *Config) { c.Auth.Token = "t" }), wantErr: ErrInvalidConfig, wantField: "Auth"},
		{name: "approle without role id", cfg: with(func(c *Config) { c.Auth.AppRole.RoleID = "" }), wantErr: ErrInvalidConfig, wantField: "Auth.AppRole.RoleID"},
		{name: "approle without secret", cfg: with(func(c *Config) { c.Auth.AppRole.SecretIDEnv = "" }), wantErr: ErrInvalidConfig, wantField: "Auth.AppRole.SecretID"},
		{name: "approle with two secrets", cfg: with(func(c *Config) { c.Auth.AppRole.SecretIDFile = "/f" }), wantErr: ErrInvalidConfig, wantField: "Auth.AppRole.SecretID"},
		{name: "approle bad mount", cfg: with(func(c *Config) { c.Auth.AppRole.Mount = "/approle" }), wantErr: ErrInvalidConfig, wantField: "Auth.AppRole.Mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.wantField {
				t.Fatalf("Validate() = %v, want a *ConfigError for field %s", err, tt.wantField)
			}
			// New refuses the same configs.
			if _, err := New(tt.cfg, nil); !errors.Is(err, tt.wantErr) {
				t.Fatalf("New() = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{Address: "http://v:1", Key: "k", Auth: Auth{AppRole: &AppRole{RoleID: "r", SecretID: "s"}}}.withDefaults()
	want := Config{Address: "http://v:1", Mount: "transit", Key: "k", Timeout: 10 * time.Second, RefreshInterval: time.Minute, MaxBatch: 256,
		Auth: Auth{AppRole: &AppRole{Mount: "approle", RoleID: "r", SecretID: "s"}}}
	if got.Auth.AppRole == nil || *got.Auth.AppRole != *want.Auth.AppRole {
		t.Fatalf("AppRole defaults = %+v, want %+v", got.Auth.AppRole, want.Auth.AppRole)
	}
	got.Auth.AppRole, want.Auth.AppRole = nil, nil
	if got != want {
		t.Fatalf("withDefaults() = %+v, want %+v", got, want)
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/secret"
	empty := dir + "/empty"
	writeFile(t, file, "s3cret\n")
	writeFile(t, empty, "\n")
	t.Setenv("ONEVISIT_TEST_SECRET", " s3cret ")
	t.Setenv("ONEVISIT_TEST_EMPTY", "")
	tests := []struct {
		name              string
		direct, env, file string
		want              string
		wantErr           error
		wantField         string
	}{
		{name: "direct", direct: "s3cret", want: "s3cret"},
		{name: "env, trimmed", env: "ONEVISIT_TEST_SECRET", want: "s3cret"},
		{name: "file, trimmed", file: file, want: "s3cret"},
		{name: "empty env", env: "ONEVISIT_TEST_EMPTY", wantErr: ErrInvalidConfig, wantField: "Auth.TokenEnv"},
		{name: "empty file", file: empty, wantErr: ErrInvalidConfig, wantField: "Auth.TokenFile"},
		{name: "missing file", file: dir + "/none", wantErr: ErrInvalidConfig, wantField: "Auth.TokenFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSecret("Auth.Token", tt.direct, tt.env, tt.file)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("readSecret() error = %v, want %v", err, tt.wantErr)
			}
			var ce *ConfigError
			if tt.wantErr != nil && (!errors.As(err, &ce) || ce.Field != tt.wantField) {
				t.Fatalf("readSecret() = %v, want field %s", err, tt.wantField)
			}
			if got != tt.want {
				t.Fatalf("readSecret() = %q, want %q", got, tt.want)
			}
		})
	}
}
