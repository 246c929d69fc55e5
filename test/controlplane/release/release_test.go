package release

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tiny stand-ins for the binaries: what matters is which bytes land in the
// cache, not that they run.
var (
	fakeAPIServer = []byte("#!/bin/sh\necho fake kube-apiserver\n")
	fakeEtcd      = []byte("#!/bin/sh\necho fake etcd\n")
)

const (
	kubeVersion = "v1.37.2"
	etcdVersion = "v3.7.0"
)

// tree is a release tree laid out as the official servers lay it out,
// path -> content; the tests break it in one place per case.
func tree(t *testing.T) map[string][]byte {
	t.Helper()
	name := fmt.Sprintf("etcd-%s-linux-amd64", etcdVersion)
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		data []byte
	}{{name + "/README.md", []byte("etcd\n")}, {name + "/etcdctl", []byte("ctl")}, {name + "/etcd", fakeEtcd}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }
	kube := "/k8s/" + kubeVersion + "/bin/linux/amd64/"
	etcd := "/etcd/" + etcdVersion + "/"
	return map[string][]byte{
		kube + "kube-apiserver":        fakeAPIServer,
		kube + "kube-apiserver.sha256": []byte(sum(fakeAPIServer)),
		etcd + name + ".tar.gz":        tgz.Bytes(),
		etcd + "SHA256SUMS": []byte(fmt.Sprintf("%s  etcd-%s-darwin-arm64.zip\n%s  %s.tar.gz\n",
			sum([]byte("zip")), etcdVersion, sum(tgz.Bytes()), name)),
	}
}

func TestGet(t *testing.T) {
	kube := "/k8s/" + kubeVersion + "/bin/linux/amd64/kube-apiserver"
	sums := "/etcd/" + etcdVersion + "/SHA256SUMS"
	for _, tc := range []struct {
		name   string
		binary string
		goos   string
		breakT func(files map[string][]byte)
		down   bool // the server is not there at all
		want   []byte
		built  bool
		says   string // a part of the progress
	}{
		{name: "official kube-apiserver", binary: "kube-apiserver", want: fakeAPIServer, says: "downloaded kube-apiserver and verified its checksum"},
		{name: "official etcd", binary: "etcd", want: fakeEtcd, says: "downloaded etcd and verified its checksum"},
		{
			name: "kube-apiserver with a bad checksum", binary: "kube-apiserver", built: true,
			breakT: func(f map[string][]byte) { f[kube] = []byte("tampered") },
			says:   "kube-apiserver: checksum mismatch",
		},
		{
			name: "etcd with a bad checksum", binary: "etcd", built: true,
			breakT: func(f map[string][]byte) {
				tgz := f["/etcd/"+etcdVersion+"/etcd-"+etcdVersion+"-linux-amd64.tar.gz"]
				f[sums] = bytes.Replace(f[sums], fmt.Appendf(nil, "%x", sha256.Sum256(tgz)), bytes.Repeat([]byte("0"), 64), 1)
			},
			says: "tar.gz: checksum mismatch",
		},
		{
			name: "a missing checksum file", binary: "kube-apiserver", built: true,
			breakT: func(f map[string][]byte) { delete(f, kube+".sha256") },
			says:   "kube-apiserver.sha256: 404 Not Found",
		},
		{
			name: "a missing tarball", binary: "etcd", built: true,
			breakT: func(f map[string][]byte) { delete(f, "/etcd/"+etcdVersion+"/etcd-"+etcdVersion+"-linux-amd64.tar.gz") },
			says:   "linux-amd64.tar.gz: 404 Not Found",
		},
		{
			name: "SHA256SUMS without the tarball", binary: "etcd", built: true,
			breakT: func(f map[string][]byte) { f[sums] = []byte("abc  other.tar.gz\n") },
			says:   "lists no etcd-v3.7.0-linux-amd64.tar.gz",
		},
		{name: "no server", binary: "etcd", down: true, built: true, says: "connection refused"},
		{name: "not Linux", binary: "kube-apiserver", goos: "darwin", built: true, says: "no official kube-apiserver binary for darwin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tree(t)
			if tc.breakT != nil {
				tc.breakT(files)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, ok := files[r.URL.Path]
				if !ok {
					http.NotFound(w, r)
					return
				}
				w.Write(b)
			}))
			defer srv.Close()
			if tc.down {
				srv.Close()
			}
			goos := cmp.Or(tc.goos, "linux")
			src := &Source{KubernetesURL: srv.URL + "/k8s", EtcdURL: srv.URL + "/etcd", KubernetesVersion: kubeVersion,
				EtcdVersion: etcdVersion, GOOS: goos, GOARCH: "amd64", Client: NewClient()}
			dir := t.TempDir()
			built := false
			var progress strings.Builder
			err := Get(t.Context(), src, dir, tc.binary, func(context.Context) error {
				built = true
				return os.WriteFile(filepath.Join(dir, tc.binary), []byte("built"), 0o755)
			}, &progress)
			if err != nil {
				t.Fatal(err)
			}
			if built != tc.built {
				t.Errorf("built %v, want %v", built, tc.built)
			}
			if !strings.Contains(progress.String(), tc.says) {
				t.Errorf("progress %q does not say %q", progress.String(), tc.says)
			}
			want := tc.want
			if tc.built {
				want = []byte("built")
			}
			got, err := os.ReadFile(filepath.Join(dir, tc.binary))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s holds %q, want %q", tc.binary, got, want)
			}
			if fi, err := os.Stat(filepath.Join(dir, tc.binary)); err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("%s is not executable: %v %v", tc.binary, fi.Mode(), err)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, TempPrefix+"*")); len(left) != 0 {
				t.Errorf("temporary files left: %q", left)
			}
		})
	}
}

// TestUnreachableFallsBackQuickly: a server that accepts no connection
// (a blackholed address) is given up after the connect timeout, well
// before the download's: the fallback starts at once.
func TestUnreachableFallsBackQuickly(t *testing.T) {
	// 192.0.2.0/24 is TEST-NET-1 (RFC 5737): routed nowhere.
	src := &Source{KubernetesURL: "http://192.0.2.1/k8s", EtcdURL: "http://192.0.2.1/etcd", KubernetesVersion: kubeVersion,
		EtcdVersion: etcdVersion, GOOS: "linux", GOARCH: "amd64", Client: NewClient()}
	ctx, cancel := context.WithTimeout(t.Context(), connectTimeout+5*time.Second)
	defer cancel()
	err := src.Fetch(ctx, "kube-apiserver", filepath.Join(t.TempDir(), "kube-apiserver"))
	if err == nil {
		t.Fatal("Fetch from an unreachable server succeeded")
	}
	if ctx.Err() != nil {
		t.Errorf("Fetch waited past the connect timeout %s: %v", connectTimeout, err)
	}
}
