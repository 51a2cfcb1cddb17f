package vault

import (
	"os"

	"github.com/onevisit/onevisit/exchange/keys"
)

// The environment variables the command line and tests read Vault's
// address and token from (Vault's own names).
const (
	EnvAddress = "VAULT_ADDR"
	EnvToken   = "VAULT_TOKEN"
)

// FromEnv returns the configuration of transit key key, held by owner for
// use, on the Vault at VAULT_ADDR, logging in with the token in
// VAULT_TOKEN (read at login, not here).
func FromEnv(key, owner string, use keys.Use) Config {
	return Config{Address: os.Getenv(EnvAddress), Key: key, Owner: owner, Use: use, Auth: Auth{TokenEnv: EnvToken}}
}
