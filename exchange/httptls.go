package exchange

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in a cert and key file pair (PEM)
// and reads them again when either file's modification time changes, at
// most once every reloadEvery: a renewal (cert-manager, a rotated Kubernetes
// secret) takes effect without a restart. While the files hold a pair
// that does not load (say, half written), the last good pair is served.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time
	checked time.Time
}

const reloadEvery = 10 * time.Second

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) stamps() ([2]time.Time, error) {
	var s [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = fi.ModTime()
	}
	return s, nil
}

func (r *certReloader) load() error {
	st, err := r.stamps()
	if err != nil {
		return fmt.Errorf("http.tls_cert, http.tls_key: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("http.tls_cert %s, http.tls_key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp, r.checked = &c, st, time.Now()
	return nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= reloadEvery {
		r.checked = time.Now()
		if st, err := r.stamps(); err == nil && st != r.stamp {
			_ = r.load() // on failure keep serving the last good pair
		}
	}
	return r.cert, nil
}

// tlsListener wraps ln in TLS (1.2 and up) with the certificate and key
// in certFile and keyFile. It fails when the pair does not load, so a
// node with a bad certificate never starts serving.
func tlsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	r, err := newCertReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate, NextProtos: []string{"h2", "http/1.1"}}), nil
}
