package exchange

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
)

// Key directory sync. The keys topic is untrusted input like every other
// topic: a node applies only key events the exchange signed with its
// audit key (keys.ParseEvent), only for client keys, and only when they
// move a version's status forward. The exchange's own keys come from the
// key backend (Parts.ExchangeKeys, Parts.RefreshKeys) and nowhere else.

// keyEventRefusal names why a key event was skipped: the reason label of
// onevisit_keys_events_refused_total and the suffix of the audit code
// "key_event_refused:<reason>".
func keyEventRefusal(err error) string {
	switch {
	case errors.Is(err, keys.ErrExchangeKey):
		return "exchange_key"
	case errors.Is(err, keys.ErrStatusBackwards):
		return "backwards"
	case errors.Is(err, keys.ErrKeyConflict):
		return "conflict"
	case errors.Is(err, errUnknownOwner):
		return "unknown_client"
	case errors.Is(err, keys.ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, keys.ErrRevoked):
		return "revoked_signer"
	case errors.Is(err, keys.ErrUnknownKey), errors.Is(err, keys.ErrWrongUse):
		return "unknown_signer"
	}
	return "malformed" // not a JWS of the key event profile, or bad claims
}

var errUnknownOwner = errors.New("key owner is not a registered client")

// maxKeyRefusalAudits bounds the audit entries written for refused key
// events per minute, so junk produced to the keys topic cannot grow the
// audit log without limit; past it refusals are only counted and logged.
const maxKeyRefusalAudits = 60

// refusalBudget is a fixed one-minute window of audit entries.
type refusalBudget struct {
	mu     sync.Mutex
	window time.Time
	used   int
}

func (b *refusalBudget) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.window) >= time.Minute {
		b.window, b.used = now, 0
	}
	if b.used >= maxKeyRefusalAudits {
		return false
	}
	b.used++
	return true
}

// applyKeyEvent verifies and applies one message of the keys topic. A
// message that does not verify or would move a status backwards is
// skipped and counted; when auditRefusal is set (the node read it live,
// not while catching up at start), the refusal is also audited, up to
// maxKeyRefusalAudits entries a minute. Until the control topic is
// replayed, an event of a client not known yet is held back
// (keyevents_clients.go).
func (n *Node) applyKeyEvent(m kafka.Message, auditRefusal bool) {
	e, _, err := keys.ParseEvent(string(m.Value), n.dir)
	ke := keyEvent{m: m, e: e, err: err, auditRefusal: auditRefusal}
	if n.holdKeyEvent(ke) {
		return
	}
	n.applyKeyEventNow(ke)
}

// keyEvent is a message of the keys topic as ParseEvent verified it
// (err when it did not).
type keyEvent struct {
	m            kafka.Message
	e            keys.Event
	err          error
	auditRefusal bool
}

