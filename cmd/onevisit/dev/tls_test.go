package dev_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
)

// TestNodeServesHTTPS starts a node whose listener has a generated
// self-signed certificate (http.tls_cert, http.tls_key) and talks to it
// as an outsider with net/http: over HTTPS with the certificate trusted
// the probes answer, a token is issued (the audience is the https public
// URL) and a query is answered; plain HTTP to the same port gets 400 and
// nothing else.
func TestNodeServesHTTPS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exchange"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := dev.Options{HTTPAddr: "127.0.0.1:0", KafkaAddr: "127.0.0.1:0", Ephemeral: true, SkipSamples: true, TLSCert: certFile, TLSKey: keyFile}
	if kc, spec, ok := testKafka(t, fmt.Sprintf("t%d-%s", time.Now().UnixNano(), strings.ToLower(t.Name()))); ok {
		o.Kafka, o.Topics = kc, spec
	}
	env, err := dev.Start(ctx, o)
	if err != nil {
		t.Fatalf("start dev mode: %v", err)
	}
	t.Cleanup(env.Close)
	if !strings.HasPrefix(env.BaseURL, "https://127.0.0.1:") {
		t.Fatalf("BaseURL %s, want https", env.BaseURL)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	for _, path := range []string{"/livez", "/readyz"} {
		resp, err := client.Get(env.BaseURL + path)
		if err != nil {
			t.Fatalf("GET %s over https: %v", path, err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 200 || body["status"] != "ok" || body["node"] != "dev-1" {
			t.Fatalf("GET %s = %d %v, want 200 ok dev-1", path, resp.StatusCode, body)
		}
	}

	// The requester SDK, over HTTPS: token (audience https://.../v1/token), then an explain.
	c, err := env.Client("school-enrolment")
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP = client
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatalf("token over https: %v", err)
	}
	req, _ := http.NewRequest("POST", env.BaseURL+"/v1/policy/explain", strings.NewReader(`{"consumer":"school-enrolment","dataset":"household","purpose":"school_enrolment"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"decision":"permit"`) {
		t.Fatalf("explain over https: %d %s", resp.StatusCode, b)
	}

	plain := "http://" + strings.TrimPrefix(env.BaseURL, "https://") + "/livez"
	resp, err = (&http.Client{Timeout: 10 * time.Second}).Get(plain)
	if err != nil {
		t.Fatalf("GET %s: %v", plain, err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || strings.Contains(string(b), "dev-1") {
		t.Fatalf("plain HTTP to the HTTPS port: %d %q, want 400 and nothing of the node's", resp.StatusCode, b)
	}
}
