package bus

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"sort"

	"github.com/segmentio/kafka-go"
)

// Principals says who may touch which topics. It is derived from the
// client registry and the publisher grants by `onevisit kafka setup`.
type Principals struct {
	Names Names
	// Exchange is the SCRAM user exchange nodes connect as. It alone reads
	// ingest topics and writes accepted, rejected and audit topics.
	Exchange string
	// Publishers maps a publisher's client id (its SCRAM user) to the
	// datasets it may publish: it may write only those ingest topics.
	Publishers map[string][]string
	// Subscribers are the consumers with a Subscription (their client ids
	// are their SCRAM users): each may read its own delivery topic, in its
	// own group, and nothing else; only the exchange writes it.
	Subscribers []string
	// Responders maps a live publisher's client id to the datasets its
	// live grants name: it may read only those request topics (in the
	// group Names.Responders) and write only those reply topics.
	Responders map[string][]string
}

// Users is every principal's SCRAM user, each once: the exchange's first,
// then the publishers', responders' and subscribers' in name order.
func (p Principals) Users() []string {
	seen := map[string]bool{p.Exchange: true}
	var others []string
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			others = append(others, u)
		}
	}
	for u := range p.Publishers {
		add(u)
	}
	for u := range p.Responders {
		add(u)
	}
	for _, u := range p.Subscribers {
		add(u)
	}
	sort.Strings(others)
	return append([]string{p.Exchange}, others...)
}

// ACLs lists the bindings Principals implies. Everything else is denied
// (the brokers run with allow.everyone.if.no.acl.found=false).
func ACLs(p Principals, datasets []string) []kafka.ACLEntry {
	lit, topic, group := kafka.PatternTypeLiteral, kafka.ResourceTypeTopic, kafka.ResourceTypeGroup
	var out []kafka.ACLEntry
	ex := p.Exchange
	sorted := append([]string(nil), datasets...)
	sort.Strings(sorted)
	for _, d := range sorted {
		out = append(out,
			allow(topic, p.Names.Ingest(d), lit, ex, kafka.ACLOperationTypeRead),
			allow(topic, p.Names.Ingest(d), lit, ex, kafka.ACLOperationTypeDescribe),
			allow(topic, p.Names.Accepted(d), lit, ex, kafka.ACLOperationTypeWrite),
			allow(topic, p.Names.Accepted(d), lit, ex, kafka.ACLOperationTypeRead),
			allow(topic, p.Names.Accepted(d), lit, ex, kafka.ACLOperationTypeDescribe),
			allow(topic, p.Names.Rejected(d), lit, ex, kafka.ACLOperationTypeWrite),
			allow(topic, p.Names.Rejected(d), lit, ex, kafka.ACLOperationTypeDescribe),
			allow(topic, p.Names.Request(d), lit, ex, kafka.ACLOperationTypeWrite),
			allow(topic, p.Names.Request(d), lit, ex, kafka.ACLOperationTypeDescribe),
			allow(topic, p.Names.Reply(d), lit, ex, kafka.ACLOperationTypeRead),
			allow(topic, p.Names.Reply(d), lit, ex, kafka.ACLOperationTypeDescribe),
		)
	}
	out = append(out,
		allow(topic, p.Names.Audit(), lit, ex, kafka.ACLOperationTypeWrite),
		allow(topic, p.Names.Audit(), lit, ex, kafka.ACLOperationTypeRead),
		allow(topic, p.Names.Audit(), lit, ex, kafka.ACLOperationTypeDescribe),
		allow(topic, p.Names.Keys(), lit, ex, kafka.ACLOperationTypeWrite),
		allow(topic, p.Names.Keys(), lit, ex, kafka.ACLOperationTypeRead),
		allow(topic, p.Names.Keys(), lit, ex, kafka.ACLOperationTypeDescribe),
		allow(topic, p.Names.Control(), lit, ex, kafka.ACLOperationTypeWrite),
		allow(topic, p.Names.Control(), lit, ex, kafka.ACLOperationTypeRead),
		allow(topic, p.Names.Control(), lit, ex, kafka.ACLOperationTypeDescribe),
		allow(group, p.Names.Group(), lit, ex, kafka.ACLOperationTypeRead),
		allow(group, p.Names.Group(), lit, ex, kafka.ACLOperationTypeDescribe),
		allow(group, p.Names.DeliverGroup(), lit, ex, kafka.ACLOperationTypeRead),
		allow(group, p.Names.DeliverGroup(), lit, ex, kafka.ACLOperationTypeDescribe),
	)
	subs := append([]string(nil), p.Subscribers...)
	sort.Strings(subs)
	for _, c := range subs {
		out = append(out,
			allow(topic, p.Names.Deliver(c), lit, ex, kafka.ACLOperationTypeWrite),
			allow(topic, p.Names.Deliver(c), lit, ex, kafka.ACLOperationTypeDescribe),
		)
	}
	pubs := make([]string, 0, len(p.Publishers))
	for u := range p.Publishers {
		pubs = append(pubs, u)
	}
	sort.Strings(pubs)
	for _, u := range pubs {
		ds := append([]string(nil), p.Publishers[u]...)
		sort.Strings(ds)
		for _, d := range ds {
			out = append(out,
				allow(topic, p.Names.Ingest(d), lit, u, kafka.ACLOperationTypeWrite),
				allow(topic, p.Names.Ingest(d), lit, u, kafka.ACLOperationTypeDescribe),
			)
		}
	}
	for _, u := range pubs {
		out = append(out,
			allow(topic, p.Names.Corrections(u), lit, ex, kafka.ACLOperationTypeWrite),
			allow(topic, p.Names.Corrections(u), lit, ex, kafka.ACLOperationTypeRead),
			allow(topic, p.Names.Corrections(u), lit, ex, kafka.ACLOperationTypeDescribe),
			allow(topic, p.Names.Corrections(u), lit, u, kafka.ACLOperationTypeRead),
			allow(topic, p.Names.Corrections(u), lit, u, kafka.ACLOperationTypeDescribe),
		)
	}
	for _, c := range subs {
		out = append(out,
			allow(topic, p.Names.Deliver(c), lit, c, kafka.ACLOperationTypeRead),
			allow(topic, p.Names.Deliver(c), lit, c, kafka.ACLOperationTypeDescribe),
			allow(group, p.Names.SubscriberGroup(c), lit, c, kafka.ACLOperationTypeRead),
			allow(group, p.Names.SubscriberGroup(c), lit, c, kafka.ACLOperationTypeDescribe),
		)
	}
	out = append(out, responderACLs(p)...)
	return out
}