// applyKeyEventNow applies a verified key event, or counts (and audits)
// its refusal.
func (n *Node) applyKeyEventNow(ke keyEvent) {
	m, e, err, auditRefusal := ke.m, ke.e, ke.err, ke.auditRefusal
	if err == nil {
		if !n.clients.Known(e.Key.Owner) { // disabled clients too: their keys may still be revoked
			err = fmt.Errorf("%w: %q", errUnknownOwner, e.Key.Owner)
		}
	}
	if err == nil {
		_, err = n.dir.Apply(e.Key)
	}
	if err == nil {
		n.keepDisabledRevoked(e.Key.Owner)
		return
	}
	reason := keyEventRefusal(err)
	n.keyEventsRefused.WithLabelValues(reason).Inc()
	// The message's bytes are an outsider's: log where it is and why it
	// was refused, never what it says (the error quotes its kid).
	n.p.Logger.Warn("key event refused", "partition", m.Partition, "offset", m.Offset, "reason", reason)
	if !auditRefusal {
		return
	}
	if !n.keyRefusalAudits.take(time.Now()) {
		n.p.Logger.Warn("key event refusal not audited: over the budget of refusal audits per minute", "partition", m.Partition, "offset", m.Offset, "budget", maxKeyRefusalAudits)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entry := audit.Entry{
		Time: time.Now().UTC(), Kind: audit.KindKeyChange, Decision: audit.DecisionDeny,
		Code:     "key_event_refused:" + reason,
		RecordID: "keys:" + strconv.Itoa(m.Partition) + ":" + strconv.FormatInt(m.Offset, 10),
		Node:     n.p.Node,
	}
	if err := n.trail.Write(ctx, entry); err != nil {
		n.p.Logger.Error("audit of a refused key event not written", "partition", m.Partition, "offset", m.Offset, "err", err)
	}
}

// PublishKeyEvent signs a key directory change with the exchange's audit
// key, durably writes it to the keys topic (key: the kid) and applies it
// on this node; other nodes verify and apply it as they tail the topic.
// The change must be a client key (keys.ErrExchangeKey otherwise) that
// moves forward (keys.ErrStatusBackwards).
func (n *Node) PublishKeyEvent(ctx context.Context, e keys.Event) error {
	e.Node = n.p.Node
	if err := keys.ClientKeyChange(e.Key); err != nil {
		return fmt.Errorf("publish key event: %w", err)
	}
	tok, err := keys.SignEvent(ctx, n.p.AuditSigner, e)
	if err != nil {
		return fmt.Errorf("publish key event: %w", err)
	}
	if err := n.writer.WriteMessages(ctx, kafka.Message{Topic: n.p.Kafka.Names.Keys(), Key: []byte(e.Key.KID), Value: []byte(tok)}); err != nil {
		return fmt.Errorf("publish key event: %w", err)
	}
	if _, err := n.dir.Apply(e.Key); err != nil {
		return fmt.Errorf("publish key event: %w", err)
	}
	return nil
}

// applyBackendKeys applies the exchange's key versions as the key backend
// lists them now. New versions join the directory and statuses move
// forward (a rotation retires, the break-glass procedure revokes). A
// version of one of these keys that the directory lists but the backend
// no longer does (Vault: below min_decryption_version) is revoked as of
// now.
func (n *Node) applyBackendKeys(ks []keys.PublicKey, now time.Time) {
	listed := map[string]bool{}
	names := map[string]bool{}
	for _, k := range ks {
		listed[k.KID] = true
		name, _, _ := strings.Cut(k.KID, "#")
		names[name] = true
		if _, err := n.dir.Apply(k); err != nil {
			n.p.Logger.Error("key version from the key backend not applied", "kid", k.KID, "err", err)
		}
	}
	for _, k := range n.dir.All() {
		name, _, _ := strings.Cut(k.KID, "#")
		if k.Owner != keys.OwnerExchange || !names[name] || listed[k.KID] || k.Status == keys.Revoked {
			continue
		}
		k.Status, k.RevokedAt = keys.Revoked, now.UTC()
		if _, err := n.dir.Apply(k); err != nil {
			n.p.Logger.Error("key version gone from the key backend not revoked", "kid", k.KID, "err", err)
			continue
		}
		n.p.Logger.Warn("key version gone from the key backend: revoked", "kid", k.KID)
	}
}

// activeSigner signs only with versions the node's directory lists as
// active: the exchange never signs with a version it considers retired
// or revoked, whatever its key backend's cache says.
type activeSigner struct {
	s   keys.Signer
	dir *keys.Directory
}

var (
	_ keys.Signer      = activeSigner{}
	_ keys.BatchSigner = activeSigner{}
)

func activeOnly(s keys.Signer, dir *keys.Directory) keys.Signer {
	if s == nil {
		return nil
	}
	return activeSigner{s: s, dir: dir}
}

// KeyID is the backend's current kid, or, when the directory already
// lists that version as no longer active, the directory's newest active
// version of the same key (the backend catches up when asked for it).
func (a activeSigner) KeyID() string {
	kid := a.s.KeyID()
	k, err := a.dir.PublicKey(kid)
	if err != nil || k.Status == keys.Active {
		return kid
	}
	name, _, _ := strings.Cut(kid, "#")
	best, bestV := kid, 0
	for _, o := range a.dir.All() {
		oname, ver, _ := strings.Cut(o.KID, "#")
		v, err := strconv.Atoi(ver)
		if oname == name && o.Owner == k.Owner && o.Status == keys.Active && err == nil && v > bestV {
			best, bestV = o.KID, v
		}
	}
	return best
}

func (a activeSigner) check(kid string) error {
	k, err := a.dir.PublicKey(kid)
	if err != nil {
		return nil // a version newer than the directory: the backend decides
	}
	switch k.Status {
	case keys.Revoked:
		return fmt.Errorf("%w: %q", keys.ErrRevoked, kid)
	case keys.Retired:
		return fmt.Errorf("%w: %q", keys.ErrRetired, kid)
	}
	return nil
}

func (a activeSigner) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	if err := a.check(kid); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return a.s.Sign(ctx, kid, msg)
}

func (a activeSigner) SignBatch(ctx context.Context, kid string, msgs [][]byte) ([][]byte, []error, error) {
	if err := a.check(kid); err != nil {
		return nil, nil, fmt.Errorf("sign batch: %w", err)
	}
	if b, ok := a.s.(keys.BatchSigner); ok {
		return b.SignBatch(ctx, kid, msgs)
	}
	sigs, errs := make([][]byte, len(msgs)), make([]error, len(msgs))
	for i, m := range msgs {
		sigs[i], errs[i] = a.s.Sign(ctx, kid, m)
	}
	return sigs, errs, nil
}
