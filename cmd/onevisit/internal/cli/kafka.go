package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/policy"
)

func runKafka(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "manifests" {
		return runKafkaManifests(e, args[1:])
	}
	if len(args) == 0 || args[0] != "setup" {
		return usagef("want `kafka setup --config FILE` or `kafka manifests --config FILE`")
	}
	fs := flags(e, "kafka setup")
	path := fs.String("config", "", "node config file (required): brokers, topics, clients, policies. Its kafka user must be a super user (the admin)")
	exUser := fs.String("exchange-user", "onevisit-exchange", "SCRAM user exchange nodes connect as")
	out := fs.String("credentials-out", "", "folder to write the passwords of SCRAM users this run creates (0600); required when one is created")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--config is required")
	}
	cfg, err := exchange.LoadConfig(*path)
	if err != nil {
		return err
	}
	kc, err := cfg.Bus()
	if err != nil {
		return err
	}
	parts, err := cfg.Parts(exchange.KeyBackend{}, e.log)
	if err != nil {
		return err
	}
	datasets := parts.Schemas.Datasets()
	spec, p := kafkaGrants(cfg, parts, kc.Names, *exUser)
	if err := bus.EnsureTopics(ctx, kc, datasets, spec); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "topics: %d present\n", len(bus.Topics(kc.Names, datasets, spec)))

	for _, u := range p.Users() {
		has, err := bus.HasUser(ctx, kc, u)
		if err != nil {
			return err
		}
		if has {
			fmt.Fprintf(e.out, "user %s: exists, password unchanged\n", u)
			continue
		}
		if *out == "" {
			return usagef("user %s does not exist: --credentials-out is needed to hand over its new password", u)
		}
		pw, err := newPassword()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(*out, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, u+".password"), []byte(pw+"\n"), 0o600); err != nil {
			return err
		}
		if err := bus.SetUser(ctx, kc, u, pw); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "user %s: created (password in %s)\n", u, filepath.Join(*out, u+".password"))
	}
	acls := bus.ACLs(p, datasets)
	if err := bus.ApplyACLs(ctx, kc, acls); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "acls: %d bindings present; everything else is denied\n", len(acls))
	return nil
}

// kafkaGrants is what `kafka setup` and `kafka manifests` derive from a
// node's configuration: the topics (every consumer gets its delivery
// topic, which it alone reads: subscriptions, correction notices; every
// publisher its correction inbox) and who may touch which.
func kafkaGrants(cfg exchange.Config, parts exchange.Parts, names bus.Names, exUser string) (bus.TopicSpec, bus.Principals) {
	spec := bus.TopicSpec{Partitions: cfg.Topics.Partitions, ReplicationFactor: cfg.Topics.ReplicationFactor, MinInsyncReplicas: cfg.Topics.MinInsyncReplicas,
		Subscribers: exchange.DeliveryConsumers(parts.Policy, parts.Clients), Publishers: parts.Policy.AllPublishers()}
	p := bus.Principals{Names: names, Exchange: exUser, Publishers: publishers(parts.Policy), Responders: responders(parts.Policy), Subscribers: spec.Subscribers}
	return spec, p
}

// publishers maps each publisher in the grants to the datasets it may
// publish: `kafka setup` and `kafka manifests` both derive users and ACLs
// from it.
func publishers(set *policy.Set) map[string][]string {
	pubs := map[string][]string{}
	for _, p := range set.Policies() {
		if p.Kind == policy.KindPublisherGrant && p.Mode != policy.ModeLive {
			pubs[p.Publisher] = append(pubs[p.Publisher], p.Datasets...)
		}
	}
	return pubs
}

func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
