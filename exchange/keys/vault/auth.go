package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/exchange/retry"
)

// authenticate puts a token on the client: an AppRole login, or the
// configured token checked with lookup-self. It returns the secret whose
// lifetime keepToken watches (nil when the token never expires).
func (s *Signer) authenticate(ctx context.Context) (*api.Secret, error) {
	if s.cfg.Auth.AppRole != nil {
		return s.appRoleLogin(ctx)
	}
	a := s.cfg.Auth
	token, err := readSecret("Auth.Token", a.Token, a.TokenEnv, a.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("vault login: %w", err)
	}
	s.client.SetToken(token)
	self, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("vault token lookup: %w", classify(err))
	}
	if self == nil {
		return nil, fmt.Errorf("vault token lookup: %w: empty answer", ErrBadResponse)
	}
	ttl, err := self.TokenTTL()
	if err != nil {
		return nil, fmt.Errorf("vault token lookup: %w: %w", ErrBadResponse, err)
	}
	renewable, _ := self.TokenIsRenewable()
	s.logins.Add(1)
	if ttl == 0 {
		s.log.Info("vault token has no expiry; no renewal needed")
		return nil, nil
	}
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken:   token,
		Renewable:     renewable,
		LeaseDuration: int(ttl / time.Second),
	}}, nil
}

// appRoleLogin logs in at auth/<mount>/login with the role id and the
// secret id read now, and sets the new token on the client.
func (s *Signer) appRoleLogin(ctx context.Context) (*api.Secret, error) {
	ar := s.cfg.Auth.AppRole
	secretID, err := readSecret("Auth.AppRole.SecretID", ar.SecretID, ar.SecretIDEnv, ar.SecretIDFile)
	if err != nil {
		return nil, fmt.Errorf("vault approle login: %w", err)
	}
	secret, err := s.login.Logical().WriteWithContext(ctx, "auth/"+ar.Mount+"/login", map[string]any{
		"role_id":   ar.RoleID,
		"secret_id": secretID,
	})
	if err != nil {
		return nil, fmt.Errorf("vault approle login: %w", classifyLogin(err))
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault approle login: %w: no token in the answer", ErrBadResponse)
	}
	s.client.SetToken(secret.Auth.ClientToken)
	s.logins.Add(1)
	s.log.Info("vault approle login", "ttl_seconds", secret.Auth.LeaseDuration, "renewable", secret.Auth.Renewable)
	return secret, nil
}

// keepToken keeps the client's token valid until ctx ends: it renews a
// renewable token with a LifetimeWatcher and, once the token can no
// longer be renewed (max TTL, or renewals failing), logs in again with
// AppRole, backing off while Vault is unavailable. A static token that
// expires cannot be replaced: it is logged, and calls then fail with
// ErrPermissionDenied.
func (s *Signer) keepToken(ctx context.Context, secret *api.Secret) {
	defer s.wg.Done()
	for {
		if secret == nil {
			<-ctx.Done()
			return
		}
		if secret.Auth.Renewable {
			if err := s.watch(ctx, secret); err != nil {
				s.log.Warn("vault token renewal stopped", "err", err)
			}
		} else {
			// Not renewable: use it for about two thirds of its life.
			wait := time.Duration(secret.Auth.LeaseDuration) * time.Second * 2 / 3
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			return
		}
		if s.cfg.Auth.AppRole == nil {
			s.log.Error("vault token can no longer be renewed and static tokens cannot log in again")
			return
		}
		secret = s.reLogin(ctx)
	}
}

// watch renews secret's token until the watcher gives up or ctx ends.
func (s *Signer) watch(ctx context.Context, secret *api.Secret) error {
	w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: secret})
	if err != nil {
		return fmt.Errorf("watch vault token: %w", err)
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.DoneCh():
			return err
		case r := <-w.RenewCh():
			s.renewals.Add(1)
			ttl := 0
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				ttl = r.Secret.Auth.LeaseDuration
			}
			s.log.Debug("vault token renewed", "ttl_seconds", ttl)
		}
	}
}

// reLoginBackoff is the wait between AppRole logins: 1s doubling to 30s,
// jittered.
var reLoginBackoff = retry.Backoff{Base: time.Second, Cap: 30 * time.Second, Jitter: true}

// reLogin logs in again with AppRole until it succeeds or ctx ends,
// backing off from 1s to 30s with jitter.
func (s *Signer) reLogin(ctx context.Context) *api.Secret {
	for attempt := 1; ; attempt++ {
		lctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		secret, err := s.appRoleLogin(lctx)
		cancel()
		if err == nil {
			return secret
		}
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return nil
		}
		wait := reLoginBackoff.Delay(attempt)
		s.log.Warn("vault approle login failed; retrying", "err", err, "backoff", wait)
		if !retry.Sleep(ctx, wait) {
			return nil
		}
	}
}
