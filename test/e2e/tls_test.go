package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/testpki"
)

// TestHTTPS sends events to a DataKit served over HTTPS by a test CA that
// requires a client certificate: the agent, configured with tls_ca_file,
// tls_cert_file and tls_key_file, delivers them; without tls_ca_file it
// refuses the unknown CA and delivers nothing.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientCAs:    pki.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}

	t.Run("test CA and client certificate", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, "https")
		h := &harness{t: t, dk: datakit.New(t, datakit.WithTLS(serverTLS)), dir: t.TempDir()}
		h.start(agentConfig{
			Namespaces: []string{ns},
			Extra: fmt.Sprintf("  tls_ca_file = %q\n  tls_cert_file = %q\n  tls_key_file = %q\n",
				pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile),
		})
		sim := kubesim.New(cp.Client())
		pods := workload(t, sim, ns, "api", 10, nil)
		crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
		evs := h.waitEvents(ns, 1, waitEvent)
		if got := evs[0].Tags["df_status"]; got != "warning" && got != "error" {
			t.Errorf("first event's status %q, want an anomaly%s", got, describe(evs))
		}
		reqs := h.dk.Requests()
		if len(reqs) == 0 {
			t.Fatal("no request recorded")
		}
		for i, r := range reqs {
			if !r.TLS || r.ClientCert != "k8s-pod-restart" {
				t.Errorf("request %d (%s): TLS=%v client certificate %q, want HTTPS with k8s-pod-restart", i, r.Category, r.TLS, r.ClientCert)
			}
		}
		for _, problem := range []string{"x509:", "tls:"} {
			if lines := grep(h.agent.Logs(), problem); lines != "" {
				t.Errorf("the agent logged TLS problems:\n%s", lines)
			}
		}
	})

	t.Run("unknown CA refused", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, "https-refused")
		h := &harness{t: t, dk: datakit.New(t, datakit.WithTLS(serverTLS)), dir: t.TempDir()}
		h.start(agentConfig{
			Namespaces: []string{ns},
			Extra:      fmt.Sprintf("  tls_cert_file = %q\n  tls_key_file = %q\n", pki.ClientCertFile, pki.ClientKeyFile),
		})
		// Metrics are sent every interval: the first attempt fails on the
		// certificate.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := h.agent.WaitLog(ctx, "certificate signed by unknown authority"); err != nil {
			t.Fatalf("%v\nlogs:\n%s", err, tail(h.agent.Logs(), 30))
		}
		if n := len(h.dk.Requests()); n != 0 {
			t.Errorf("%d requests reached DataKit through an unverified connection, want 0", n)
		}
	})
}
