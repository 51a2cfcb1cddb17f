package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/exchange/keys"
)

// Compile-time guards: the capabilities this package promises.
var (
	_ keys.Signer      = (*Signer)(nil)
	_ keys.BatchSigner = (*Signer)(nil)
	_ keys.HMACer      = (*Signer)(nil)
)

// Signer signs and HMACs with one transit key. Build it with New, then
// Start it; it is safe for concurrent use once started.
type Signer struct {
	cfg    Config
	log    *slog.Logger
	client *api.Client // carries the current token
	login  *api.Client // no token: used for AppRole logins only

	state atomic.Pointer[keyState]

	refreshMu sync.Mutex // one key read at a time

	mu      sync.Mutex // guards Start and Close
	closed  bool
	started atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// Counters read by tests and worth a metric later.
	logins   atomic.Int64
	renewals atomic.Int64
}

// New checks cfg and builds a Signer. It does no network I/O and reads
// no secret: Start does.
func New(cfg Config, logger *slog.Logger) (*Signer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new vault signer: %w", err)
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// DefaultConfig reads VAULT_* variables; every setting that matters is
	// overwritten from cfg so the environment cannot redirect the Signer.
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("new vault signer: %w", ac.Error)
	}
	ac.Address = cfg.Address
	ac.Timeout = cfg.Timeout
	ac.MaxRetries = cfg.MaxRetries
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("new vault signer: %w", err)
	}
	client.ClearToken()
	client.ClearNamespace()
	login, err := client.Clone()
	if err != nil {
		return nil, fmt.Errorf("new vault signer: %w", err)
	}
	login.ClearToken()
	return &Signer{
		cfg:    cfg,
		log:    logger.With("mount", cfg.Mount, "key", cfg.Key),
		client: client,
		login:  login,
	}, nil
}

// Start logs in, starts keeping the token alive and loads the key's
// versions. It fails with keys.ErrUnavailable when Vault cannot be
// reached or is sealed, ErrPermissionDenied when the credentials are
// refused, keys.ErrUnknownKey when the key does not exist and
// ErrKeyType when it cannot serve cfg.Use. A failed Start may be tried
// again; a second Start after success, or a Start after Close, fails.
func (s *Signer) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("start vault signer: %w: closed", ErrNotStarted)
	}
	if s.started.Load() {
		return errors.New("start vault signer: already started")
	}
	secret, err := s.authenticate(ctx)
	if err != nil {
		return fmt.Errorf("start vault signer: %w", err)
	}
	if _, err := s.refresh(ctx); err != nil {
		return fmt.Errorf("start vault signer: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go s.keepToken(bg, secret)
	go s.keepVersions(bg)
	s.started.Store(true)
	st := s.state.Load()
	s.log.Info("vault signer started", "type", st.typ, "version", st.latest)
	return nil
}

// Close stops token renewal and version refresh. It does not revoke the
// token (other processes may share an AppRole). Safe to call twice.
func (s *Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.started.Store(false)
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	return nil
}

// ready returns the key state, or ErrNotStarted.
func (s *Signer) ready() (*keyState, error) {
	if !s.started.Load() {
		return nil, ErrNotStarted
	}
	return s.state.Load(), nil
}

// KeyID is "<key>#<latest version>" as last read from Vault, or "" before
// Start and after Close.
func (s *Signer) KeyID() string {
	st, err := s.ready()
	if err != nil {
		return ""
	}
	return s.cfg.Key + "#" + strconv.Itoa(st.latest)
}

// signVersion checks kid against the cached versions, re-reading them
// once when kid names a version newer than the cache (a rotation by
// another process). Only the latest version signs: an older one is
// retired (keys.ErrRetired), so a rotation really retires; callers that
// raced a rotation take KeyID again (keys.SignJWT does).
func (s *Signer) signVersion(ctx context.Context, kid string) (int, *keyState, error) {
	st, err := s.ready()
	if err != nil {
		return 0, nil, err
	}
	if st.typ != "ed25519" || s.cfg.Use == "" {
		return 0, nil, fmt.Errorf("%w: key %q serves HMAC only", ErrKeyType, s.cfg.Key)
	}
	v, err := parseKID(kid, s.cfg.Key)
	if err != nil {
		return 0, nil, err
	}
	if !st.canSign(v) && v > st.latest {
		if st, err = s.refresh(ctx); err != nil {
			return 0, nil, err
		}
	}
	if !st.canSign(v) {
		return 0, nil, fmt.Errorf("%w: version %d of %q does not sign (latest %d, min_encryption_version %d)",
			keys.ErrUnknownKey, v, s.cfg.Key, st.latest, st.minEnc)
	}
	if v < st.latest {
		return 0, nil, fmt.Errorf("%w: version %d of %q (latest %d)", keys.ErrRetired, v, s.cfg.Key, st.latest)
	}
	return v, st, nil
}

// Sign returns the raw 64-byte Ed25519 signature of msg made by the key
// version kid names (transit/sign with key_version pinned). It never
// returns a signature together with an error.
func (s *Signer) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	v, st, err := s.signVersion(ctx, kid)
	if err != nil {
		return nil, fmt.Errorf("vault sign: %w", err)
	}
	secret, err := s.client.Logical().WriteWithContext(ctx, s.cfg.Mount+"/sign/"+s.cfg.Key, map[string]any{
		"input":       base64.StdEncoding.EncodeToString(msg),
		"key_version": v,
	})
	if err != nil {
		return nil, fmt.Errorf("vault sign %s: %w", kid, classify(err))
	}
	if secret == nil || secret.Data == nil {
		return nil, fmt.Errorf("vault sign %s: %w: empty answer", kid, ErrBadResponse)
	}
	str, _ := secret.Data["signature"].(string)
	sig, err := s.checkSignature(st, v, str, msg)
	if err != nil {
		return nil, fmt.Errorf("vault sign %s: %w", kid, err)
	}
	return sig, nil
}

