package exchange

import (
	"errors"
	"fmt"
	"time"

	"github.com/onevisit/onevisit/exchange/clients"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/policy"
)

// Clients at runtime. clients.add and clients.disable go through the
// policy ledger as proposals whose Change is a clientChange: an
// enrolment widens (N officers), a disablement narrows (one officer, at
// once). When the ledger applies one as a version, applyClientChange
// changes the node's live registry and key directory. Every node applies
// the same events in the same order, so every registry agrees; a
// restarted node rebuilds its own by replaying the control topic.

// clientChange is the Change a client proposal carries.
type clientChange struct {
	add     *clients.Client
	keys    []keys.PublicKey // the enrolled auth key, then any record key (add)
	disable string           // the client to disable
	at      time.Time        // the event's iat
}

// String says what the change does, for the versions list.
func (c clientChange) String() string {
	if c.add != nil {
		return "clients.add " + c.add.ID + " (" + c.add.Role + ")"
	}
	return "clients.disable " + c.disable
}

// clientProposal turns a verified clients.add or clients.disable event
// into a ledger proposal, after checking it against the registry and key
// directory as they stand at this point of the topic. Callers hold g.mu.
func (n *Node) clientProposal(e control.Event, p policy.Proposal) (policy.Proposal, error) {
	_, p.Set = n.gov.ledger.Current()
	ch := clientChange{at: e.IssuedAt}
	switch e.Action {
	case control.ActionClientsAdd:
		ks, err := e.EnrolledKeys()
		if err != nil {
			return p, err
		}
		if err := n.enrolmentOpen(*e.Client, ks); err != nil {
			return p, err
		}
		c := *e.Client
		ch.add, ch.keys = &c, ks
		w := fmt.Sprintf("widen: client %s enrolled as %s with auth key %s", c.ID, c.Role, ks[0].KID)
		if len(ks) > 1 {
			w += " and record key " + ks[1].KID
		}
		p.ChangeWidenings = []string{w}
	case control.ActionClientsDisable:
		if _, ok := n.clients.Role(e.ClientID); !ok {
			return p, fmt.Errorf("%w: %q", control.ErrUnknownClient, e.ClientID)
		}
		ch.disable = e.ClientID
	}
	p.Change = ch
	return p, nil
}

// enrolmentOpen checks that c may be enrolled with ks: neither is
// registered yet (enrolmentFree), or the registry file holds exactly
// this enrolment (enrolmentInFile).
func (n *Node) enrolmentOpen(c clients.Client, ks []keys.PublicKey) error {
	if err := n.enrolmentFree(c.ID, ks); err != nil && !n.enrolmentInFile(c, ks) {
		return err
	}
	return nil
}

// enrolmentFree checks that neither the client id, nor a kid, nor a
// public key is registered already, and that the keys differ.
func (n *Node) enrolmentFree(id string, ks []keys.PublicKey) error {
	if n.clients.Known(id) {
		return fmt.Errorf("%w: client %q", control.ErrClientExists, id)
	}
	if len(ks) > 1 && ks[0].Key.Equal(ks[1].Key) {
		return fmt.Errorf("%w: the auth and record keys are the same key", control.ErrClientExists)
	}
	for _, k := range ks {
		if _, err := n.dir.PublicKey(k.KID); err == nil {
			return fmt.Errorf("%w: kid %q", control.ErrClientExists, k.KID)
		}
		for _, o := range n.dir.All() {
			if o.Key.Equal(k.Key) {
				return fmt.Errorf("%w: the public key of %s is %s's %s", control.ErrClientExists, k.KID, o.Owner, o.KID)
			}
		}
	}
	return nil
}

// enrolmentInFile reports whether the registry file the node started
// with holds the enrolment already: the client with its role, and each
// key under its kid. A node whose files have caught up with enrolments
// approved at runtime then replays them to the same ledger as the other
// nodes, and applying them changes nothing.
func (n *Node) enrolmentInFile(c clients.Client, ks []keys.PublicKey) bool {
	f, ok := n.clients.InFile(c.ID)
	if !ok || f.Role != c.Role {
		return false
	}
	for _, k := range ks {
		d, err := n.dir.PublicKey(k.KID)
		if err != nil || d.Owner != c.ID || d.Use != k.Use || !d.Key.Equal(k.Key) {
			return false
		}
	}
	return true
}

// approvable refuses the approval of an enrolment whose id or key was
// registered since it was proposed (by another enrolment), or of a schema
// version that is no longer the next one. Callers hold g.mu.
func (n *Node) approvable(proposal string) error {
	st, ok := n.gov.ledger.Proposal(proposal)
	if !ok || st.State != policy.Pending {
		return nil // the ledger refuses it
	}
	if ch, ok := st.Change.(clientChange); ok && ch.add != nil {
		return n.enrolmentOpen(*ch.add, ch.keys)
	}
	return n.schemaApprovable(st)
}

// applyClientChange makes an applied version's client change take effect
// on this node. Callers hold g.mu.
func (n *Node) applyClientChange(v policy.Version) {
	ch, ok := v.Change.(clientChange)
	if !ok {
		return
	}
	var err error
	switch {
	case ch.add != nil && n.enrolmentInFile(*ch.add, ch.keys):
		n.p.Logger.Info("client enrolment applied: the registry file has it already", "client", ch.add.ID, "version", v.Number)
	case ch.add != nil:
		if err = n.clients.Add(*ch.add); err == nil {
			for _, k := range ch.keys {
				err = errors.Join(err, n.dir.Add(k))
			}
		}
		if err == nil {
			n.p.Logger.Info("client enrolled", "client", ch.add.ID, "role", ch.add.Role, "kid", ch.keys[0].KID, "version", v.Number)
		}
	case ch.disable != "":
		// Disable, then revoke: a key event applied meanwhile either
		// sees the client disabled (keepDisabledRevoked) or is in the
		// directory when revokeKeysOf lists it.
		if err = n.clients.Disable(ch.disable, ch.at); err == nil {
			err = n.revokeKeysOf(ch.disable, ch.at)
		}
		if err == nil {
			n.p.Logger.Info("client disabled", "client", ch.disable, "version", v.Number)
		}
	}
	if err != nil {
		// Checked before the ledger took it; a failure here means the
		// key directory moved under it (a key event). Every node reads
		// the same topics, so the outcome is logged, not retried.
		n.p.Logger.Error("client change of an applied version not applied", "version", v.Number, "err", err)
	}
}

// revokeKeysOf revokes every key version of a disabled client from at
// on, on this node: a record it signs and that is accepted later is
// refused, also when produced straight to an ingest topic; what was
// accepted before stays served. Every node applies the same event, so
// every directory agrees.
func (n *Node) revokeKeysOf(client string, at time.Time) error {
	for _, k := range n.dir.All() {
		if k.Owner == client && k.Status != keys.Revoked {
			if err := n.dir.SetStatus(k.KID, keys.Revoked, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// changeOf says what a proposal changes, for its audit entries: its area
// ("policy", "clients", "schemas"), the client it enrols or disables, and
// the dataset of its schema version. Callers hold g.mu.
func (n *Node) changeOf(proposal string) (area, client, dataset string) {
	st, ok := n.gov.ledger.Proposal(proposal)
	if !ok {
		return "policy", "", ""
	}
	switch ch := st.Change.(type) {
	case clientChange:
		if ch.add != nil {
			return "clients", ch.add.ID, ""
		}
		return "clients", ch.disable, ""
	case schemaChange:
		return "schemas", "", ch.prepared.Dataset()
	}
	return "policy", "", ""
}
