package vault

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/retry"
)

// TestClassifyAgreesWithRetriable: what the signer's callers retry is
// decided by retry.Retriable alone. For every kind of failure classify
// knows, Retriable must say yes exactly when classify says the backend is
// unavailable; in particular a permanent refusal wrapping a transport
// error or a timeout must not become retriable.
func TestClassifyAgreesWithRetriable(t *testing.T) {
	resp := func(code int, msgs ...string) error {
		return &api.ResponseError{HTTPMethod: "PUT", URL: "http://127.0.0.1:18200/v1/transit/sign/k", StatusCode: code, Errors: msgs}
	}
	refused := &url.Error{Op: "Put", URL: "http://127.0.0.1:1/v1/transit/sign/k",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name string
		in   error
		want bool
	}{
		{name: "sealed", in: resp(503, "Vault is sealed"), want: true},
		{name: "rate limited", in: resp(429), want: true},
		{name: "replication lag", in: resp(412), want: true},
		{name: "internal error", in: resp(500, "internal error"), want: true},
		{name: "connection refused", in: refused, want: true},
		{name: "client timeout", in: &url.Error{Op: "Put", URL: "u", Err: context.DeadlineExceeded}, want: true},
		{name: "deadline", in: context.DeadlineExceeded, want: true},
		{name: "permission denied", in: resp(403, "permission denied"), want: false},
		{name: "key read 404", in: resp(404), want: false},
		{name: "sign missing key", in: resp(400, "signing key not found"), want: false},
		{name: "version beyond latest (a 500)", in: resp(500, "requested version for signing is higher than the latest key version"), want: false},
		{name: "key cannot sign", in: resp(400, "key type aes256-gcm96 does not support signing"), want: false},
		{name: "other 400", in: resp(400, "missing batch input to process"), want: false},
		{name: "caller cancelled", in: context.Canceled, want: false},
		{name: "undecodable body", in: errors.New("invalid character 'x' looking for beginning of value"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.in)
			if r := retry.Retriable(got); r != tt.want {
				t.Fatalf("retry.Retriable(classify(%v)) = %v, want %v", tt.in, r, tt.want)
			}
			if u := errors.Is(got, keys.ErrUnavailable) || errors.Is(got, context.DeadlineExceeded); u != tt.want {
				t.Fatalf("classify(%v) = %v: unavailable %v, want %v", tt.in, got, u, tt.want)
			}
		})
	}
}
