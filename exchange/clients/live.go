package clients

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Clients at runtime. A node's registry is the file it started with plus
// the client changes of the control plane (exchange/control: clients.add,
// clients.disable) it applied, in topic order. Live holds both; a
// restarted node rebuilds it by replaying the control topic. Client ids
// are never reused: an id of the file or of an earlier enrolment, even a
// disabled one, cannot be enrolled again.

// Runtime errors.
var (
	// ErrDuplicate: the client id is registered already (enabled or
	// disabled, from the file or enrolled). The officer picks another id.
	ErrDuplicate = errors.New("client id already registered")
	// ErrUnknown: no client has this id, or it is disabled already.
	ErrUnknown = errors.New("no enabled client has this id")
)

// Source says where a client's registration came from.
const (
	SourceFile    = "file"    // the registry file the node started with
	SourceControl = "control" // an approved clients.add control event
)

// Entry is one client as Live lists it.
type Entry struct {
	Client
	Source     string    `json:"source"`
	Disabled   bool      `json:"disabled,omitempty"`
	DisabledAt time.Time `json:"disabled_at,omitzero"`
}

// Live is the registry of a running node: the file's clients, those
// enrolled since and the disabled ones. Role is a map read under a read
// lock (the token endpoint and every request call it). Safe for
// concurrent use.
type Live struct {
	boot     *Registry
	mu       sync.RWMutex
	added    map[string]Client
	disabled map[string]time.Time
}

// NewLive starts from the registry file's clients.
func NewLive(boot *Registry) *Live {
	return &Live{boot: boot, added: map[string]Client{}, disabled: map[string]time.Time{}}
}

// Check validates one client as the registry file's loader does, naming
// the field: the id's shape and a known role.
func Check(c Client) error {
	if !idPattern.MatchString(c.ID) {
		return fmt.Errorf("%w: client_id %q: want lower-case letters, digits and dashes, 2 to 63", ErrInvalid, c.ID)
	}
	switch c.Role {
	case "publisher", "consumer", "officer", "consent":
	default:
		return fmt.Errorf("%w: client %s: role %q: want publisher, consumer, officer or consent", ErrInvalid, c.ID, c.Role)
	}
	return nil
}

// ValidID reports whether id has the shape of a client id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Role returns the role of an enabled client: a disabled client is
// unknown to the token endpoint, to every token it was issued and to the
// control plane.
func (l *Live) Role(id string) (string, bool) {
	c, ok := l.Client(id)
	return c.Role, ok
}

// Client returns an enabled client.
func (l *Live) Client(id string) (Client, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, off := l.disabled[id]; off {
		return Client{}, false
	}
	if c, ok := l.added[id]; ok {
		return c, true
	}
	return l.boot.Client(id)
}

// InFile returns a client of the registry file the node started with.
func (l *Live) InFile(id string) (Client, bool) { return l.boot.Client(id) }

// Known reports whether id was ever registered, disabled or not.
func (l *Live) Known(id string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.knownLocked(id)
}

func (l *Live) knownLocked(id string) bool {
	if _, ok := l.added[id]; ok {
		return true
	}
	_, ok := l.boot.Client(id)
	return ok
}

// Add enrols c: ErrInvalid for a malformed client, ErrDuplicate for an
// id registered before.
func (l *Live) Add(c Client) error {
	if err := Check(c); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.knownLocked(c.ID) {
		return fmt.Errorf("enrol client: %w: %q", ErrDuplicate, c.ID)
	}
	l.added[c.ID] = c
	return nil
}

// Disable turns an enabled client off from at on; ErrUnknown when no
// enabled client has the id.
func (l *Live) Disable(id string, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, off := l.disabled[id]; off || !l.knownLocked(id) {
		return fmt.Errorf("disable client: %w: %q", ErrUnknown, id)
	}
	l.disabled[id] = at.UTC()
	return nil
}

// DisabledAt says since when a client is disabled; false if it is not.
func (l *Live) DisabledAt(id string) (time.Time, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	at, off := l.disabled[id]
	return at, off
}

// Entries lists every client, enabled or not, sorted by id.
func (l *Live) Entries() []Entry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Entry
	for _, c := range l.boot.All() {
		out = append(out, Entry{Client: c, Source: SourceFile})
	}
	for _, c := range l.added {
		out = append(out, Entry{Client: c, Source: SourceControl})
	}
	for i := range out {
		if at, off := l.disabled[out[i].ID]; off {
			out[i].Disabled, out[i].DisabledAt = true, at
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
