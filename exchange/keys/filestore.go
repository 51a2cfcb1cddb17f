package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrKeyMismatch: a named key exists with another kind, owner or use
// than asked for (a record key asked for as an auth key, an HMAC key as a
// signing key). Fix the configuration; the store never converts a key.
var ErrKeyMismatch = errors.New("key exists with another kind, owner or use")

// FileStore is the dev-mode keystore: named keys with numbered versions,
// each version one JWK file <dir>/<name>/<version>.jwk (mode 0600,
// folders 0700) carrying the private key and the directory members
// (owner, key_use, status, created, revoked_at). Keys are made on first
// use. It is safe for concurrent use by one process; two processes must
// not share a directory.
type FileStore struct {
	dir string
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*storedKey
}

type storedKey struct {
	name     string
	oct      bool // an HMAC key rather than an Ed25519 one
	owner    string
	use      Use
	versions []*storedVersion // versions[i] is version i+1
}

type storedVersion struct {
	priv      ed25519.PrivateKey
	secret    []byte
	status    Status
	created   time.Time
	revokedAt time.Time
}

// OpenFileStore returns a store over dir. It touches nothing: folders and
// keys are made when first asked for.
func OpenFileStore(dir string) *FileStore {
	return &FileStore{dir: dir, now: time.Now, keys: make(map[string]*storedKey)}
}

