package vault

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

// These tests need no Vault: they point a Signer at a port nothing
// listens on, or at a socket that accepts and never answers.

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// blackHole accepts connections and never answers.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
			close(done)
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return "http://" + l.Addr().String()
}

func TestStartUnreachable(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		timeout time.Duration
		wantErr []error
	}{
		{name: "connection refused", addr: closedPort(t), wantErr: []error{keys.ErrUnavailable}},
		{name: "no answer within Timeout", addr: blackHole(t), timeout: 300 * time.Millisecond, wantErr: []error{keys.ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Address: tt.addr, Key: "exchange-token", Owner: "exchange", Use: keys.UseToken,
				Timeout: tt.timeout, Auth: Auth{Token: "unused"}}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Start(context.Background())
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Fatalf("Start() = %v, want %v", err, want)
				}
			}
			// Nothing signs after a failed Start.
			if sig, err := s.Sign(context.Background(), "exchange-token#1", []byte("m")); sig != nil || !errors.Is(err, ErrNotStarted) {
				t.Fatalf("Sign() = %x, %v; want nil, ErrNotStarted", sig, err)
			}
		})
	}
}

func TestLifecycleWithoutStart(t *testing.T) {
	s, err := New(Config{Address: closedPort(t), Key: "exchange-pseudonym", Auth: Auth{TokenEnv: "ONEVISIT_TEST_NO_SUCH_VAR"}}, nil)
	if err != nil {
		t.Fatalf("New() = %v; New must not read secrets or dial", err)
	}
	ctx := context.Background()
	if got := s.KeyID(); got != "" {
		t.Errorf("KeyID() before Start = %q, want empty", got)
	}
	if mac, err := s.HMAC(ctx, []byte("m")); mac != nil || !errors.Is(err, ErrNotStarted) {
		t.Errorf("HMAC() before Start = %x, %v", mac, err)
	}
	if sigs, errs, err := s.SignBatch(ctx, "exchange-pseudonym#1", [][]byte{{1}}); sigs != nil || errs != nil || !errors.Is(err, ErrNotStarted) {
		t.Errorf("SignBatch() before Start = %v, %v, %v", sigs, errs, err)
	}
	if _, err := s.Versions(ctx); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Versions() before Start = %v", err)
	}
	if _, err := s.Rotate(ctx); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Rotate() before Start = %v", err)
	}
	// The token variable is read at Start, and its absence is named.
	var ce *ConfigError
	if err := s.Start(ctx); !errors.As(err, &ce) || ce.Field != "Auth.TokenEnv" {
		t.Errorf("Start() = %v, want a ConfigError for Auth.TokenEnv", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if err := s.Start(ctx); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Start() after Close = %v, want ErrNotStarted", err)
	}
}
