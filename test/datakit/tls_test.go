package datakit

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/testpki"
)

// TestTLS serves HTTPS with a test CA that verifies client certificates
// when given, and records what each request presented.
func TestTLS(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rcv := New(t, WithNow(fixedNow), WithTLS(&tls.Config{
		Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.Pool, ClientAuth: tls.VerifyClientCertIfGiven,
	}))
	if !strings.HasPrefix(rcv.URL(), "https://") {
		t.Fatalf("URL %s, want https://", rcv.URL())
	}
	client, err := tls.LoadX509KeyPair(pki.ClientCertFile, pki.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		want  string
	}{
		{"without a client certificate", nil, ""},
		{"with a client certificate", []tls.Certificate{client}, "k8s-pod-restart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv.Reset()
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: tc.certs}}}
			resp, err := c.Post(rcv.URL()+"/v1/write/keyevent?precision=s", "text/plain", strings.NewReader("e v=1i 1\n"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			reqs := rcv.Requests()
			if len(reqs) != 1 || resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, %d requests recorded, want 200 and 1", resp.StatusCode, len(reqs))
			}
			if !reqs[0].TLS || reqs[0].ClientCert != tc.want {
				t.Errorf("recorded TLS=%v client certificate %q, want true and %q", reqs[0].TLS, reqs[0].ClientCert, tc.want)
			}
		})
	}
}