// Signer returns a Signer for the Ed25519 key name, making version 1
// (owner, use, active) if the key does not exist. An existing key must
// have the same owner and use (ErrKeyMismatch). KeyID names the newest
// active version, and Sign signs only with an active version: a retired
// one is refused with ErrRetired (rotation really retires: the old
// version verifies what it signed, but signs nothing new), a revoked one
// with ErrRevoked. It implements BatchSigner.
func (s *FileStore) Signer(name, owner string, use Use) (Signer, error) {
	if err := validKeyName(name); err != nil {
		return nil, fmt.Errorf("file store signer: %w", err)
	}
	if owner == "" || !validUse(use) {
		return nil, fmt.Errorf("file store signer %q: %w: owner %q use %q", name, ErrKeyMismatch, owner, use)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.loadLocked(name)
	if errors.Is(err, ErrUnknownKey) {
		k, err = s.createLocked(name, false, owner, use)
	}
	if err != nil {
		return nil, fmt.Errorf("file store signer: %w", err)
	}
	if k.oct || k.owner != owner || k.use != use {
		return nil, fmt.Errorf("file store signer %q: %w", name, ErrKeyMismatch)
	}
	return &fileSigner{store: s, name: name}, nil
}

// HMACer returns the HMAC-SHA256 key name, making 32 random bytes on
// first use. HMAC keys are not rotated: pseudonyms must stay stable.
func (s *FileStore) HMACer(name string) (HMACer, error) {
	if err := validKeyName(name); err != nil {
		return nil, fmt.Errorf("file store hmac: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.loadLocked(name)
	if errors.Is(err, ErrUnknownKey) {
		k, err = s.createLocked(name, true, "", "")
	}
	if err != nil {
		return nil, fmt.Errorf("file store hmac: %w", err)
	}
	if !k.oct {
		return nil, fmt.Errorf("file store hmac %q: %w", name, ErrKeyMismatch)
	}
	return fileHMAC{secret: slices.Clone(k.versions[0].secret)}, nil
}

// Rotate makes a new active version of the signing key name and retires
// the previously active ones. The key must exist (ErrUnknownKey).
func (s *FileStore) Rotate(name string) (PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.loadLocked(name)
	if err != nil {
		return PublicKey{}, fmt.Errorf("rotate key: %w", err)
	}
	if k.oct {
		return PublicKey{}, fmt.Errorf("rotate key %q: %w: HMAC keys are not rotated", name, ErrKeyMismatch)
	}
	v, err := newVersion(false, s.now())
	if err != nil {
		return PublicKey{}, fmt.Errorf("rotate key %q: %w", name, err)
	}
	k.versions = append(k.versions, v)
	n := len(k.versions)
	if err := s.writeVersion(k, n); err != nil {
		k.versions = k.versions[:n-1]
		return PublicKey{}, fmt.Errorf("rotate key %q: %w", name, err)
	}
	for i, old := range k.versions[:n-1] {
		if old.status == Active {
			old.status = Retired
			if err := s.writeVersion(k, i+1); err != nil {
				return PublicKey{}, fmt.Errorf("rotate key %q: retire version %d: %w", name, i+1, err)
			}
		}
	}
	return k.public(n), nil
}

// Revoke marks the version kid names revoked as of at. A revoked version
// never signs again; if it was the active one, call Rotate.
func (s *FileStore) Revoke(kid string, at time.Time) error {
	name, n, err := splitKID(kid)
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if at.IsZero() {
		return fmt.Errorf("revoke key %q: no revocation time", kid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.loadLocked(name)
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if n > len(k.versions) {
		return fmt.Errorf("revoke key: %w: %q", ErrUnknownKey, kid)
	}
	v := k.versions[n-1]
	prev := *v
	v.status, v.revokedAt = Revoked, at.UTC().Truncate(time.Second)
	if err := s.writeVersion(k, n); err != nil {
		*v = prev
		return fmt.Errorf("revoke key %q: %w", kid, err)
	}
	return nil
}

// Reload forgets what the store has read, so the next use re-reads every
// key from disk: a rotation or revocation made by another process (the
// break-glass procedure in deploy/README.md) takes effect without a
// restart. Signers from this store stay valid.
func (s *FileStore) Reload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.keys)
}

// Versions lists every version of the signing key name, oldest first.
func (s *FileStore) Versions(name string) ([]PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.loadLocked(name)
	if err != nil {
		return nil, fmt.Errorf("key versions: %w", err)
	}
	if k.oct {
		return nil, fmt.Errorf("key versions %q: %w: HMAC key", name, ErrKeyMismatch)
	}
	out := make([]PublicKey, len(k.versions))
	for i := range k.versions {
		out[i] = k.public(i + 1)
	}
	return out, nil
}

// PublicKeys lists every version of every signing key in the store,
// sorted by owner then kid, to fill a Directory.
func (s *FileStore) PublicKeys() ([]PublicKey, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []PublicKey
	for _, e := range entries {
		if !e.IsDir() || validKeyName(e.Name()) != nil {
			continue
		}
		vs, err := s.Versions(e.Name())
		if errors.Is(err, ErrKeyMismatch) {
			continue // an HMAC key
		}
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, vs...)
	}
	sortKeys(out)
	return out, nil
}

func (k *storedKey) public(n int) PublicKey {
	v := k.versions[n-1]
	return PublicKey{
		KID: k.name + "#" + strconv.Itoa(n), Owner: k.owner, Use: k.use,
		Key:    slices.Clone(v.priv.Public().(ed25519.PublicKey)),
		Status: v.status, Created: v.created, RevokedAt: v.revokedAt,
	}
}

// activeKID is the kid of the newest active version, or of the newest
// version when none is active (Sign then fails with ErrRevoked).
func (k *storedKey) activeKID() string {
	n := len(k.versions)
	for i := n; i >= 1; i-- {
		if k.versions[i-1].status == Active {
			n = i
			break
		}
	}
	return k.name + "#" + strconv.Itoa(n)
}

func validKeyName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w: bad key name %q", ErrUnknownKey, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: bad key name %q (want [a-z0-9._-])", ErrUnknownKey, name)
		}
	}
	return nil
}

// splitKID splits "<name>#<version>".
func splitKID(kid string) (string, int, error) {
	name, ver, ok := strings.Cut(kid, "#")
	if !ok {
		return "", 0, fmt.Errorf("%w: kid %q is not <key>#<version>", ErrUnknownKey, kid)
	}
	n, err := strconv.Atoi(ver)
	if err != nil || n < 1 || strconv.Itoa(n) != ver {
		return "", 0, fmt.Errorf("%w: kid %q is not <key>#<version>", ErrUnknownKey, kid)
	}
	if err := validKeyName(name); err != nil {
		return "", 0, err
	}
	return name, n, nil
}

