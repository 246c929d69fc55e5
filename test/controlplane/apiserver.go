package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"time"
)

// disabledAdmissionPlugins are the default admission plugins that need controllers this
// control plane does not run. ServiceAccount rejects pods whose ServiceAccount does not exist,
// and nothing creates the "default" ServiceAccount without kube-controller-manager.
const disabledAdmissionPlugins = "ServiceAccount"

// apiserverPaths are the files the apiserver reads or writes, all under the temp dir.
type apiserverPaths struct {
	certDir   string // the apiserver writes apiserver.crt and apiserver.key here
	tokenFile string // static token file with the admin token
	saKey     string // service-account signing key (private)
	saPub     string // service-account verification key (public)
	log       string
}

// newAPIServerPaths returns the apiserver's file layout under dir.
func newAPIServerPaths(dir string) apiserverPaths {
	return apiserverPaths{
		certDir:   filepath.Join(dir, "pki"),
		tokenFile: filepath.Join(dir, "tokens.csv"),
		saKey:     filepath.Join(dir, "pki", "sa.key"),
		saPub:     filepath.Join(dir, "pki", "sa.pub"),
		log:       filepath.Join(dir, "logs", "kube-apiserver.log"),
	}
}

// servingCert is the self-signed certificate file (serving cert, then its CA) the apiserver
// writes into its cert dir on first start and reuses on restart.
func (p apiserverPaths) servingCert() string { return filepath.Join(p.certDir, "apiserver.crt") }

// apiserverArgs returns the kube-apiserver flags; extra flags come last so they win.
func apiserverArgs(paths apiserverPaths, etcdURL string, port int, extra []string) []string {
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + paths.certDir,
		"--token-auth-file=" + paths.tokenFile,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + paths.saPub,
		"--service-account-signing-key-file=" + paths.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		// No kube-proxy or real endpoints: don't publish 127.0.0.1 as the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=" + disabledAdmissionPlugins,
		// Without it an open watch holds shutdown for the 60 s request timeout, beyond
		// stopGrace, and RestartAPIServer would end in SIGKILL.
		"--shutdown-watch-termination-grace-period=2s",
		"--allow-privileged=true",
		"--profiling=false",
	}
	return append(args, extra...)
}

// startAPIServer starts kube-apiserver and waits until /readyz answers 200.
func startAPIServer(ctx context.Context, bin string, args, env []string, logPath, url, token string) (*process, error) {
	p, err := startProcess("kube-apiserver", bin, args, env, logPath)
	if err != nil {
		return nil, err
	}
	if err := pollUntil(ctx, p, "kube-apiserver /readyz", func(ctx context.Context) error {
		return apiserverReady(ctx, url, token)
	}); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// readyzClient polls /readyz before the CA is known, so it skips certificate verification;
// it sends only the admin token to an address we started ourselves.
var readyzClient = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own loopback apiserver whose CA is not written yet
	},
}

// apiserverReady returns nil when GET url/readyz answers 200.
func apiserverReady(ctx context.Context, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := readyzClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("readyz: %s: %s", resp.Status, body)
	}
	return nil
}
