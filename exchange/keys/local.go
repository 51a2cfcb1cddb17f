package keys

import (
	"context"
	"crypto/ed25519"
	"fmt"
)

// localSigner holds one private key version in memory.
type localSigner struct {
	kid string
	key ed25519.PrivateKey
}

var (
	_ Signer      = (*localSigner)(nil)
	_ BatchSigner = (*localSigner)(nil)
)

// NewLocalSigner returns a Signer over one in-memory key version, for a
// connector that holds a private JWK file (see ParsePrivateJWK). Sign
// refuses any kid but kid with ErrUnknownKey. It implements BatchSigner.
func NewLocalSigner(kid string, k ed25519.PrivateKey) Signer {
	return &localSigner{kid: kid, key: k}
}

func (s *localSigner) KeyID() string { return s.kid }

func (s *localSigner) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	if kid != s.kid {
		return nil, fmt.Errorf("sign: %w: %q", ErrUnknownKey, kid)
	}
	if len(s.key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign: %w: %q holds no Ed25519 key", ErrUnknownKey, kid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return ed25519.Sign(s.key, msg), nil
}

func (s *localSigner) SignBatch(ctx context.Context, kid string, msgs [][]byte) ([][]byte, []error, error) {
	if kid != s.kid || len(s.key) != ed25519.PrivateKeySize {
		return nil, nil, fmt.Errorf("sign batch: %w: %q", ErrUnknownKey, kid)
	}
	sigs := make([][]byte, len(msgs))
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("sign batch: %w", err)
		}
		sigs[i] = ed25519.Sign(s.key, m)
	}
	return sigs, make([]error, len(msgs)), nil
}