func newVersion(oct bool, now time.Time) (*storedVersion, error) {
	v := &storedVersion{status: Active, created: now.UTC().Truncate(time.Second)}
	if oct {
		v.secret = make([]byte, 32)
		if _, err := rand.Read(v.secret); err != nil {
			return nil, err
		}
		return v, nil
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	v.priv = priv
	return v, nil
}

func (s *FileStore) createLocked(name string, oct bool, owner string, use Use) (*storedKey, error) {
	v, err := newVersion(oct, s.now())
	if err != nil {
		return nil, fmt.Errorf("create key %q: %w", name, err)
	}
	k := &storedKey{name: name, oct: oct, owner: owner, use: use, versions: []*storedVersion{v}}
	if err := s.writeVersion(k, 1); err != nil {
		return nil, fmt.Errorf("create key %q: %w", name, err)
	}
	s.keys[name] = k
	return k, nil
}

// loadLocked returns the cached key or reads its folder; ErrUnknownKey if
// there is none.
func (s *FileStore) loadLocked(name string) (*storedKey, error) {
	if err := validKeyName(name); err != nil {
		return nil, err
	}
	if k, ok := s.keys[name]; ok {
		return k, nil
	}
	folder := filepath.Join(s.dir, name)
	entries, err := os.ReadDir(folder)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no key %q", ErrUnknownKey, name)
	}
	if err != nil {
		return nil, fmt.Errorf("load key %q: %w", name, err)
	}
	files := map[int]string{}
	for _, e := range entries {
		ver, ok := strings.CutSuffix(e.Name(), ".jwk")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(ver)
		if err != nil || n < 1 || strconv.Itoa(n) != ver {
			continue
		}
		files[n] = filepath.Join(folder, e.Name())
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no key %q", ErrUnknownKey, name)
	}
	k := &storedKey{name: name}
	for n := 1; n <= len(files); n++ {
		path, ok := files[n]
		if !ok {
			return nil, fmt.Errorf("load key %q: %w: version %d missing", name, ErrBadJWK, n)
		}
		if err := k.readVersion(path, n); err != nil {
			return nil, fmt.Errorf("load key %q: %w", name, err)
		}
	}
	s.keys[name] = k
	return k, nil
}

func (k *storedKey) readVersion(path string, n int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	j, err := decodeJWK(data)
	if err != nil {
		return fmt.Errorf("version %d: %w", n, err)
	}
	if want := k.name + "#" + strconv.Itoa(n); j.Kid != want {
		return fmt.Errorf("version %d: %w: kid %q, want %q", n, ErrBadJWK, j.Kid, want)
	}
	v := &storedVersion{status: Status(j.Status)}
	if !validStatus(v.status) {
		return fmt.Errorf("version %d: %w: status %q", n, ErrBadJWK, j.Status)
	}
	if j.Created != "" {
		if v.created, err = time.Parse(time.RFC3339, j.Created); err != nil {
			return fmt.Errorf("version %d: %w: created", n, ErrBadJWK)
		}
	}
	if j.RevokedAt != "" {
		if v.revokedAt, err = time.Parse(time.RFC3339, j.RevokedAt); err != nil {
			return fmt.Errorf("version %d: %w: revoked_at", n, ErrBadJWK)
		}
	}
	oct := j.Kty == "oct"
	if oct {
		if v.secret, err = b64.DecodeString(j.K); err != nil || len(v.secret) != 32 {
			return fmt.Errorf("version %d: %w: k is not 32 bytes", n, ErrBadJWK)
		}
	} else {
		if v.priv, err = privateFromJWK(j); err != nil {
			return fmt.Errorf("version %d: %w", n, err)
		}
		if j.Owner == "" || !validUse(Use(j.KeyUse)) {
			return fmt.Errorf("version %d: %w: owner %q key_use %q", n, ErrBadJWK, j.Owner, j.KeyUse)
		}
	}
	if n == 1 {
		k.oct, k.owner, k.use = oct, j.Owner, Use(j.KeyUse)
	} else if oct != k.oct || j.Owner != k.owner || Use(j.KeyUse) != k.use {
		return fmt.Errorf("version %d: %w: differs from version 1", n, ErrBadJWK)
	}
	k.versions = append(k.versions, v)
	return nil
}

