package input

import (
	"crypto/tls"
	"net/url"

	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// checkTLS validates the TLS settings of the connection to DataKit: they
// need an https datakit_url, the client certificate and key go together,
// and every file must load as the writer will load it.
func (c *Config) checkTLS(add func(key, format string, args ...any)) {
	set := c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "" || c.TLSInsecureSkipVerify
	if !set {
		return
	}
	if u, err := url.Parse(c.DatakitURL); err == nil && u.Scheme != "https" {
		// Set for nothing: the operator expects encryption they do not get.
		add("datakit_url", "must start with https:// when a tls_ key is set")
	}
	if c.TLSCAFile != "" {
		if _, err := datakit.LoadCAFile(c.TLSCAFile); err != nil {
			add("tls_ca_file", "%s: %w", c.TLSCAFile, err)
		}
	}
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile != "":
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			add("tls_cert_file", "%s with tls_key_file %s: %w", c.TLSCertFile, c.TLSKeyFile, err)
		}
	case c.TLSCertFile != "":
		add("tls_key_file", "must be set with tls_cert_file")
	case c.TLSKeyFile != "":
		add("tls_cert_file", "must be set with tls_key_file")
	}
}

// tlsConfig is the writer's TLS configuration.
func (c *Config) tlsConfig() datakit.TLSConfig {
	return datakit.TLSConfig{
		CAFile:             c.TLSCAFile,
		CertFile:           c.TLSCertFile,
		KeyFile:            c.TLSKeyFile,
		InsecureSkipVerify: c.TLSInsecureSkipVerify,
	}
}