// checkSignature strips Vault's prefix, checks that the version is the
// one asked for and, if configured, verifies the signature locally.
func (s *Signer) checkSignature(st *keyState, want int, str string, msg []byte) ([]byte, error) {
	got, sig, err := parseVersioned(str, ed25519.SignatureSize)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, fmt.Errorf("%w: signature is by version %d, asked for %d", ErrBadResponse, got, want)
	}
	if s.cfg.VerifySignatures && !ed25519.Verify(st.pub[want], msg, sig) {
		return nil, fmt.Errorf("%w: signature does not verify with version %d", ErrBadResponse, want)
	}
	return sig, nil
}

// SignBatch signs msgs with the version kid names, in transit/sign
// calls with batch_input of at most cfg.MaxBatch items each. Results are
// in input order; errs[i] is item i's own failure (ErrItemRejected,
// keys.ErrUnknownKey, ErrBadResponse), with sigs[i] nil. A non-nil err
// means a call failed: then sigs and errs are nil and no signature is
// returned, even from calls that succeeded before it. An empty msgs
// returns empty results without calling Vault.
func (s *Signer) SignBatch(ctx context.Context, kid string, msgs [][]byte) ([][]byte, []error, error) {
	v, st, err := s.signVersion(ctx, kid)
	if err != nil {
		return nil, nil, fmt.Errorf("vault sign batch: %w", err)
	}
	sigs := make([][]byte, 0, len(msgs))
	errs := make([]error, 0, len(msgs))
	for start := 0; start < len(msgs); start += s.cfg.MaxBatch {
		chunk := msgs[start:min(start+s.cfg.MaxBatch, len(msgs))]
		items := make([]map[string]string, len(chunk))
		for i, m := range chunk {
			items[i] = map[string]string{"input": base64.StdEncoding.EncodeToString(m)}
		}
		cs, ce, err := s.signItems(ctx, st, v, items, chunk)
		if err != nil {
			return nil, nil, fmt.Errorf("vault sign batch %s: %w", kid, err)
		}
		sigs = append(sigs, cs...)
		errs = append(errs, ce...)
	}
	return sigs, errs, nil
}

// signItems sends prepared batch items in one call; msgs[i] is item i's
// message for local verification. Tests use it to send an item Vault
// must refuse. Items carry no "reference": Vault documents that batch
// results keep the input order, and a reference would double the JSON
// strings per item, which OpenBao limits per request (1000 by default).
func (s *Signer) signItems(ctx context.Context, st *keyState, v int, items []map[string]string, msgs [][]byte) ([][]byte, []error, error) {
	secret, err := s.client.Logical().WriteWithContext(ctx, s.cfg.Mount+"/sign/"+s.cfg.Key, map[string]any{
		"batch_input": items,
		"key_version": v,
	})
	if err != nil {
		return nil, nil, classify(err)
	}
	if secret == nil || secret.Data == nil {
		return nil, nil, fmt.Errorf("%w: empty answer", ErrBadResponse)
	}
	results, ok := secret.Data["batch_results"].([]any)
	if !ok || len(results) != len(items) {
		return nil, nil, fmt.Errorf("%w: batch_results does not match the %d items sent", ErrBadResponse, len(items))
	}
	sigs := make([][]byte, len(items))
	errs := make([]error, len(items))
	for i, r := range results {
		m, ok := r.(map[string]any)
		if !ok {
			errs[i] = fmt.Errorf("%w: batch result %d is not an object", ErrBadResponse, i)
			continue
		}
		if msg, _ := m["error"].(string); msg != "" {
			errs[i] = classifyItem(msg)
			continue
		}
		str, _ := m["signature"].(string)
		sig, err := s.checkSignature(st, v, str, msgs[i])
		if err != nil {
			errs[i] = err
			continue
		}
		sigs[i] = sig
	}
	return sigs, errs, nil
}

