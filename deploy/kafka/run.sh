#!/usr/bin/env bash
# run.sh — a real Apache Kafka (KRaft) cluster on loopback, for OneVisit's tests and development.
#
# No Docker and no downloads outside the package registries: the broker's jars come from Maven Central
# through deploy/kafka/pom.xml and are cached per version; each node is a plain `java kafka.Kafka` process.
# See deploy/kafka/README.md for ports, files and timings.
#
# Usage: run.sh start [N] | stop | kill ID | restart ID | status | pids | leader TOPIC PARTITION | env | wipe | jars
set -Eeuo pipefail
umask 077

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
POM=$HERE/pom.xml
RUN=${ONEVISIT_KAFKA_RUN_DIR:-$HERE/.run}
KAFKA_VERSION=$(sed -n 's#.*<kafka.version>\([^<]*\)</kafka.version>.*#\1#p' "$POM")
POM_SUM=$(sha256sum "$POM" | cut -c1-12)
CACHE=${ONEVISIT_CACHE:-${HOME:-/root}/.cache/onevisit}/kafka/$KAFKA_VERSION-$POM_SUM
LIBS=$CACHE/libs

CLIENT_BASE=${ONEVISIT_KAFKA_CLIENT_PORT_BASE:-19092}
CONTROLLER_BASE=${ONEVISIT_KAFKA_CONTROLLER_PORT_BASE:-19192}
INTERNAL_BASE=${ONEVISIT_KAFKA_INTERNAL_PORT_BASE:-19292}
HEAP_OPTS=${ONEVISIT_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
START_TIMEOUT=${ONEVISIT_KAFKA_START_TIMEOUT:-180}
STOP_TIMEOUT=${ONEVISIT_KAFKA_STOP_TIMEOUT:-30}
HOST=127.0.0.1
MAX_NODES=9

ADMIN_USER=onevisit-admin
CLUSTER_USER=onevisit-cluster # brokers and controllers to each other, SASL/PLAIN on loopback
MECHANISM=SCRAM-SHA-512

if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi

log() { printf 'kafka: %s\n' "$*" >&2; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

node_dir() { printf '%s/node-%s' "$RUN" "$1"; }
client_port() { echo $((CLIENT_BASE + $1)); }
controller_port() { echo $((CONTROLLER_BASE + $1)); }
internal_port() { echo $((INTERNAL_BASE + $1)); }

# nodes prints the node count of the cluster in $RUN, or 0 when there is none.
nodes() {
	if [[ -f $RUN/cluster ]]; then sed -n 's/^nodes=//p' "$RUN/cluster"; else echo 0; fi
}

# pid_of ID prints the pid of node ID when that process is alive and is our broker (not a reused pid).
pid_of() {
	local f pid
	f=$(node_dir "$1")/pid
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $(node_dir "$1")/server.properties" || return 1
	echo "$pid"
}

running_ids() {
	local i n
	n=$(nodes)
	for ((i = 0; i < n; i++)); do
		if pid_of "$i" >/dev/null; then echo "$i"; fi
	done
}

port_in_use() { timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

check_id() {
	local n
	n=$(nodes)
	[[ $1 =~ ^[0-9]+$ ]] || die "broker id must be a number, got '$1'"
	((n > 0)) || die "no cluster in $RUN: run '$0 start' first"
	(($1 < n)) || die "broker id $1 is not in this cluster (ids are 0..$((n - 1)))"
}

lock() {
	mkdir -p "$RUN"
	exec 9>"$RUN/.lock"
	flock -w 300 9 || die "another run.sh holds $RUN/.lock"
}

# resolve_jars copies the broker class path from Maven Central into $LIBS once per kafka version and pom.
resolve_jars() {
	if [[ -f $CACHE/.complete ]]; then return 0; fi
	command -v mvn >/dev/null || die "mvn not found: install Maven 3.8+ (apt-get install -y maven)"
	command -v "$JAVA" >/dev/null || die "java not found: install Java 17+ (apt-get install -y openjdk-17-jre-headless)"
	local tmp=$CACHE.tmp.$$ start=$SECONDS
	log "resolving kafka_2.13 $KAFKA_VERSION and its runtime jars with Maven into $LIBS"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$tmp/libs" </dev/null >"$tmp/mvn.log" 2>&1; then
		tail -n 40 "$tmp/mvn.log" >&2
		rm -rf "$tmp"
		die "maven could not resolve the broker's jars (see above)"
	fi
	[[ -f $tmp/libs/kafka_2.13-$KAFKA_VERSION.jar ]] || die "maven ran but kafka_2.13-$KAFKA_VERSION.jar is missing from $tmp/libs"
	touch "$tmp/.complete"
	rm -rf "$CACHE"
	mv "$tmp" "$CACHE"
	log "resolved $(ls "$LIBS" | wc -l) jars in $((SECONDS - start)) s"
}

# secret NAME prints the secret kept in $RUN/NAME, generating it on first use.
secret() {
	local f=$RUN/$1
	if [[ ! -s $f ]]; then
		head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$f"
		chmod 600 "$f"
	fi
	cat "$f"
}

admin_password() {
	local pw
	if [[ -n ${ONEVISIT_KAFKA_ADMIN_PASSWORD:-} ]]; then
		pw=$ONEVISIT_KAFKA_ADMIN_PASSWORD
		# The password goes inside JAAS double quotes and StorageTool's [name=..,password=..] syntax.
		[[ $pw =~ ^[A-Za-z0-9._~+-]{8,128}$ ]] ||
			die "ONEVISIT_KAFKA_ADMIN_PASSWORD must be 8-128 characters from A-Z a-z 0-9 . _ ~ + -"
		echo "$pw"
	else
		secret admin-password
	fi
}

write_log4j() {
	cat >"$RUN/log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <RollingFile name="server" fileName="${sys:kafka.logs.dir}/server.log" filePattern="${sys:kafka.logs.dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="50MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="warn"/>
    <Root level="info"><AppenderRef ref="server"/></Root>
  </Loggers>
</Configuration>
EOF
	cat >"$RUN/tools-log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders><Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="%p %m%n"/></Console></Appenders>
  <Loggers><Root level="error"><AppenderRef ref="stderr"/></Root></Loggers>
</Configuration>
EOF
}

# write_config ID N writes node ID's server.properties for an N-node cluster.
write_config() {
	local id=$1 n=$2 dir voters="" i rf isr cluster_pw
	dir=$(node_dir "$id")
	for ((i = 0; i < n; i++)); do voters+="${voters:+,}$i@$HOST:$(controller_port "$i")"; done
	rf=$((n < 3 ? n : 3))
	isr=$((n >= 3 ? 2 : 1))
	cluster_pw=$(secret cluster-password)
	mkdir -p "$dir/data" "$dir/logs"
	cat >"$dir/server.properties" <<EOF
# Written by deploy/kafka/run.sh for node $id of $n; rewritten at every start.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
log.dirs=$dir/data

listeners=CLIENT://$HOST:$(client_port "$id"),INTERNAL://$HOST:$(internal_port "$id"),CONTROLLER://$HOST:$(controller_port "$id")
advertised.listeners=CLIENT://$HOST:$(client_port "$id"),INTERNAL://$HOST:$(internal_port "$id")
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER

# Clients: SCRAM-SHA-512; credentials live in the cluster metadata (the admin's is bootstrapped by format).
listener.name.client.sasl.enabled.mechanisms=$MECHANISM
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# Brokers and controllers: SASL/PLAIN with one static cluster user (SCRAM cannot serve the controller listener).
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.internal.sasl.enabled.mechanisms=PLAIN
listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$CLUSTER_USER" password="$cluster_pw" user_$CLUSTER_USER="$cluster_pw";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$CLUSTER_USER" password="$cluster_pw" user_$CLUSTER_USER="$cluster_pw";

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$ADMIN_USER;User:$CLUSTER_USER
allow.everyone.if.no.acl.found=false

auto.create.topics.enable=false
unclean.leader.election.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0

# Notice a killed node within a few seconds.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
EOF
	chmod 600 "$dir/server.properties"
}

write_admin_properties() {
	cat >"$RUN/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=$MECHANISM
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$1";
EOF
	chmod 600 "$RUN/admin.properties"
}

brokers_list() {
	local n=$1 i out=""
	for ((i = 0; i < n; i++)); do out+="${out:+,}$HOST:$(client_port "$i")"; done
	echo "$out"
}

write_env() {
	local n=$1 pw=$2
	cat >"$RUN/env" <<EOF
ONEVISIT_KAFKA_BROKERS=$(brokers_list "$n")
ONEVISIT_KAFKA_SASL_MECHANISM=$MECHANISM
ONEVISIT_KAFKA_USER=$ADMIN_USER
ONEVISIT_KAFKA_PASSWORD=$pw
EOF
	chmod 600 "$RUN/env"
}

print_env() {
	log "bootstrap: $(sed -n 's/^ONEVISIT_KAFKA_BROKERS=//p' "$RUN/env") (SASL_PLAINTEXT, $MECHANISM)"
	log "env file: $RUN/env (load it with: set -a; . $RUN/env; set +a)"
	sed 's/^\(ONEVISIT_KAFKA_PASSWORD=\).*/\1<secret: see the env file or run.sh env>/' "$RUN/env"
}

tools() { # tools CLASS ARGS... runs one of Kafka's command-line tools on the cached class path.
	local class=$1
	shift
	"$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$RUN/tools-log4j2.xml" \
		-cp "$LIBS/*" "$class" "$@" </dev/null
}

format_node() {
	local id=$1 cid=$2 pw=$3 dir out
	dir=$(node_dir "$id")
	[[ -f $dir/data/meta.properties ]] && return 0
	# Every node must bootstrap the same credential record, so the salt is chosen once per cluster: with a
	# random salt per node, a node restarted on its storage rejects the admin (seen with Kafka 4.4.0).
	local salt
	salt=$(sed -n 's/^scram.salt=//p' "$RUN/cluster")
	if ! out=$(tools kafka.tools.StorageTool format --cluster-id "$cid" --config "$dir/server.properties" \
		--add-scram "$MECHANISM=[name=$ADMIN_USER,iterations=8192,salt=\"$salt\",password=$pw]" 2>&1); then
		printf '%s\n' "$out" >&2
		die "formatting the storage of node $id failed"
	fi
}

# launch ID starts node ID in the background; its log is node-ID/logs/server.log.
launch() {
	local id=$1 dir
	dir=$(node_dir "$id")
	local port
	for port in $(client_port "$id") $(controller_port "$id") $(internal_port "$id"); do
		port_in_use "$port" && die "port $HOST:$port is already in use by another program (set ONEVISIT_KAFKA_*_PORT_BASE to move)"
	done
	: >>"$dir/logs/server.log"
	stat -c %s "$dir/logs/server.log" >"$dir/log-offset"
	# shellcheck disable=SC2086 # HEAP_OPTS is a list of JVM flags
	nohup "$JAVA" $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$RUN/log4j2.xml" \
		-cp "$LIBS/*" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/logs/stdout.log" 2>&1 9>&- &
	echo $! >"$dir/pid"
	LAUNCHED+=("$!")
	log "node $id: pid $! client $HOST:$(client_port "$id") controller $HOST:$(controller_port "$id")"
}

show_log_tail() {
	local dir
	dir=$(node_dir "$1")
	printf -- '--- node %s: last lines of %s\n' "$1" "$dir/logs/server.log" >&2
	tail -n 30 "$dir/logs/server.log" >&2 || true
	if [[ -s $dir/logs/stdout.log ]]; then
		printf -- '--- node %s: %s\n' "$1" "$dir/logs/stdout.log" >&2
		tail -n 15 "$dir/logs/stdout.log" >&2
	fi
}

# wait_started IDS... waits until each node logs "Kafka Server started" after its launch.
wait_started() {
	local deadline=$((SECONDS + START_TIMEOUT)) pending=("$@") still id dir off
	while ((${#pending[@]} > 0)); do
		still=()
		for id in "${pending[@]}"; do
			dir=$(node_dir "$id")
			off=$(<"$dir/log-offset")
			# grep reads to the end (no -q): under pipefail, a grep that quits at the first match
			# leaves tail to die of SIGPIPE on a long log, and the pipeline then reads as "not found".
			if tail -c +$((off + 1)) "$dir/logs/server.log" | grep -c 'Kafka Server started' >/dev/null; then
				continue
			fi
			if ! pid_of "$id" >/dev/null; then
				show_log_tail "$id"
				die "node $id exited during start-up (log above)"
			fi
			still+=("$id")
		done
		pending=("${still[@]+"${still[@]}"}")
		((${#pending[@]} == 0)) && break
		if ((SECONDS >= deadline)); then
			for id in "${pending[@]}"; do show_log_tail "$id"; done
			die "nodes ${pending[*]} not started after ${START_TIMEOUT}s (log above)"
		fi
		sleep 1
	done
}

# check_nodes IDS... proves each node answers a SCRAM-authenticated metadata request from the admin:
# the first connection of Kafka's admin client goes to the bootstrap address, so each node is asked alone.
check_nodes() {
	local id out
	for id in "$@"; do
		if ! out=$(tools org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$(client_port "$id")" \
			--command-config "$RUN/admin.properties" --list 2>&1); then
			printf '%s\n' "$out" >&2
			show_log_tail "$id"
			die "node $id did not answer a SCRAM-authenticated metadata request as $ADMIN_USER"
		fi
	done
}

node_answers() { # node_answers ID: does node ID answer a SCRAM-authenticated metadata request?
	tools org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$(client_port "$1")" \
		--command-config "$RUN/admin.properties" --list >/dev/null 2>&1
}

# refresh_admin ID: Kafka 4.4 sometimes brings a node back on its storage without the admin's SCRAM
# credential, and every SCRAM login to it then fails ("invalid credentials") until the cluster is wiped.
# Setting the credential again through a live node writes a fresh metadata record, which the restarted
# node applies; then it accepts the admin again. The password is unchanged.
refresh_admin() {
	local id=$1 live="" i pw t
	for ((i = 0; i < $(nodes); i++)); do
		if ((i != id)) && pid_of "$i" >/dev/null; then live=$i; break; fi
	done
	[[ -n $live ]] || return 1
	pw=$(sed -n 's/^ONEVISIT_KAFKA_PASSWORD=//p' "$RUN/env")
	[[ -n $pw ]] || return 1
	log "node $id refuses the admin's SCRAM login after its restart: setting the credential again through node $live"
	tools org.apache.kafka.tools.ConfigCommand --bootstrap-server "$HOST:$(client_port "$live")" \
		--command-config "$RUN/admin.properties" --alter --entity-type users --entity-name "$ADMIN_USER" \
		--add-config "$MECHANISM=[iterations=8192,password=$pw]" >/dev/null || return 1
	for ((t = 0; t < 30; t++)); do
		node_answers "$id" && return 0
		sleep 1
	done
	return 1
}

LAUNCHED=()
STARTING=0
cleanup() {
	local rc=$?
	if ((rc != 0 && STARTING == 1 && ${#LAUNCHED[@]} > 0)); then
		log "start failed: stopping the ${#LAUNCHED[@]} process(es) this run started"
		kill -TERM "${LAUNCHED[@]}" 2>/dev/null || true
		sleep 3
		kill -KILL "${LAUNCHED[@]}" 2>/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_ids() { # stop_ids IDS...: TERM, then KILL after STOP_TIMEOUT.
	local pids=() id pid deadline
	for id in "$@"; do
		if pid=$(pid_of "$id"); then pids+=("$pid"); fi
	done
	((${#pids[@]} == 0)) && return 0
	log "stopping pids ${pids[*]}"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while ((SECONDS < deadline)); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive == 0)) && return 0
		sleep 0.5
	done
	log "still running after ${STOP_TIMEOUT}s: sending SIGKILL"
	kill -KILL "${pids[@]}" 2>/dev/null || true
	for pid in "${pids[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
}

wipe_data() {
	local i
	for i in "$RUN"/node-*; do [[ -e $i ]] && rm -rf "$i"; done
	rm -f "$RUN/cluster" "$RUN/env" "$RUN/admin.properties"
}

cmd_start() {
	local n=${1:-1} i cid pw running old_n
	[[ $n =~ ^[1-9]$ ]] || die "start: N must be 1..$MAX_NODES, got '$n'"
	lock
	old_n=$(nodes)
	pw=$(admin_password)
	mapfile -t running < <(running_ids)
	if ((old_n == n && ${#running[@]} == n)) && [[ -f $RUN/cluster ]] && grep -qxF "admin=$(printf '%s' "$pw" | sha256sum | cut -c1-16)" "$RUN/cluster"; then
		log "already running: $n node(s), pids $(for i in "${running[@]}"; do pid_of "$i"; done | tr '\n' ' ')"
		print_env
		return 0
	fi
	if ((${#running[@]} > 0)) && ((old_n != n)); then
		log "a $old_n-node cluster is running; replacing it with a fresh $n-node cluster"
		stop_ids "${running[@]}"
		running=()
	fi
	if [[ -f $RUN/cluster ]] && { ((old_n != n)) || ! grep -qxF "admin=$(printf '%s' "$pw" | sha256sum | cut -c1-16)" "$RUN/cluster"; }; then
		if ((${#running[@]} > 0)); then die "the running cluster was formatted with another admin password: run '$0 stop' first"; fi
		log "node count or admin password changed: wiping the old cluster's data in $RUN"
		wipe_data
	fi

	STARTING=1
	local t0=$SECONDS
	resolve_jars
	write_log4j
	write_admin_properties "$pw"
	if [[ ! -f $RUN/cluster ]]; then
		cid=$(tools kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
		[[ $cid =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka StorageTool random-uuid printed '$cid'"
		printf 'nodes=%s\ncluster.id=%s\nadmin=%s\nscram.salt=%s\n' "$n" "$cid" "$(printf '%s' "$pw" | sha256sum | cut -c1-16)" \
			"$(head -c 24 /dev/urandom | base64)" >"$RUN/cluster"
	fi
	cid=$(sed -n 's/^cluster.id=//p' "$RUN/cluster")
	local to_start=()
	for ((i = 0; i < n; i++)); do
		write_config "$i" "$n"
		format_node "$i" "$cid" "$pw"
		pid_of "$i" >/dev/null || to_start+=("$i")
	done
	for i in "${to_start[@]}"; do launch "$i"; done
	log "waiting up to ${START_TIMEOUT}s for node(s) ${to_start[*]} to start"
	wait_started "${to_start[@]}"
	check_nodes "${to_start[@]}"
	write_env "$n" "$pw"
	STARTING=0
	log "cluster of $n node(s) is up in $((SECONDS - t0)) s (kafka $KAFKA_VERSION, cluster id $cid)"
	print_env
}

cmd_stop() {
	local ids
	[[ -d $RUN ]] || { log "nothing to stop"; return 0; }
	lock
	mapfile -t ids < <(running_ids)
	if ((${#ids[@]} == 0)); then log "no broker running"; return 0; fi
	stop_ids "${ids[@]}"
	log "stopped node(s) ${ids[*]}"
}

cmd_kill() {
	local id=${1:?usage: run.sh kill ID} pid
	check_id "$id"
	lock
	pid=$(pid_of "$id") || { log "node $id is not running"; return 0; }
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	log "node $id (pid $pid) killed with SIGKILL"
}

cmd_restart() {
	local id=${1:?usage: run.sh restart ID} t0=$SECONDS
	check_id "$id"
	lock
	if pid_of "$id" >/dev/null; then log "node $id is already running (pid $(pid_of "$id"))"; return 0; fi
	[[ -f $(node_dir "$id")/data/meta.properties ]] || die "node $id has no formatted storage: use '$0 start'"
	[[ -f $CACHE/.complete ]] || die "the broker jars are not in $LIBS: use '$0 start'"
	STARTING=1
	launch "$id"
	wait_started "$id"
	node_answers "$id" || refresh_admin "$id" || true
	check_nodes "$id"
	STARTING=0
	log "node $id is back in $((SECONDS - t0)) s"
}

cmd_status() {
	local n i pid up=0
	n=$(nodes)
	if ((n == 0)); then echo "no cluster in $RUN"; return 1; fi
	for ((i = 0; i < n; i++)); do
		if pid=$(pid_of "$i"); then
			up=$((up + 1))
			printf 'node %s running pid %s client %s:%s rss %s kB\n' "$i" "$pid" "$HOST" "$(client_port "$i")" \
				"$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null)"
		else
			printf 'node %s stopped client %s:%s\n' "$i" "$HOST" "$(client_port "$i")"
		fi
	done
	((up == n))
}

cmd_pids() {
	local i
	for i in $(running_ids); do printf '%s %s\n' "$i" "$(pid_of "$i")"; done
}

cmd_leader() {
	local topic=${1:?usage: run.sh leader TOPIC PARTITION} part=${2:?usage: run.sh leader TOPIC PARTITION} n out leader
	n=$(nodes)
	((n > 0)) || die "no cluster in $RUN"
	[[ -f $RUN/admin.properties ]] || die "no admin config in $RUN: run '$0 start'"
	out=$(tools org.apache.kafka.tools.TopicCommand --bootstrap-server "$(brokers_list "$n")" \
		--command-config "$RUN/admin.properties" --describe --topic "$topic" 2>&1) || { printf '%s\n' "$out" >&2; die "describing topic $topic failed"; }
	leader=$(printf '%s\n' "$out" | awk -v p="$part" '{for (i = 1; i < NF; i++) { if ($i == "Partition:" && $(i+1) != p) next; if ($i == "Leader:") { print $(i+1); exit } }}')
	[[ -n $leader ]] || die "topic $topic has no partition $part"
	echo "$leader"
}

cmd_env() {
	[[ -f $RUN/env ]] || die "no env file in $RUN: run '$0 start'"
	cat "$RUN/env"
}

cmd_wipe() {
	cmd_stop
	lock
	wipe_data
	log "wiped cluster data in $RUN (the generated passwords are kept)"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
kill) shift; cmd_kill "$@" ;;
restart) shift; cmd_restart "$@" ;;
status) cmd_status ;;
pids) cmd_pids ;;
leader) shift; cmd_leader "$@" ;;
env) cmd_env ;;
wipe) cmd_wipe ;;
jars) resolve_jars; echo "$LIBS" ;;
*)
	cat >&2 <<EOF
usage: $0 COMMAND
  start [N]            start an N-node cluster (default 1; 1..$MAX_NODES), or say it is already running
  stop                 stop every node (TERM, then KILL after ${STOP_TIMEOUT}s); safe to repeat
  kill ID              SIGKILL node ID
  restart ID           start node ID again on its storage and wait until it is back
  status               one line per node; exit 0 only if all are running
  pids                 "ID PID" per running node
  leader TOPIC PART    print the id of the node leading partition PART of TOPIC
  env                  print the env file (with the password)
  wipe                 stop and delete the cluster's data
  jars                 resolve the broker's jars and print their folder
EOF
	exit 2
	;;
esac
