package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
)

// etcdArgs returns the flags for a single-member etcd on the given loopback ports, storing
// data under dataDir.
func etcdArgs(dataDir string, clientPort, peerPort int, quotaBackendBytes int64) []string {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	args := []string{
		"--name=controlplane",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=controlplane=" + peer,
		"--initial-cluster-state=new",
		// The data dir is thrown away after the test; durability only costs time.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
	if quotaBackendBytes > 0 {
		args = append(args, "--quota-backend-bytes="+strconv.FormatInt(quotaBackendBytes, 10))
	}
	return args
}

// startEtcd starts etcd from bin with data and log under dir and waits until it is healthy.
func startEtcd(ctx context.Context, bin, dir string, clientPort, peerPort int, quota int64) (*process, error) {
	args := etcdArgs(filepath.Join(dir, "etcd-data"), clientPort, peerPort, quota)
	p, err := startProcess("etcd", bin, args, childEnv([]string{"ETCD_"}), filepath.Join(dir, "logs", "etcd.log"))
	if err != nil {
		return nil, err
	}
	healthURL := fmt.Sprintf("http://127.0.0.1:%d/health", clientPort)
	if err := pollUntil(ctx, p, "etcd health", func(ctx context.Context) error {
		return etcdHealthy(ctx, healthURL)
	}); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// etcdHealthy returns nil when etcd's /health endpoint reports {"health":"true"}.
func etcdHealthy(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	var h struct {
		Health string `json:"health"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("decode etcd health %q: %w", body, err)
	}
	if h.Health != "true" {
		return fmt.Errorf("etcd health: %s", body)
	}
	return nil
}
