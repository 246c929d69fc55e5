package datakit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
)

// TLSConfig configures HTTPS to DataKit. The zero value verifies DataKit's
// certificate against the system's roots (or the fallback roots the binary
// carries) and presents no client certificate.
type TLSConfig struct {
	// CAFile is a PEM file of the certificates that may sign DataKit's
	// certificate, instead of the system's roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for a
	// DataKit (or a proxy before it) that asks for one. Both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify accepts any certificate DataKit presents; New logs
	// a warning when it is set.
	InsecureSkipVerify bool
}

// LoadCAFile reads a PEM file of CA certificates into a pool; it fails when
// the file holds no certificate.
func LoadCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("holds no PEM certificate")
	}
	return pool, nil
}

// clientTLS returns the *tls.Config for c, or nil when c asks nothing of the
// default.
func (c TLSConfig) clientTLS() (*tls.Config, error) {
	if c == (TLSConfig{}) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in, logged by New
	var errs []error
	if c.CAFile != "" {
		pool, err := LoadCAFile(c.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("TLS CA file %s: %w", c.CAFile, err))
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("TLS client certificate %s and key %s: %w", c.CertFile, c.KeyFile, err))
		}
		cfg.Certificates = []tls.Certificate{cert}
	case c.CertFile != "" || c.KeyFile != "":
		errs = append(errs, errors.New("TLS client certificate and key go together: set both or neither"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// newHTTPClient returns the client New sends with when the caller gives
// none: Go's default transport (proxy from the environment, keep-alives,
// HTTP/2) with c's TLS settings.
func newHTTPClient(c TLSConfig, log *slog.Logger) (*http.Client, error) {
	tlsCfg, err := c.clientTLS()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
	}
	if c.InsecureSkipVerify {
		log.Warn("DataKit's TLS certificate is not verified (tls_insecure_skip_verify): anyone on the path can read and change what is sent")
	}
	return &http.Client{Transport: tr}, nil
}
