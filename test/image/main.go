// Command image builds the agent's container image without a Docker daemon:
// the static (CGO_ENABLED=0) binary, run as the non-root user 65532, on an
// empty base, written as a `docker save` tarball that `docker load`,
// `ctr image import` and `crane push` accept. The image is tagged
// k8s-pod-restart:<version> and k8s-pod-restart:latest.
//
//	go run ./test/image -o bin/k8s-pod-restart-image.tar          (or: make image)
//	go run ./test/image -binary bin/k8s-pod-restart -version v1.2.3 -o image.tar
//
// test/image/Dockerfile builds the same image with Docker.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's layout. The Dockerfile and the Deployment in manifests/ agree
// with these; tests check both.
const (
	repository = "k8s-pod-restart"
	binaryPath = "/k8s-pod-restart"
	samplePath = "/etc/k8s-pod-restart/conf.d/k8s_pod_restart.conf.sample"
	queueDir   = "/var/lib/k8s-pod-restart"
	uid        = 65532
	user       = "65532:65532"
)

// passwd and group name the non-root user, for tools that look it up.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("o", "bin/k8s-pod-restart-image.tar", "the image tarball to write")
	binary := fs.String("binary", "", "an agent binary built for linux with CGO_ENABLED=0; empty builds one")
	version := fs.String("version", "", "the agent's version and the image's tag; empty: git describe, else dev")
	arch := fs.String("arch", runtime.GOARCH, "the GOARCH to build for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if *version == "" {
		*version = gitVersion(ctx, root)
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	bin := *binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "k8s-pod-restart-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "k8s-pod-restart")
		if err := buildBinary(ctx, root, bin, *version, *arch); err != nil {
			return err
		}
	}
	sample, err := os.ReadFile(filepath.Join(root, "conf.d", "k8s_pod_restart.conf.sample"))
	if err != nil {
		return err
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	img, err := buildImage(exe, sample, *version, *arch, created)
	if err != nil {
		return err
	}
	tags, err := tagsFor(*version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	refs := make(map[name.Tag]v1.Image, len(tags))
	for _, t := range tags {
		refs[t] = img
	}
	if err := tarball.MultiWriteToFile(*out, refs); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	info, err := os.Stat(*out)
	if err != nil {
		return err
	}
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = t.String()
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes): %s %s\n", *out, info.Size(), strings.Join(names, " "), digest)
	return nil
}

// moduleRoot returns the directory of the agent's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run inside the k8s-pod-restart module")
	}
	return filepath.Dir(gomod), nil
}

// gitVersion describes the checkout as the Makefile does, or returns dev.
func gitVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "dev"
}

// sourceDateEpoch parses $SOURCE_DATE_EPOCH, the reproducible-builds
// convention for the image's creation time; unset means the Unix epoch, so
// that the same binary always makes the same image.
func sourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// buildBinary compiles the agent as the Makefile's build target does, for
// linux/arch, without cgo: the image has no C library.
func buildBinary(ctx context.Context, root, out, version, arch string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+version, "-o", out, "./cmd/k8s-pod-restart")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, b)
	}
	return nil
}

// invalidTagChars are those a tag may not hold.
var invalidTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// tagsFor returns the image's tags: the version made a valid tag, and latest.
func tagsFor(version string) ([]name.Tag, error) {
	v := invalidTagChars.ReplaceAllString(version, "-")
	if v == "" || v[0] == '.' || v[0] == '-' {
		v = "v" + v
	}
	if len(v) > 128 {
		v = v[:128]
	}
	var tags []name.Tag
	for _, t := range []string{v, "latest"} {
		tag, err := name.NewTag(repository+":"+t, name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", t, err)
		}
		if len(tags) == 0 || tags[0] != tag {
			tags = append(tags, tag)
		}
	}
	return tags, nil
}

// file is one entry of the image's only layer.
type file struct {
	path string // absolute
	mode int64  // permission bits; a path ending in / is a directory
	uid  int
	data []byte
}

// layerFiles lists the image's files: the binary, the sample configuration
// where DataKit-style installs put it, the queue directory writable by the
// agent's user, and that user's passwd entry.
func layerFiles(exe, sample []byte) []file {
	return []file{
		{path: "/etc/", mode: 0o755},
		{path: "/etc/group", mode: 0o444, data: []byte(group)},
		{path: "/etc/k8s-pod-restart/", mode: 0o755},
		{path: "/etc/k8s-pod-restart/conf.d/", mode: 0o755},
		{path: samplePath, mode: 0o444, data: sample},
		{path: "/etc/passwd", mode: 0o444, data: []byte(passwd)},
		{path: binaryPath, mode: 0o555, data: exe},
		{path: "/var/", mode: 0o755},
		{path: "/var/lib/", mode: 0o755},
		{path: queueDir + "/", mode: 0o700, uid: uid},
	}
}

// layerTar writes files as an uncompressed layer, with fixed times and
// owners so that the same inputs give the same digest.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    strings.TrimPrefix(f.path, "/"),
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.uid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(f.path, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// buildImage puts the binary on an empty base, as user 65532 with the
// binary as entrypoint.
func buildImage(exe, sample []byte, version, arch string, created time.Time) (v1.Image, error) {
	layerBytes, err := layerTar(layerFiles(exe, sample), created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "go run ./test/image",
			Comment:   "k8s-pod-restart " + version,
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: created}
	cf.Author = "k8s-pod-restart"
	cf.Config = v1.Config{
		User:       user,
		Entrypoint: []string{binaryPath},
		WorkingDir: "/",
		Env:        []string{"PATH=/"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "k8s-pod-restart",
			"org.opencontainers.image.description": "Reports abnormal Pod restarts per namespace to Guance through DataKit",
			"org.opencontainers.image.version":     version,
		},
	}
	return mutate.ConfigFile(img, cf)
}
