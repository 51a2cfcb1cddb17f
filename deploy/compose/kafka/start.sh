#!/bin/bash
# start.sh — the entrypoint of the kafka service of deploy/compose/compose.yaml, in the official
# apache/kafka image: one KRaft node (broker and controller) configured as deploy/kafka/run.sh
# configures the test cluster. Clients authenticate with SCRAM-SHA-512; the authorizer denies
# everything no ACL allows (`onevisit kafka setup` grants exactly what the policies grant); topics are
# never created on the fly. The admin's and the exchange's SCRAM credentials are written into the
# cluster metadata when the storage is formatted (first start), so that `kafka setup` can log in and
# finds the exchange's user with the password the nodes have. The broker and controller talk to each
# other over SASL/PLAIN as the static user `cluster`.
#
# Listeners: CLIENT kafka:9092 (containers), EXTERNAL 127.0.0.1:19092 (the laptop), INTERNAL kafka:9094
# (broker to itself), CONTROLLER kafka:9093. Passwords: letters and digits only (they are spliced into
# JAAS and --add-scram syntax).
set -euo pipefail

: "${ONEVISIT_KAFKA_ADMIN_PASSWORD:?}" "${ONEVISIT_KAFKA_PASSWORD:?}" "${ONEVISIT_KAFKA_CLUSTER_PASSWORD:?}"
for pw in "$ONEVISIT_KAFKA_ADMIN_PASSWORD" "$ONEVISIT_KAFKA_PASSWORD" "$ONEVISIT_KAFKA_CLUSTER_PASSWORD"; do
	case "$pw" in *[!A-Za-z0-9]*) echo "start.sh: passwords must be letters and digits only" >&2; exit 1 ;; esac
done

ADMIN_USER=onevisit-admin
EXCHANGE_USER=onevisit-exchange
CLUSTER_USER=cluster
conf=/tmp/server.properties
data=/var/lib/kafka/data

cat >"$conf" <<PROPS
node.id=1
process.roles=broker,controller
controller.quorum.voters=1@kafka:9093
listeners=CLIENT://:9092,EXTERNAL://:19092,INTERNAL://:9094,CONTROLLER://:9093
advertised.listeners=CLIENT://kafka:9092,EXTERNAL://127.0.0.1:19092,INTERNAL://kafka:9094
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.external.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.internal.sasl.enabled.mechanisms=PLAIN
listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$CLUSTER_USER" password="$ONEVISIT_KAFKA_CLUSTER_PASSWORD" user_$CLUSTER_USER="$ONEVISIT_KAFKA_CLUSTER_PASSWORD";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$CLUSTER_USER" password="$ONEVISIT_KAFKA_CLUSTER_PASSWORD" user_$CLUSTER_USER="$ONEVISIT_KAFKA_CLUSTER_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$ADMIN_USER;User:$CLUSTER_USER
auto.create.topics.enable=false
log.dirs=$data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS

if [ ! -f "$data/meta.properties" ]; then
	/opt/kafka/bin/kafka-storage.sh format --config "$conf" --cluster-id "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
		--add-scram "SCRAM-SHA-512=[name=$ADMIN_USER,password=$ONEVISIT_KAFKA_ADMIN_PASSWORD]" \
		--add-scram "SCRAM-SHA-512=[name=$EXCHANGE_USER,password=$ONEVISIT_KAFKA_PASSWORD]"
fi

# For the health check: the admin's client config.
umask 077
cat >/tmp/admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$ONEVISIT_KAFKA_ADMIN_PASSWORD";
PROPS

exec /opt/kafka/bin/kafka-server-start.sh "$conf"
