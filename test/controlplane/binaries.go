package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/controlplane/release"
)

// Version is the Kubernetes release that test/controlplane/build pins; the cache directory is
// named after it so that a version bump never reuses old binaries.
const Version = "v1.37.2"

// progressInterval is how often a running build reports that it is still running.
const progressInterval = 30 * time.Second

// Binaries holds the absolute paths of the control-plane executables.
type Binaries struct {
	Etcd      string
	APIServer string
}

// target describes how one binary is built from the build module.
type target struct {
	name string   // file name in the cache directory
	args []string // arguments to `go build` before -o
	pkg  string   // package to build, relative to the build module
	note string   // what to expect, printed when the build starts
}

// targets lists the binaries in the order Ensure builds them.
var targets = []target{
	{name: "etcd", pkg: "./etcd", note: "about a minute on a cold cache"},
	{
		name: "kube-apiserver",
		args: []string{
			"-trimpath",
			"-ldflags", "-s -w -X k8s.io/component-base/version.gitVersion=" + Version,
		},
		pkg: "k8s.io/kubernetes/cmd/kube-apiserver",
		note: "about 15 minutes on a cold 2-core machine; run test/controlplane/run.sh -build-only " +
			"once, or give go test a -timeout above that",
	},
}

// CacheDir returns the directory holding the binaries of Version:
// ${XDG_CACHE_HOME:-$HOME/.cache}/k8s-pod-restart/controlplane-<Version>.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find cache dir: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "k8s-pod-restart", "controlplane-"+Version), nil
}

// Ensure returns the cached binaries, getting the missing ones first: the official release
// binaries where the release servers answer (see KubernetesReleaseURL), verified against their
// published checksums, else a build from the build module, saying why. Downloads and builds are
// serialised across processes by a lock file in the cache directory, so that the packages of one
// `go test ./...` wait for a single one. Progress (what is fetched or built and why, then the
// elapsed time every 30 s) goes to progress, which may be nil.
func Ensure(ctx context.Context, progress io.Writer) (Binaries, error) {
	dir, err := CacheDir()
	if err != nil {
		return Binaries{}, err
	}
	return ensure(ctx, dir, release.Official(Version, EtcdVersion), buildFromModule, progress)
}

// buildFromModule builds t into dir from the build module.
func buildFromModule(ctx context.Context, dir string, t target, progress io.Writer) error {
	module, err := buildModuleDir(ctx)
	if err != nil {
		return err
	}
	return build(ctx, module, dir, t, progress)
}

// EtcdVersion is the etcd release downloaded, the one the build module pins
// (go.etcd.io/etcd/server/v3 in build/go.mod).
const EtcdVersion = "v3.7.0"

// ensure is Ensure for the cache directory dir, downloading from rel (nil: never) and
// building with buildFn.
func ensure(ctx context.Context, dir string, rel *release.Source,
	buildFn func(ctx context.Context, dir string, t target, progress io.Writer) error, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	bins := Binaries{
		Etcd:      filepath.Join(dir, "etcd"),
		APIServer: filepath.Join(dir, "kube-apiserver"),
	}
	if len(missing(dir)) == 0 {
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("create cache dir: %w", err)
	}
	unlock, err := lockDir(ctx, dir, progress)
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()

	// Another process may have got the binaries while we waited for the lock.
	todo := missing(dir)
	if len(todo) == 0 {
		return bins, nil
	}
	removeStaleTemps(dir)
	for _, t := range todo {
		err := release.Get(ctx, rel, dir, t.name, func(ctx context.Context) error { return buildFn(ctx, dir, t, progress) }, progress)
		if err != nil {
			return Binaries{}, err
		}
	}
	return bins, nil
}

// missing returns the targets whose binary is absent (or not a regular executable) in dir.
func missing(dir string) []target {
	var out []target
	for _, t := range targets {
		fi, err := os.Stat(filepath.Join(dir, t.name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o100 == 0 {
			out = append(out, t)
		}
	}
	return out
}

// tempPrefix marks files a build writes before renaming them into place.
const tempPrefix = release.TempPrefix

// removeStaleTemps deletes half-written binaries left by a killed build. The caller holds the
// lock, so no live build is writing them.
func removeStaleTemps(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
	for _, f := range stale {
		_ = os.Remove(f)
	}
}

// build runs `go build` for t in the build module, writing to a temp file in dir that is
// renamed into place only when the build succeeded.
func build(ctx context.Context, module, dir string, t target, progress io.Writer) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build %s: find the go command: %w", t.name, err)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+t.name+"-*")
	if err != nil {
		return fmt.Errorf("build %s: %w", t.name, err)
	}
	tmpName := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpName) // no-op after the rename

	args := append([]string{"build"}, t.args...)
	args = append(args, "-o", tmpName, t.pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = module
	// The build module must not be pulled into a go.work of the surrounding checkout.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.SysProcAttr = buildProcAttr()
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out

	fmt.Fprintf(progress, "controlplane: building %s for Kubernetes %s into %s because it is not cached yet (%s)\n",
		t.name, Version, dir, t.note)
	start := time.Now()
	if err := runWithProgress(cmd, t.name, start, progress); err != nil {
		return fmt.Errorf("build %s in %s: %w\n%s", t.name, module, err, out.String())
	}
	if err := os.Rename(tmpName, filepath.Join(dir, t.name)); err != nil {
		return fmt.Errorf("build %s: install binary: %w", t.name, err)
	}
	fmt.Fprintf(progress, "controlplane: built %s in %s\n", t.name, time.Since(start).Round(time.Second))
	return nil
}

// runWithProgress runs cmd and reports the elapsed time every progressInterval until it ends.
func runWithProgress(cmd *exec.Cmd, name string, start time.Time, progress io.Writer) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			fmt.Fprintf(progress, "controlplane: still building %s (%s elapsed)\n",
				name, time.Since(start).Round(time.Second))
		}
	}
}

// buildModuleDir finds test/controlplane/build: next to this source file when the package was
// compiled without -trimpath, else under the main module that `go env GOMOD` reports.
func buildModuleDir(ctx context.Context) (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "build"))
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			candidates = append(candidates, filepath.Join(filepath.Dir(gomod), "test", "controlplane", "build"))
		}
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("find the control-plane build module: neither the source tree of " +
		"this package nor `go env GOMOD` leads to test/controlplane/build/go.mod")
}