// allow is the binding that lets user do op on the resource name.
func allow(rt kafka.ResourceType, name string, pt kafka.PatternType, user string, op kafka.ACLOperationType) kafka.ACLEntry {
	return kafka.ACLEntry{ResourceType: rt, ResourceName: name, ResourcePatternType: pt, Principal: "User:" + user, Host: "*", Operation: op, PermissionType: kafka.ACLPermissionTypeAllow}
}

// scramIterations is the PBKDF2 work factor of SCRAM credentials.
const scramIterations = 8192

// SetUser creates or replaces a SCRAM-SHA-512 credential.
func SetUser(ctx context.Context, c Config, user, password string) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	salt := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	salted, err := pbkdf2.Key(sha512.New, password, salt, scramIterations, sha512.Size)
	if err != nil {
		return err
	}
	res, err := cl.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{
		Upsertions: []kafka.UserScramCredentialsUpsertion{{Name: user, Mechanism: kafka.ScramMechanismSha512, Iterations: scramIterations, Salt: salt, SaltedPassword: salted}},
	})
	if err != nil {
		return fmt.Errorf("set scram user %s: %w", user, err)
	}
	for _, r := range res.Results {
		if r.Error != nil {
			return fmt.Errorf("set scram user %s: %w", user, r.Error)
		}
	}
	return nil
}

// HasUser reports whether a SCRAM user exists.
func HasUser(ctx context.Context, c Config, user string) (bool, error) {
	cl, err := c.Client()
	if err != nil {
		return false, err
	}
	res, err := cl.DescribeUserScramCredentials(ctx, &kafka.DescribeUserScramCredentialsRequest{Users: []kafka.UserScramCredentialsUser{{Name: user}}})
	if err != nil {
		return false, fmt.Errorf("describe scram user %s: %w", user, err)
	}
	for _, r := range res.Results {
		if r.User == user && r.Error == nil && len(r.CredentialInfos) > 0 {
			return true, nil
		}
		if r.Error != nil && !errors.Is(r.Error, kafka.ResourceNotFound) {
			return false, fmt.Errorf("describe scram user %s: %w", user, r.Error)
		}
	}
	return false, nil
}

// ApplyACLs creates the bindings. Creating a binding that exists changes
// nothing, so running it twice is safe.
func ApplyACLs(ctx context.Context, c Config, acls []kafka.ACLEntry) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	res, err := cl.CreateACLs(ctx, &kafka.CreateACLsRequest{ACLs: acls})
	if err != nil {
		return fmt.Errorf("create acls: %w", err)
	}
	for i, e := range res.Errors {
		if e != nil {
			return fmt.Errorf("create acl %s %s on %s: %w", acls[i].Principal, acls[i].Operation, acls[i].ResourceName, e)
		}
	}
	return nil
}
