// Package kafka is the home of deploy/kafka/run.sh, which runs a real Apache Kafka (KRaft) cluster on
// loopback from jars that Maven resolves, with SASL/SCRAM-SHA-512 client logins, the StandardAuthorizer
// and no automatic topic creation. The package has no Go API.
//
// Its tests (package kafka_test) are smoke tests of that cluster through github.com/segmentio/kafka-go,
// the client the exchange uses. They skip unless ONEVISIT_KAFKA_BROKERS is set (load deploy/kafka/.run/env
// after `run.sh start [N]`) and they prove, against the real broker:
//   - the admin logs in with SCRAM-SHA-512, creates a topic with replication factor min(brokers, 3) and
//     min.insync.replicas, produces with acks=all and reads every record back;
//   - a wrong password is refused with SASL_AUTHENTICATION_FAILED;
//   - a SCRAM user made with AlterUserScramCredentials and given one WRITE ACL with CreateACLs can write
//     that topic and is refused another with TOPIC_AUTHORIZATION_FAILED;
//   - with ONEVISIT_KAFKA_FAULTS=1 and three or more brokers: after `run.sh kill` of a partition's leader,
//     acks=all writes still succeed on a new leader, and after `run.sh restart` the node rejoins the ISR
//     with no record lost.
package kafka
