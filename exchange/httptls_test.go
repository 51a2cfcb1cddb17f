package exchange

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// to dir and returns the two paths and the certificate.
func selfSigned(t *testing.T, dir, cn string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestTLSListener serves HTTPS from a generated self-signed pair: a client
// that trusts the certificate gets the answer, a plain-HTTP client gets
// 400 and never the answer, and a pair that does not load stops the
// listener from starting, with an error naming the config keys.
func TestTLSListener(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := selfSigned(t, dir, "exchange-1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := tlsListener(ln, certFile, keyFile)
	if err != nil {
		t.Fatalf("tlsListener: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "the answer") }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tln) }()
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	tests := []struct {
		name       string
		client     *http.Client
		url        string
		wantStatus int
		wantBody   string
		wantErr    string
	}{
		{"https with the certificate trusted", &http.Client{Transport: tr, Timeout: 5 * time.Second}, "https://" + addr + "/livez", 200, "the answer", ""},
		{"plain http to the https listener", &http.Client{Timeout: 5 * time.Second}, "http://" + addr + "/livez", 400, "Client sent an HTTP request to an HTTPS server.\n", ""},
		{"https without trusting the certificate", &http.Client{Timeout: 5 * time.Second}, "https://" + addr + "/livez", 0, "", "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Get(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("GET = %v, want an error about the %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Fatalf("GET = %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}

	t.Run("a pair that does not load", func(t *testing.T) {
		other := t.TempDir()
		_, otherKey, _ := selfSigned(t, other, "someone-else")
		for name, files := range map[string][2]string{
			"missing key file":      {certFile, filepath.Join(other, "absent.key")},
			"key of another cert":   {certFile, otherKey},
			"key file as cert file": {keyFile, keyFile},
		} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			_, err = tlsListener(ln, files[0], files[1])
			ln.Close()
			if err == nil || !strings.Contains(err.Error(), "http.tls_cert") || !strings.Contains(err.Error(), "http.tls_key") {
				t.Errorf("%s: tlsListener = %v, want an error naming http.tls_cert and http.tls_key", name, err)
			}
		}
	})
}

// TestCertReload: a renewed pair written over the files is served after
// the next check, and a broken pair written over them keeps the last good
// one in service.
func TestCertReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := selfSigned(t, dir, "first")
	r, err := newCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	served := func() []byte {
		t.Helper()
		r.mu.Lock()
		r.checked = time.Time{} // the next handshake checks the files
		r.mu.Unlock()
		c, err := r.getCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	if !bytes.Equal(served(), first.Raw) {
		t.Fatal("not serving the loaded certificate")
	}
	_, _, second := selfSigned(t, dir, "second")
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(served(), second.Raw) {
		t.Fatal("renewed certificate not served after the files changed")
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(time.Minute)
	_ = os.Chtimes(keyFile, later, later)
	if !bytes.Equal(served(), second.Raw) {
		t.Fatal("a broken pair replaced the last good certificate")
	}
}

// TestTLSConfigKeys: http.tls_cert and http.tls_key come as a pair, and
// with them the default public URL is https.
func TestTLSConfigKeys(t *testing.T) {
	t.Setenv("ONEVISIT_KAFKA_PASSWORD", "")
	base := "node: n1\nclients: r.json\nkafka: {brokers: ['k:9092']}\nkeys: {dir: d}\n"
	tests := []struct {
		name    string
		http    string
		want    HTTPConfig
		wantErr string
	}{
		{"both", "http: {addr: '0.0.0.0:8443', tls_cert: /tls/tls.crt, tls_key: /tls/tls.key}\n",
			HTTPConfig{Addr: "0.0.0.0:8443", PublicURL: "https://0.0.0.0:8443", TLSCert: "/tls/tls.crt", TLSKey: "/tls/tls.key"}, ""},
		{"neither", "http: {addr: '0.0.0.0:8080'}\n", HTTPConfig{Addr: "0.0.0.0:8080", PublicURL: "http://0.0.0.0:8080"}, ""},
		{"cert without key", "http: {tls_cert: /tls/tls.crt}\n", HTTPConfig{}, "http.tls_cert, http.tls_key: set both"},
		{"key without cert", "http: {tls_key: /tls/tls.key}\n", HTTPConfig{}, "http.tls_cert, http.tls_key: set both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cfg.yaml")
			if err := os.WriteFile(path, []byte(base+tt.http), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadConfig = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTP != tt.want {
				t.Fatalf("http = %+v, want %+v", c.HTTP, tt.want)
			}
		})
	}
}
