package input

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/testpki"
)

func TestValidateTLS(t *testing.T) {
	dir := t.TempDir()
	pki, err := testpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "absent.pem")
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"CA and client certificate", func(c *Config) {
			c.DatakitURL, c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile = "https://datakit:9529", pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile
		}, nil},
		{"insecure", func(c *Config) { c.DatakitURL, c.TLSInsecureSkipVerify = "https://datakit:9529", true }, nil},
		{"TLS over http", func(c *Config) { c.DatakitURL, c.TLSCAFile = "http://datakit:9529", pki.CAFile },
			[]string{"datakit_url: must start with https:// when a tls_ key is set"}},
		{"TLS without a URL", func(c *Config) { c.TLSInsecureSkipVerify = true },
			[]string{"datakit_url: must start with https:// when a tls_ key is set"}},
		{"missing CA file", func(c *Config) { c.DatakitURL, c.TLSCAFile = "https://datakit:9529", absent },
			[]string{"tls_ca_file: " + absent + ": open " + absent + ": no such file or directory"}},
		{"CA file without a certificate", func(c *Config) { c.DatakitURL, c.TLSCAFile = "https://datakit:9529", notPEM },
			[]string{"tls_ca_file: " + notPEM + ": holds no PEM certificate"}},
		{"certificate without key", func(c *Config) { c.DatakitURL, c.TLSCertFile = "https://datakit:9529", pki.ClientCertFile },
			[]string{"tls_key_file: must be set with tls_cert_file"}},
		{"key without certificate", func(c *Config) { c.DatakitURL, c.TLSKeyFile = "https://datakit:9529", pki.ClientKeyFile },
			[]string{"tls_cert_file: must be set with tls_key_file"}},
		{"key of another certificate", func(c *Config) {
			c.DatakitURL, c.TLSCertFile, c.TLSKeyFile = "https://datakit:9529", pki.ClientCertFile, other.ClientKeyFile
		}, []string{"tls_cert_file: " + pki.ClientCertFile + " with tls_key_file " + other.ClientKeyFile + ": tls: private key does not match public key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(c)
			if diff := cmp.Diff(tc.want, errLines(c.Validate())); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
}
