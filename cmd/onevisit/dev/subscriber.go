package dev

import (
	"github.com/onevisit/onevisit/connectors"
)

// Subscriber returns a sample consumer's subscriber: it reads the
// consumer's delivery topic on this environment's cluster and verifies
// against this exchange's key directory. On a real cluster with SASL the
// environment's Kafka credentials are used (tests that need the
// consumer's own principal set Kafka.User and Kafka.Password).
func (e *Env) Subscriber(client string) (*connectors.Subscriber, error) {
	c, err := e.Client(client)
	if err != nil {
		return nil, err
	}
	kc := e.Kafka
	kc.ClientID = client
	return &connectors.Subscriber{Requester: &connectors.Requester{Client: c}, Kafka: kc}, nil
}