// HMAC returns the raw 32-byte HMAC-SHA256 of msg under the transit key
// (transit/hmac), by cfg.HMACVersion or else the latest version.
func (s *Signer) HMAC(ctx context.Context, msg []byte) ([]byte, error) {
	if _, err := s.ready(); err != nil {
		return nil, fmt.Errorf("vault hmac: %w", err)
	}
	body := map[string]any{
		"input":     base64.StdEncoding.EncodeToString(msg),
		"algorithm": "sha2-256",
	}
	if s.cfg.HMACVersion > 0 {
		body["key_version"] = s.cfg.HMACVersion
	}
	secret, err := s.client.Logical().WriteWithContext(ctx, s.cfg.Mount+"/hmac/"+s.cfg.Key, body)
	if err != nil {
		return nil, fmt.Errorf("vault hmac: %w", classify(err))
	}
	if secret == nil || secret.Data == nil {
		return nil, fmt.Errorf("vault hmac: %w: empty answer", ErrBadResponse)
	}
	str, _ := secret.Data["hmac"].(string)
	v, mac, err := parseVersioned(str, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("vault hmac: %w", err)
	}
	if s.cfg.HMACVersion > 0 && v != s.cfg.HMACVersion {
		return nil, fmt.Errorf("vault hmac: %w: hmac is by version %d, asked for %d", ErrBadResponse, v, s.cfg.HMACVersion)
	}
	return mac, nil
}

// Versions lists the key's versions, oldest first, as last read from
// Vault (at Start, every RefreshInterval, on Refresh and Rotate, and when
// a kid names a version newer than the cache). The latest version is
// Active and the others Retired: Vault knows nothing of OneVisit's
// revocations, which the key directory records and applies on top.
func (s *Signer) Versions(ctx context.Context) ([]keys.PublicKey, error) {
	st, err := s.ready()
	if err != nil {
		return nil, fmt.Errorf("vault versions: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("vault versions: %w", err)
	}
	if st.typ != "ed25519" || s.cfg.Use == "" {
		return nil, fmt.Errorf("vault versions: %w: key %q serves HMAC only", ErrKeyType, s.cfg.Key)
	}
	return append([]keys.PublicKey(nil), st.versions...), nil
}

// Refresh re-reads the key's versions from Vault now and returns them.
func (s *Signer) Refresh(ctx context.Context) ([]keys.PublicKey, error) {
	if _, err := s.ready(); err != nil {
		return nil, fmt.Errorf("vault refresh: %w", err)
	}
	if _, err := s.refresh(ctx); err != nil {
		return nil, fmt.Errorf("vault refresh: %w", err)
	}
	return s.Versions(ctx)
}

// Rotate makes a new key version in Vault (transit/keys/<key>/rotate),
// which becomes the active one, and returns it. The policy must allow
// update on that path (the key officer's role); otherwise it fails with
// ErrPermissionDenied.
func (s *Signer) Rotate(ctx context.Context) (keys.PublicKey, error) {
	prev, err := s.ready()
	if err != nil {
		return keys.PublicKey{}, fmt.Errorf("vault rotate: %w", err)
	}
	if _, err := s.client.Logical().WriteWithContext(ctx, s.cfg.Mount+"/keys/"+s.cfg.Key+"/rotate", nil); err != nil {
		return keys.PublicKey{}, fmt.Errorf("vault rotate: %w", classify(err))
	}
	st, err := s.refresh(ctx)
	if err != nil {
		return keys.PublicKey{}, fmt.Errorf("vault rotate: %w", err)
	}
	s.log.Info("vault key rotated", "version", st.latest, "previous_version", prev.latest)
	if len(st.versions) == 0 {
		return keys.PublicKey{}, fmt.Errorf("vault rotate: %w: key %q serves HMAC only", ErrKeyType, s.cfg.Key)
	}
	return st.versions[len(st.versions)-1], nil
}

// refresh reads the key from Vault and replaces the cached state. It
// never moves the cache backwards (a slow read that raced a newer one).
func (s *Signer) refresh(ctx context.Context) (*keyState, error) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	secret, err := s.client.Logical().ReadWithContext(ctx, s.cfg.Mount+"/keys/"+s.cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", s.cfg.Key, classify(err))
	}
	if secret == nil || secret.Data == nil {
		return nil, fmt.Errorf("read key %q: %w", s.cfg.Key, keys.ErrUnknownKey)
	}
	st, err := parseKeyRecord(secret.Data, s.cfg, time.Now())
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", s.cfg.Key, err)
	}
	if old := s.state.Load(); old != nil && old.latest > st.latest {
		return old, nil
	}
	s.state.Store(st)
	return st, nil
}

// keepVersions re-reads the key every RefreshInterval until ctx ends. A
// failed read keeps the previous state and is logged.
func (s *Signer) keepVersions(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		_, err := s.refresh(rctx)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("vault key refresh failed; keeping the cached versions", "err", err)
		}
	}
}
