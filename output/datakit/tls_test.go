package datakit

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/testpki"
)

// TestHTTPClientTLS connects the client New builds to an HTTPS server of a
// test CA that asks for a client certificate, with each way of configuring
// TLS.
func TestHTTPClientTLS(t *testing.T) {
	dir := t.TempDir()
	pki, err := testpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.New(t.TempDir()) // a CA that signed nothing the server has
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "k8s-pod-restart" {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.Pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()

	for _, tc := range []struct {
		name      string
		cfg       TLSConfig
		newErr    string // in New's error; "" for none
		getErr    string // in the request's error; "" for none
		status    int
		warnings  int
		wantNoTLS bool
	}{
		{name: "system roots do not know the test CA", getErr: "certificate signed by unknown authority", wantNoTLS: true},
		{name: "CA file", cfg: TLSConfig{CAFile: pki.CAFile}, status: http.StatusUnauthorized},
		{name: "CA file and client certificate", cfg: TLSConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}, status: http.StatusOK},
		{name: "another CA", cfg: TLSConfig{CAFile: other.CAFile}, getErr: "certificate signed by unknown authority"},
		{name: "insecure, logged", cfg: TLSConfig{InsecureSkipVerify: true, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}, status: http.StatusOK, warnings: 1},
		{name: "missing CA file", cfg: TLSConfig{CAFile: filepath.Join(dir, "absent.pem")}, newErr: "TLS CA file"},
		{name: "CA file without a certificate", cfg: TLSConfig{CAFile: notPEM}, newErr: "holds no PEM certificate"},
		{name: "certificate without key", cfg: TLSConfig{CertFile: pki.ClientCertFile}, newErr: "set both or neither"},
		{name: "key without certificate", cfg: TLSConfig{KeyFile: pki.ClientKeyFile}, newErr: "set both or neither"},
		{name: "key of another certificate", cfg: TLSConfig{CertFile: pki.ClientCertFile, KeyFile: other.ClientKeyFile}, newErr: "TLS client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			client, err := newHTTPClient(tc.cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.newErr) {
					t.Fatalf("newHTTPClient: %v, want an error with %q", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr := client.Transport.(*http.Transport)
			if got := tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion == 0; got != tc.wantNoTLS {
				t.Errorf("default TLS config kept: %v, want %v", got, tc.wantNoTLS)
			}
			if got := strings.Count(logs.String(), "level=WARN"); got != tc.warnings {
				t.Errorf("%d warnings, want %d: %s", got, tc.warnings, logs.String())
			}
			resp, err := client.Get(srv.URL)
			if tc.getErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.getErr) {
					t.Fatalf("GET: %v, want an error with %q", err, tc.getErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// TestNewRejectsBadTLS checks that New fails on TLS files it cannot use,
// before it opens the queue.
func TestNewRejectsBadTLS(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Config{
		URL: "https://datakit:9529", QueueDir: filepath.Join(dir, "queue"), Input: "k8s_pod_restart", Encoder: wtEncoderConfig,
		TLS: TLSConfig{CAFile: filepath.Join(dir, "absent.pem")},
	}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "TLS CA file") {
		t.Errorf("New: %v, want a TLS CA file error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "queue")); !os.IsNotExist(err) {
		t.Errorf("the queue directory was created: %v", err)
	}
}
