#!/usr/bin/env bash
# run.sh — a real PostgreSQL on loopback for the SQL connector's tests (connectors/sqlsource).
#
# Debian's `postgresql` package (installed with apt-get when missing); the server runs as the
# `postgres` user (CI runs as root, and PostgreSQL refuses to run as root), with its data directory
# under /tmp, listening on 127.0.0.1 on a port the OS picks (never 5432), password authentication.
# `start` writes deploy/postgres/.run/env with ONEVISIT_POSTGRES_DSN; `stop` stops the server and
# removes its data.
#
# Usage: run.sh start | stop | env
set -Eeuo pipefail
umask 077

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
RUN=${ONEVISIT_POSTGRES_RUN_DIR:-$HERE/.run}
USER_NAME=onevisit
DB=onevisit

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { printf 'postgres: error: %s\n' "$*" >&2; exit 1; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [[ -n $d && -x $d/initdb ]] && { echo "$d"; return; }
  return 1
}

ensure_installed() {
  bindir >/dev/null && return
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bindir >/dev/null || die "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb"
}

# as_pg runs a command as the postgres user when we are root, else as ourselves.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  [[ -f $RUN/env ]] && { log "already running ($RUN/env)"; return; }
  ensure_installed
  local bin data port pw
  bin=$(bindir)
  mkdir -p "$RUN"
  data=$(mktemp -d /tmp/onevisit-postgres-XXXXXX)
  chmod 700 "$data"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$data"
  pw=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  printf '%s\n' "$pw" | as_pg tee "$data/.pw" >/dev/null
  as_pg "$bin/initdb" -D "$data/db" -U "$USER_NAME" --pwfile="$data/.pw" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log" 2>&1 \
    || { cat "$RUN/initdb.log" >&2; die "initdb failed"; }
  as_pg rm -f "$data/.pw"
  port=$(free_port)
  printf '%s\n' "$data" >"$RUN/data"
  as_pg "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c full_page_writes=off" start >/dev/null \
    || { as_pg cat "$data/server.log" >&2 || true; die "pg_ctl start failed"; }
  PGPASSWORD=$pw "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$USER_NAME" "$DB"
  printf 'ONEVISIT_POSTGRES_DSN=postgres://%s:%s@127.0.0.1:%s/%s?sslmode=disable\n' "$USER_NAME" "$pw" "$port" "$DB" >"$RUN/env"
  log "running on 127.0.0.1:$port (data $data); env in $RUN/env"
}

stop() {
  [[ -f $RUN/data ]] || { rm -f "$RUN/env"; return 0; }
  local data bin
  data=$(cat "$RUN/data")
  if bin=$(bindir) && [[ -d $data/db ]]; then
    as_pg "$bin/pg_ctl" -D "$data/db" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf -- "$data"
  rm -f "$RUN/env" "$RUN/data" "$RUN/initdb.log"
  log "stopped"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  env) cat "$RUN/env" ;;
  *) die "usage: run.sh start | stop | env" ;;
esac
