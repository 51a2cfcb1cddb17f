#!/bin/sh
# apply.sh [--approle] — configure an OpenBao or Vault server for OneVisit exchange nodes:
#   1. the transit secrets engine at transit/ (the nodes' keys.vault.mount),
#   2. the exchange's keys listed in keys.txt (made if missing; never exportable),
#   3. the policy onevisit-exchange from onevisit-exchange.policy.json: sign, verify and read on the
#      exchange's three signing keys, hmac and read on its pseudonym key, and nothing else,
#   4. with --approle: the AppRole role onevisit-exchange holding only that policy.
# Safe to run again: it creates what is missing and rewrites the policy and the role, and never
# rotates, deletes or exports a key.
#
# POSIX sh, so that it also runs in the openbao image (deploy/compose). Needs: the bao (OpenBao)
# or vault CLI (BAO=vault to use vault), VAULT_ADDR and a VAULT_TOKEN allowed to mount engines and
# write policies (an operator's token, not the nodes'). Optional:
# ONEVISIT_VAULT_ROLE_ID and ONEVISIT_VAULT_SECRET_ID set the role's ids to these values (compose
# does this; in production let the server make them); ONEVISIT_VAULT_MOUNT (default transit) and
# ONEVISIT_VAULT_POLICY (default onevisit-exchange, also the role's name) put everything under other
# names, as the test does on a shared server. deploy/README.md, "Vault transit", says more.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
bao="${BAO:-bao}"
mount="${ONEVISIT_VAULT_MOUNT:-transit}"
role="${ONEVISIT_VAULT_POLICY:-onevisit-exchange}"
approle=false
case "${1:-}" in
"") ;;
--approle) approle=true ;;
-h | --help)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "usage: $0 [--approle]" >&2
	exit 2
	;;
esac
: "${VAULT_ADDR:?VAULT_ADDR is not set}"
: "${VAULT_TOKEN:?VAULT_TOKEN is not set (an operator token that may mount engines and write policies)}"
command -v "$bao" >/dev/null || { echo "apply.sh: no $bao CLI on PATH (set BAO=vault for HashiCorp Vault)" >&2; exit 1; }

case "$mount$role" in *[!A-Za-z0-9_-]*) echo "apply.sh: mount and policy names: letters, digits, - and _ only" >&2; exit 2 ;; esac

engines="$("$bao" secrets list -format=json)"
if printf '%s\n' "$engines" | grep -q "\"$mount/\""; then
	echo "$mount/: mounted"
else
	"$bao" secrets enable -path="$mount" transit >/dev/null
	echo "$mount/: enabled"
fi

while read -r name type; do
	case "$name" in "" | "#"*) continue ;; esac
	if "$bao" read -format=json "$mount/keys/$name" >/dev/null 2>&1; then
		echo "key $name: exists"
	else
		"$bao" write -f "$mount/keys/$name" type="$type" exportable=false allow_plaintext_backup=false >/dev/null
		echo "key $name: created ($type)"
	fi
done <"$here/keys.txt"

# The policy file names the mount transit/; another mount gets the same paths under its name.
sed "s#\"transit/#\"$mount/#" "$here/onevisit-exchange.policy.json" | "$bao" policy write "$role" - >/dev/null
echo "policy $role: written"

if $approle; then
	methods="$("$bao" auth list -format=json)"
	if ! printf '%s\n' "$methods" | grep -q '"approle/"'; then
		"$bao" auth enable approle >/dev/null
	fi
	# The default policy stays: the node renews its token (auth/token/renew-self) and looks it up.
	"$bao" write "auth/approle/role/$role" token_policies="$role" token_ttl=1h token_max_ttl=24h \
		secret_id_ttl=720h >/dev/null
	if [ -n "${ONEVISIT_VAULT_ROLE_ID:-}" ]; then
		"$bao" write "auth/approle/role/$role/role-id" role_id="$ONEVISIT_VAULT_ROLE_ID" >/dev/null
	fi
	if [ -n "${ONEVISIT_VAULT_SECRET_ID:-}" ]; then
		# A fixed secret id may exist from an earlier run: its accessor is unchanged, so ignore that.
		"$bao" write "auth/approle/role/$role/custom-secret-id" secret_id="$ONEVISIT_VAULT_SECRET_ID" >/dev/null 2>&1 || true
	fi
	echo "role $role: role_id $("$bao" read -field=role_id "auth/approle/role/$role/role-id")"
	if [ -z "${ONEVISIT_VAULT_SECRET_ID:-}" ]; then
		echo "make each node's secret id with: $bao write -f -field=secret_id auth/approle/role/$role/secret-id"
	fi
fi
