// Package clients is the exchange's registry of known clients: who they
// are, their role, and the public halves of their keys. It is a JSON file
// (dev mode writes one at first start):
//
//	{"clients":[{"client_id":"public-security","role":"publisher",
//	             "name":"...","datasets":["household"]}, ...],
//	 "keys": <a JWKS as keys.MarshalJWKS writes it: owner, key_use, status>}
//
// A client's auth keys sign its token-endpoint assertions; a publisher's
// record keys sign its records. A consent client (the consent service)
// publishes citizens' consent records (the consent dataset, see
// exchange/query) like any publisher, with record keys and under its
// PublisherGrant. The registry never holds private keys.
package clients

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// Client is one registered client.
type Client struct {
	ID       string   `json:"client_id"`
	Role     string   `json:"role"` // publisher, consumer, officer or consent
	Name     string   `json:"name,omitempty"`
	Datasets []string `json:"datasets,omitempty"`
	Purposes []string `json:"purposes,omitempty"`
}

// ErrInvalid: the registry file is malformed; nothing was loaded.
var ErrInvalid = errors.New("invalid client registry")

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)

// Registry is read-only after Load; a running node wraps it in a Live
// registry (live.go) for the clients enrolled and disabled at runtime.
type Registry struct {
	clients map[string]Client
	keys    []keys.PublicKey
}

type file struct {
	Clients []Client        `json:"clients"`
	Keys    json.RawMessage `json:"keys"`
}

// Load reads a registry file.
func Load(path string) (*Registry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load clients: %w", err)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("load clients %s: %w", path, err)
	}
	return r, nil
}

// Parse reads a registry from bytes.
func Parse(b []byte) (*Registry, error) {
	var f file
	if err := jsonstrict.Decode(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r := &Registry{clients: map[string]Client{}}
	for _, c := range f.Clients {
		if err := Check(c); err != nil {
			return nil, err
		}
		if _, dup := r.clients[c.ID]; dup {
			return nil, fmt.Errorf("%w: client %s listed twice", ErrInvalid, c.ID)
		}
		r.clients[c.ID] = c
	}
	if len(f.Keys) > 0 {
		ks, err := keys.ParseJWKS(f.Keys)
		if err != nil {
			return nil, fmt.Errorf("%w: keys: %v", ErrInvalid, err)
		}
		for _, k := range ks {
			owner, ok := r.clients[k.Owner]
			if !ok {
				return nil, fmt.Errorf("%w: key %s belongs to unknown client %q", ErrInvalid, k.KID, k.Owner)
			}
			if k.Use == keys.UseRecord && owner.Role != "publisher" && owner.Role != "consent" {
				return nil, fmt.Errorf("%w: key %s: only a publisher or the consent service holds record keys, %s is a %s", ErrInvalid, k.KID, k.Owner, owner.Role)
			}
			if k.Use != keys.UseAuth && k.Use != keys.UseRecord {
				return nil, fmt.Errorf("%w: key %s: a client key is an auth or record key, not %s", ErrInvalid, k.KID, k.Use)
			}
		}
		r.keys = ks
	}
	return r, nil
}

// Marshal writes a registry file.
func Marshal(cs []Client, ks []keys.PublicKey) ([]byte, error) {
	jwks, err := keys.MarshalJWKS(ks)
	if err != nil {
		return nil, err
	}
	sorted := append([]Client(nil), cs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	return json.MarshalIndent(file{Clients: sorted, Keys: jwks}, "", "  ")
}

// Role returns the role of a registered client.
func (r *Registry) Role(id string) (string, bool) {
	c, ok := r.clients[id]
	return c.Role, ok
}

// Client returns a registered client.
func (r *Registry) Client(id string) (Client, bool) {
	c, ok := r.clients[id]
	return c, ok
}

// All lists the clients sorted by id.
func (r *Registry) All() []Client {
	out := make([]Client, 0, len(r.clients))
	for _, c := range r.clients {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PublicKeys lists the clients' key versions.
func (r *Registry) PublicKeys() []keys.PublicKey { return append([]keys.PublicKey(nil), r.keys...) }
