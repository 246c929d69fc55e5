package collect

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/rest"
)

// TestPodWatchConfig: the pod watch speaks HTTP/1.1 to a server that
// offers HTTP/2 (every API server does), on a connection of its own; the
// configuration it was copied from keeps HTTP/2.
func TestPodWatchConfig(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	base := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}}

	proto := func(cfg *rest.Config) string {
		t.Helper()
		client, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.Proto
	}
	if got := proto(PodWatchConfig(base)); got != "HTTP/1.1" {
		t.Errorf("pod watch: %s, want HTTP/1.1", got)
	}
	if got := proto(base); got != "HTTP/2.0" {
		t.Errorf("the configuration PodWatchConfig copied: %s, want HTTP/2.0 (unchanged)", got)
	}

	// A configuration that dials by itself is left as it is.
	dialed := false
	own := rest.CopyConfig(base)
	own.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = true
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	if got := proto(PodWatchConfig(own)); got != "HTTP/2.0" || !dialed {
		t.Errorf("a configuration with its own dialer: %s, dialed %v; want HTTP/2.0 through it", got, dialed)
	}
}
