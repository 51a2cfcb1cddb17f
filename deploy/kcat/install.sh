#!/usr/bin/env bash
# install.sh — makes kcat (the Kafka command-line client) able to log in to Kafka 4.x with SASL/SCRAM, and prints
# the path of the wrapper to run it with: deploy/kcat/kcat.
#
# Debian 12's kcat 1.7.1 is built on librdkafka 2.0.2, whose SCRAM client repeats the nonce in its final message;
# Kafka 4.x checks the nonce strictly (RFC 5802) and answers "invalid credentials" (fixed in librdkafka 2.6.1).
# Only the package registries are reachable, so the newer librdkafka comes from PyPI: the manylinux wheel of
# confluent-kafka bundles it as site-packages/confluent_kafka.libs/librdkafka-<hash>.so.1. This script
#   1. installs Debian's kcat if it is missing (apt-get);
#   2. makes a venv under ${ONEVISIT_CACHE:-$HOME/.cache/onevisit}/kcat-venv with confluent-kafka==$PIN (pip,
#      binary wheels only), and a folder kcat-lib in it holding librdkafka.so.1 -> that bundled library;
#   3. checks that the wrapper's kcat -V reports librdkafka >= 2.6.1 with sasl_scram;
#   4. when a cluster's env file exists ($ONEVISIT_KAFKA_ENV, else $ONEVISIT_KAFKA_RUN_DIR/env, else
#      deploy/kafka/.run/env), lists its metadata as the admin with SCRAM through the wrapper.
# The wrapper deploy/kcat/kcat sets LD_LIBRARY_PATH to kcat-lib and the wheel's library folder and execs kcat.
# Non-interactive: safe in CI as root with no standard input. Re-running it reuses the venv.
#
# Usage: install.sh [--no-check]
# Output: the wrapper's absolute path on standard output (one line); progress on standard error.
# Exit status: 0 ready (and logged in, when a cluster was found); 1 failure.
set -Eeuo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
WRAPPER=$HERE/kcat
PIN=2.16.1 # confluent-kafka on PyPI; its wheel bundles librdkafka 2.16.0
CACHE=${ONEVISIT_CACHE:-${HOME:-/root}/.cache/onevisit}
VENV=$CACHE/kcat-venv
ENV_FILE=${ONEVISIT_KAFKA_ENV:-${ONEVISIT_KAFKA_RUN_DIR:-$HERE/../kafka/.run}/env}

log() { printf 'kcat: %s\n' "$*" >&2; }
die() { printf 'kcat: error: %s\n' "$*" >&2; exit 1; }

# 1. Debian's kcat.
if [[ ! -x /usr/bin/kcat ]]; then
	SUDO=
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "kcat is missing and this is not root: install the Debian package kcat"
		SUDO="sudo -n"
	fi
	log "installing Debian's kcat"
	export DEBIAN_FRONTEND=noninteractive
	aptlog=$(mktemp)
	if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends kcat; } </dev/null >"$aptlog" 2>&1; then
		tail -n 20 "$aptlog" >&2
		rm -f "$aptlog"
		die "apt-get could not install kcat (see above)"
	fi
	rm -f "$aptlog"
fi

# 2. librdkafka from the confluent-kafka wheel.
py=$VENV/bin/python3
if [[ ! -x $py ]]; then
	log "creating venv $VENV"
	mkdir -p "$CACHE"
	python3 -m venv "$VENV" >&2 || die "python3 -m venv $VENV failed (Debian: apt-get install python3-venv)"
fi
if ! "$py" -c "import importlib.metadata as m, sys; sys.exit(m.version('confluent-kafka') != '$PIN')" 2>/dev/null; then
	log "installing confluent-kafka==$PIN from PyPI into $VENV (for the librdkafka its wheel bundles)"
	PIP_DISABLE_PIP_VERSION_CHECK=1 "$py" -m pip install --quiet --no-input --only-binary :all: "confluent-kafka==$PIN" >&2 ||
		die "pip install confluent-kafka==$PIN failed (see the lines above)"
fi
libs=$("$py" -c "import confluent_kafka, os; print(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), 'confluent_kafka.libs'))") ||
	die "cannot import confluent_kafka from $VENV"
shopt -s nullglob
found=("$libs"/librdkafka-*.so.1)
shopt -u nullglob
((${#found[@]} == 1)) || die "want one librdkafka-*.so.1 in $libs, found ${#found[@]} (did the wheel's layout change?)"
mkdir -p "$VENV/kcat-lib"
ln -sfn "${found[0]}" "$VENV/kcat-lib/librdkafka.so.1"
# The wrapper reads this file to find the wheel's other bundled libraries (libcurl, libsasl2, ...).
printf '%s\n' "$libs" >"$VENV/kcat-lib/wheel-libs"

# 3. The wrapper's kcat must use it.
version=$("$WRAPPER" -V 2>&1 | grep -m1 '^Version' || true)
log "${version:-$WRAPPER -V printed no version line}"
[[ $version == *sasl_scram* ]] || die "the wrapper's librdkafka lacks sasl_scram (builtin.features)"
rdkafka=$(sed -n 's/.*librdkafka \([0-9][0-9.]*\).*/\1/p' <<<"$version")
[[ -n $rdkafka && $(printf '%s\n2.6.1\n' "$rdkafka" | sort -V | head -n 1) == 2.6.1 ]] ||
	die "the wrapper's kcat runs librdkafka '$rdkafka', want >= 2.6.1 (SCRAM nonce fix)"

# 4. Log in to the cluster, when there is one.
if [[ ${1:-} == --no-check || ! -f $ENV_FILE ]]; then
	log "no cluster to check against ($ENV_FILE missing or --no-check); installed only"
	echo "$WRAPPER"
	exit 0
fi
# shellcheck disable=SC1090
set -a; . "$ENV_FILE"; set +a
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
chmod 600 "$conf"
# The password goes in a config file (-F), not on the command line where ps would show it.
cat >"$conf" <<CONF
bootstrap.servers=$ONEVISIT_KAFKA_BROKERS
security.protocol=SASL_PLAINTEXT
sasl.mechanisms=$ONEVISIT_KAFKA_SASL_MECHANISM
sasl.username=$ONEVISIT_KAFKA_USER
sasl.password=$ONEVISIT_KAFKA_PASSWORD
CONF
if ! out=$("$WRAPPER" -F "$conf" -L -m 15 2>&1); then
	printf '%s\n' "$out" >&2
	die "kcat could not list metadata as $ONEVISIT_KAFKA_USER with $ONEVISIT_KAFKA_SASL_MECHANISM"
fi
printf '%s\n' "$out" | grep -E 'brokers:|broker [0-9]+ at' >&2 || true
log "kcat (librdkafka $rdkafka) authenticated to $ONEVISIT_KAFKA_BROKERS with $ONEVISIT_KAFKA_SASL_MECHANISM"
echo "$WRAPPER"
