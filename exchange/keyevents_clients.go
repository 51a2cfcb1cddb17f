package exchange

import (
	"sync"

	"github.com/onevisit/onevisit/exchange/keys"
)

// Key events of clients enrolled or disabled at runtime. At start a node
// replays the keys and the control topics side by side; a key event of a
// client enrolled through the control topic (a rotation, a revocation)
// can come before the enrolment, when its owner is still unknown. Such an
// event is held back, and so is every key event after it (their order
// matters), until the control topic is replayed; then they are applied
// in order. Once the control topic is replayed no event is held: an
// owner still unknown is refused as before.
type keyHold struct {
	mu      sync.Mutex // held while the held events are applied
	caught  bool       // the control topic is replayed to its end offset at start
	pending []keyEvent
}

// holdKeyEvent reports whether ke was held back: the control topic is not
// replayed yet, and ke's owner is unknown or an earlier event is held.
func (n *Node) holdKeyEvent(ke keyEvent) bool {
	h := &n.keyHold
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.caught {
		return false
	}
	if len(h.pending) == 0 && (ke.err != nil || n.clients.Known(ke.e.Key.Owner)) {
		return false // refused or applied as before
	}
	h.pending = append(h.pending, ke)
	return true
}

// controlCaughtUp applies the held key events, in order; the control
// tail calls it once it read its end offset at start (and again after,
// which does nothing).
func (n *Node) controlCaughtUp() {
	h := &n.keyHold
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.caught {
		return
	}
	h.caught = true
	for _, ke := range h.pending {
		// Verified again against the directory as it is now, as if it
		// were read now.
		ke.e, _, ke.err = keys.ParseEvent(string(ke.m.Value), n.dir)
		n.applyKeyEventNow(ke)
	}
	h.pending = nil
}

// keepDisabledRevoked keeps a disabled client's key versions revoked
// from when it was disabled, also a version a key event adds after the
// node applied the disablement (a replay out of step).
func (n *Node) keepDisabledRevoked(owner string) {
	at, off := n.clients.DisabledAt(owner)
	if !off {
		return
	}
	if err := n.revokeKeysOf(owner, at); err != nil {
		n.p.Logger.Error("key of a disabled client not revoked", "client", owner, "err", err)
	}
}
