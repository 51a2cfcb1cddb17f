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

// The error texts below are those OpenBao 2.7 answered in the tests
// against the real server (see vault_test.go), kept here so every branch
// of classify is covered without a server.
func TestClassify(t *testing.T) {
	resp := func(code int, msgs ...string) error {
		return &api.ResponseError{HTTPMethod: "PUT", URL: "http://127.0.0.1:18200/v1/transit/sign/k", StatusCode: code, Errors: msgs}
	}
	refused := &url.Error{Op: "Put", URL: "http://127.0.0.1:1/v1/transit/sign/k",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name    string
		in      error
		wantErr error
		notErr  error // must not match, to keep the kinds apart
	}{
		{name: "sealed", in: resp(503, "Vault is sealed"), wantErr: keys.ErrUnavailable, notErr: ErrPermissionDenied},
		{name: "rate limited", in: resp(429), wantErr: keys.ErrUnavailable},
		{name: "replication lag", in: resp(412), wantErr: keys.ErrUnavailable},
		{name: "internal error", in: resp(500, "internal error"), wantErr: keys.ErrUnavailable},
		{name: "permission denied", in: resp(403, "permission denied"), wantErr: ErrPermissionDenied, notErr: keys.ErrUnavailable},
		{name: "key read 404", in: resp(404), wantErr: keys.ErrUnknownKey},
		{name: "sign missing key", in: resp(400, "signing key not found"), wantErr: keys.ErrUnknownKey},
		{name: "hmac missing key", in: resp(400, "encryption key not found"), wantErr: keys.ErrUnknownKey},
		{name: "version beyond latest is a 500 but not retryable", in: resp(500, "1 error occurred:\n\t* requested version for signing is higher than the latest key version\n\n"),
			wantErr: keys.ErrUnknownKey, notErr: keys.ErrUnavailable},
		{name: "key cannot sign", in: resp(400, "key type aes256-gcm96 does not support signing"), wantErr: ErrKeyType},
		{name: "other 400", in: resp(400, "missing batch input to process"), wantErr: ErrRejected},
		{name: "connection refused", in: refused, wantErr: keys.ErrUnavailable},
		{name: "timeout", in: &url.Error{Op: "Put", URL: "u", Err: context.DeadlineExceeded}, wantErr: keys.ErrUnavailable},
		{name: "deadline keeps its cause", in: context.DeadlineExceeded, wantErr: context.DeadlineExceeded},
		{name: "caller cancelled", in: context.Canceled, wantErr: context.Canceled, notErr: keys.ErrUnavailable},
		{name: "undecodable body", in: errors.New("invalid character 'x' looking for beginning of value"), wantErr: ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.in)
			if !errors.Is(got, tt.wantErr) {
				t.Fatalf("classify() = %v, want %v", got, tt.wantErr)
			}
			if tt.notErr != nil && errors.Is(got, tt.notErr) {
				t.Fatalf("classify() = %v, must not be %v", got, tt.notErr)
			}
			if !errors.Is(got, tt.in) {
				t.Fatalf("classify() = %v lost its cause", got)
			}
			// What the signer's callers retry is decided by retry.Retriable
			// alone: it must say yes exactly for the unavailable kinds (a
			// timeout keeps its cause and is one), so a permanent refusal
			// wrapping a transport error never becomes retriable.
			wantRetry := errors.Is(tt.wantErr, keys.ErrUnavailable) || errors.Is(tt.wantErr, context.DeadlineExceeded)
			if r := retry.Retriable(got); r != wantRetry {
				t.Fatalf("retry.Retriable(classify()) = %v, want %v", r, wantRetry)
			}
		})
	}
}

func TestClassifyLoginAndItem(t *testing.T) {
	tests := []struct {
		name    string
		got     error
		wantErr error
	}{
		{name: "login refused", got: classifyLogin(&api.ResponseError{StatusCode: 400, Errors: []string{"invalid role or secret ID"}}), wantErr: ErrPermissionDenied},
		{name: "login sealed", got: classifyLogin(&api.ResponseError{StatusCode: 503}), wantErr: keys.ErrUnavailable},
		{name: "item bad input", got: classifyItem("unable to decode input as base64: illegal base64 data at input byte 0"), wantErr: ErrItemRejected},
		{name: "item version", got: classifyItem("requested version for signing is higher than the latest key version"), wantErr: keys.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.got, tt.wantErr) {
				t.Fatalf("got %v, want %v", tt.got, tt.wantErr)
			}
		})
	}
}