// writeVersion writes version n atomically (temporary file, fsync,
// rename) with mode 0600 in a 0700 folder.
func (s *FileStore) writeVersion(k *storedKey, n int) error {
	v := k.versions[n-1]
	j := jwk{Kid: k.name + "#" + strconv.Itoa(n), Status: string(v.status), Created: v.created.Format(time.RFC3339)}
	if k.oct {
		j.Kty, j.K = "oct", b64.EncodeToString(v.secret)
	} else {
		j.Kty, j.Crv, j.Alg, j.Use = "OKP", "Ed25519", AlgEdDSA, "sig"
		j.X = b64.EncodeToString(v.priv.Public().(ed25519.PublicKey))
		j.D = b64.EncodeToString(v.priv.Seed())
		j.Owner, j.KeyUse = k.owner, string(k.use)
	}
	if v.status == Revoked {
		j.RevokedAt = v.revokedAt.UTC().Format(time.RFC3339)
	}
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	folder := filepath.Join(s.dir, k.name)
	if err := os.MkdirAll(folder, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(folder, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(folder, strconv.Itoa(n)+".jwk"))
}

// fileSigner signs with the versions of one FileStore key.
type fileSigner struct {
	store *FileStore
	name  string
}

var (
	_ Signer      = (*fileSigner)(nil)
	_ BatchSigner = (*fileSigner)(nil)
)

func (f *fileSigner) KeyID() string {
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	k, err := f.store.loadLocked(f.name)
	if err != nil {
		return ""
	}
	return k.activeKID()
}

// key returns the private key of the version kid names.
func (f *fileSigner) key(kid string) (ed25519.PrivateKey, error) {
	name, n, err := splitKID(kid)
	if err != nil {
		return nil, err
	}
	if name != f.name {
		return nil, fmt.Errorf("%w: %q is not a version of %q", ErrUnknownKey, kid, f.name)
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	k, err := f.store.loadLocked(f.name)
	if err != nil {
		return nil, err
	}
	if n > len(k.versions) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	switch k.versions[n-1].status {
	case Revoked:
		return nil, fmt.Errorf("%w: %q", ErrRevoked, kid)
	case Retired:
		return nil, fmt.Errorf("%w: %q (newest active: %q)", ErrRetired, kid, k.activeKID())
	}
	return k.versions[n-1].priv, nil
}

func (f *fileSigner) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	priv, err := f.key(kid)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return ed25519.Sign(priv, msg), nil
}

func (f *fileSigner) SignBatch(ctx context.Context, kid string, msgs [][]byte) ([][]byte, []error, error) {
	priv, err := f.key(kid)
	if err != nil {
		return nil, nil, fmt.Errorf("sign batch: %w", err)
	}
	sigs := make([][]byte, len(msgs))
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("sign batch: %w", err)
		}
		sigs[i] = ed25519.Sign(priv, m)
	}
	return sigs, make([]error, len(msgs)), nil
}

// fileHMAC is an HMAC-SHA256 key held in memory.
type fileHMAC struct{ secret []byte }

var _ HMACer = fileHMAC{}

func (h fileHMAC) HMAC(ctx context.Context, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hmac: %w", err)
	}
	m := hmac.New(sha256.New, h.secret)
	m.Write(msg)
	return m.Sum(nil), nil
}
