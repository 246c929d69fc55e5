// Package release fetches the official kube-apiserver and etcd release binaries for the local
// control plane, verified against their published checksums, and falls back to building them
// when that fails. It is a package of its own so that its tests need no control plane.
package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Where the official release binaries are published, laid out as:
//
//	<Kubernetes>/<version>/bin/<os>/<arch>/kube-apiserver
//	<Kubernetes>/<version>/bin/<os>/<arch>/kube-apiserver.sha256   (the hex SHA-256)
//	<Etcd>/<version>/etcd-<version>-<os>-<arch>.tar.gz              (etcd-<v>-<os>-<arch>/etcd inside)
//	<Etcd>/<version>/SHA256SUMS                                     ("<hex>  <file name>" lines)
//
// Kubernetes publishes kube-apiserver for Linux only, and etcd a tarball for
// Linux only (a zip for macOS): elsewhere the binaries are built.
const (
	KubernetesURL = "https://dl.k8s.io/release"
	EtcdURL       = "https://github.com/etcd-io/etcd/releases/download"
)

// NoDownloadEnv set to any value turns downloads off: the binaries are built.
const NoDownloadEnv = "K8S_POD_RESTART_NO_DOWNLOAD"

// Timeouts of a download. Connecting is bounded tightly, so that a machine
// that cannot reach the release servers falls back to building at once;
// the transfer itself (about 100 MB in all) has minutes.
const (
	connectTimeout  = 3 * time.Second
	headerTimeout   = 15 * time.Second
	downloadTimeout = 5 * time.Minute
	// maxBinaryBytes bounds what a download may write.
	maxBinaryBytes = 512 << 20
)

// Source is one release tree of the official binaries.
type Source struct {
	KubernetesURL, EtcdURL         string // base URLs, as KubernetesURL and EtcdURL
	KubernetesVersion, EtcdVersion string // v1.37.2, v3.7.0
	GOOS, GOARCH                   string
	Client                         *http.Client
}

// Official returns the official release servers for this machine, with a
// short connect timeout, or nil when NoDownloadEnv is set.
func Official(kubernetesVersion, etcdVersion string) *Source {
	if os.Getenv(NoDownloadEnv) != "" {
		return nil
	}
	return &Source{
		KubernetesURL: KubernetesURL, EtcdURL: EtcdURL,
		KubernetesVersion: kubernetesVersion, EtcdVersion: etcdVersion,
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		Client: NewClient(),
	}
}

// NewClient returns the HTTP client of downloads: quick to give up on a
// server it cannot reach, patient with a slow transfer.
func NewClient() *http.Client {
	return &http.Client{
		Timeout: downloadTimeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: connectTimeout}).DialContext,
			TLSHandshakeTimeout:   connectTimeout,
			ResponseHeaderTimeout: headerTimeout,
		},
	}
}

// Fetch downloads the official binary name (kube-apiserver or etcd) into the
// file dst, checking the published checksum; on error dst is left as it was.
func (r *Source) Fetch(ctx context.Context, name, dst string) error {
	if r.GOOS != "linux" {
		return fmt.Errorf("no official %s binary for %s", name, r.GOOS)
	}
	switch name {
	case "kube-apiserver":
		base := fmt.Sprintf("%s/%s/bin/%s/%s/kube-apiserver", r.KubernetesURL, r.KubernetesVersion, r.GOOS, r.GOARCH)
		sum, err := r.get(ctx, base+".sha256", 1<<10)
		if err != nil {
			return err
		}
		f := strings.Fields(string(sum))
		if len(f) == 0 {
			return fmt.Errorf("%s.sha256 is empty", base)
		}
		bin, err := r.get(ctx, base, maxBinaryBytes)
		if err != nil {
			return err
		}
		if err := checkSum(bin, f[0], base); err != nil {
			return err
		}
		return install(bin, dst)
	case "etcd":
		tgzName := fmt.Sprintf("etcd-%s-%s-%s", r.EtcdVersion, r.GOOS, r.GOARCH)
		dir := r.EtcdURL + "/" + r.EtcdVersion
		sums, err := r.get(ctx, dir+"/SHA256SUMS", 1<<20)
		if err != nil {
			return err
		}
		want, ok := sumFor(sums, tgzName+".tar.gz")
		if !ok {
			return fmt.Errorf("%s/SHA256SUMS lists no %s.tar.gz", dir, tgzName)
		}
		tgz, err := r.get(ctx, dir+"/"+tgzName+".tar.gz", maxBinaryBytes)
		if err != nil {
			return err
		}
		if err := checkSum(tgz, want, dir+"/"+tgzName+".tar.gz"); err != nil {
			return err
		}
		bin, err := fromTarGz(tgz, tgzName+"/etcd")
		if err != nil {
			return fmt.Errorf("%s.tar.gz: %w", name, err)
		}
		return install(bin, dst)
	}
	return fmt.Errorf("no official release of %s", name)
}

// get returns the body of url, at most limit bytes, or an error for any
// status but 200.
func (r *Source) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return b, nil
}

// checkSum reports whether data's SHA-256 is the hex digest want.
func checkSum(data []byte, want, what string) error {
	got := sha256.Sum256(data)
	if !strings.EqualFold(hex.EncodeToString(got[:]), want) {
		return fmt.Errorf("%s: checksum mismatch: SHA-256 %x, published %s", what, got, want)
	}
	return nil
}

// sumFor finds the digest of file in a SHA256SUMS file ("<hex>  <name>" or
// "<hex> *<name>" lines, as sha256sum writes them).
func sumFor(sums []byte, file string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == file {
			return f[0], true
		}
	}
	return "", false
}

// fromTarGz returns the regular file named name in a gzipped tarball.
func fromTarGz(data []byte, name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no %s inside", name)
		}
		if err != nil {
			return nil, err
		}
		if path.Clean(h.Name) == name && h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, maxBinaryBytes))
		}
	}
}

// install writes an executable to dst through a temporary file renamed
// into place, so that dst is either absent or whole.
func install(bin []byte, dst string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), TempPrefix+filepath.Base(dst)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(bin); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// TempPrefix marks files written before they are renamed into place; a
// killed process leaves them behind, and they can go.
const TempPrefix = ".building-"

// Get puts the binary name into dir: the official one from src when it can
// (src nil: never), else what build makes, saying on progress why. It
// returns build's error, or the download's when ctx ended.
func Get(ctx context.Context, src *Source, dir, name string, build func(ctx context.Context) error, progress io.Writer) error {
	if src != nil {
		start := time.Now()
		fmt.Fprintf(progress, "controlplane: downloading the official %s for %s/%s into %s\n", name, src.GOOS, src.GOARCH, dir)
		err := src.Fetch(ctx, name, filepath.Join(dir, name))
		if err == nil {
			fmt.Fprintf(progress, "controlplane: downloaded %s and verified its checksum in %s\n", name, time.Since(start).Round(100*time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		fmt.Fprintf(progress, "controlplane: not using the official %s (%v; gave up after %s): building it from the Go module proxy instead\n",
			name, err, time.Since(start).Round(time.Millisecond))
	}
	return build(ctx)
}
