#!/usr/bin/env bash
# install.sh — installs Debian's kcat (the Kafka command-line client) if it is missing, and, when a cluster's
# env file exists (deploy/kafka/.run/env, or $ONEVISIT_KAFKA_ENV), proves kcat can log in to it with SASL/SCRAM.
# Non-interactive: safe in CI as root with no standard input.
# Exit status: 0 installed (and logged in, when a cluster was found); 1 failure; 3 kcat is installed but its
# librdkafka is older than 2.6.1, whose SCRAM Kafka 4.x rejects (Debian 12's kcat is in this case).
set -Eeuo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ENV_FILE=${ONEVISIT_KAFKA_ENV:-$HERE/../kafka/.run/env}

log() { printf 'kcat: %s\n' "$*" >&2; }
die() { printf 'kcat: error: %s\n' "$*" >&2; exit 1; }

if ! command -v kcat >/dev/null; then
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
		die "apt-get could not install kcat (see above)"
	fi
	rm -f "$aptlog"
fi
version=$(kcat -V 2>&1 | grep -m1 '^Version' || true)
log "${version:-kcat -V printed no version line}"

# kcat -V names librdkafka's build features; SCRAM needs "sasl_scram".
if [[ $version != *sasl_scram* ]]; then
	die "this kcat's librdkafka was built without SASL/SCRAM (builtin.features lacks sasl_scram)"
fi

# librdkafka before 2.6.1 appends the client nonce twice in the SCRAM client-final-message; Kafka 4.x brokers
# compare the nonce strictly (RFC 5802) and answer "invalid credentials". Debian 12 ships librdkafka 2.0.2.
rdkafka=$(sed -n 's/.*librdkafka \([0-9][0-9.]*\).*/\1/p' <<<"$version")
scram_ok=1
if [[ -n $rdkafka ]] && [[ $(printf '%s\n2.6.1\n' "$rdkafka" | sort -V | head -n 1) != 2.6.1 ]]; then
	scram_ok=0
	log "warning: librdkafka $rdkafka < 2.6.1: its SCRAM is rejected by Kafka 4.x brokers (nonce bug fixed in 2.6.1)"
fi

if [[ ${1:-} == --no-check || ! -f $ENV_FILE ]]; then
	log "no cluster to check against ($ENV_FILE missing); installed only"
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
if ! out=$(kcat -F "$conf" -L -m 15 2>&1); then
	printf '%s\n' "$out" >&2
	if ((scram_ok == 0)); then
		log "this is the known librdkafka < 2.6.1 SCRAM bug, not a cluster fault; use a kafka-go or Java client"
		exit 3
	fi
	die "kcat could not list metadata as $ONEVISIT_KAFKA_USER with $ONEVISIT_KAFKA_SASL_MECHANISM"
fi
printf '%s\n' "$out" | grep -E 'brokers:|broker [0-9]+ at' >&2
log "kcat authenticated to $ONEVISIT_KAFKA_BROKERS with $ONEVISIT_KAFKA_SASL_MECHANISM"
