package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// entry is what the tests compare of a tar entry.
type entry struct {
	Name     string
	Dir      bool
	Mode     int64
	UID, GID int
}

// TestImageTarball builds the image as `make image` does and checks it the
// way docker load and a container runtime read it: manifest.json, the
// config, the layer's files, and the binary, which must be static and run.
func TestImageTarball(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	const version = "v1.2.3-test"
	out := filepath.Join(t.TempDir(), "image.tar")
	var stdout bytes.Buffer
	if err := run([]string{"-o", out, "-version", version}, &stdout); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", stdout.String())
	tags := []string{"k8s-pod-restart:" + version, "k8s-pod-restart:latest"}

	t.Run("docker load manifest", func(t *testing.T) {
		files := tarFiles(t, out)
		var m tarball.Manifest
		if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
			t.Fatalf("manifest.json: %v", err)
		}
		if len(m) != 1 {
			t.Fatalf("manifest.json has %d images, want 1", len(m))
		}
		if diff := cmp.Diff(tags, m[0].RepoTags, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("RepoTags (-want +got):\n%s", diff)
		}
		for _, f := range append([]string{m[0].Config}, m[0].Layers...) {
			if _, ok := files[f]; !ok {
				t.Errorf("manifest.json names %s, which the tarball lacks", f)
			}
		}
	})

	for _, tag := range tags {
		t.Run(tag, func(t *testing.T) {
			ref, err := name.NewTag(tag)
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(out, &ref)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			want := v1.Config{
				User:       "65532:65532",
				Entrypoint: []string{"/k8s-pod-restart"},
				WorkingDir: "/",
				Env:        []string{"PATH=/"},
				Labels: map[string]string{
					"org.opencontainers.image.title":       "k8s-pod-restart",
					"org.opencontainers.image.description": "Reports abnormal Pod restarts per namespace to Guance through DataKit",
					"org.opencontainers.image.version":     version,
				},
			}
			if diff := cmp.Diff(want, cf.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
			}
		})
	}

	ref, _ := name.NewTag(tags[0])
	img, err := tarball.ImageFromPath(out, &ref)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 on an empty base", len(layers))
	}
	entries, contents := layerEntries(t, layers[0])

	t.Run("layer", func(t *testing.T) {
		want := []entry{
			{Name: "etc/", Dir: true, Mode: 0o755},
			{Name: "etc/group", Mode: 0o444},
			{Name: "etc/k8s-pod-restart/", Dir: true, Mode: 0o755},
			{Name: "etc/k8s-pod-restart/conf.d/", Dir: true, Mode: 0o755},
			{Name: "etc/k8s-pod-restart/conf.d/k8s_pod_restart.conf.sample", Mode: 0o444},
			{Name: "etc/passwd", Mode: 0o444},
			{Name: "k8s-pod-restart", Mode: 0o555},
			{Name: "var/", Dir: true, Mode: 0o755},
			{Name: "var/lib/", Dir: true, Mode: 0o755},
			{Name: "var/lib/k8s-pod-restart/", Dir: true, Mode: 0o700, UID: 65532, GID: 65532},
		}
		if diff := cmp.Diff(want, entries); diff != "" {
			t.Errorf("layer entries (-want +got):\n%s", diff)
		}
		sample, err := os.ReadFile("../../conf.d/k8s_pod_restart.conf.sample")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(sample), string(contents["etc/k8s-pod-restart/conf.d/k8s_pod_restart.conf.sample"])); diff != "" {
			t.Errorf("sample in the image differs from conf.d's (-want +got):\n%s", diff)
		}
	})

	t.Run("binary", func(t *testing.T) {
		exe := contents["k8s-pod-restart"]
		f, err := elf.NewFile(bytes.NewReader(exe))
		if err != nil {
			t.Fatalf("the entrypoint is not an ELF binary: %v", err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("the binary asks for a dynamic loader; an empty base has none")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary needs shared libraries %v", libs)
		}
		path := filepath.Join(t.TempDir(), "k8s-pod-restart")
		if err := os.WriteFile(path, exe, 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command(path, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("--version: %v\n%s", err, got)
		}
		if want := "k8s-pod-restart " + version + "\n"; string(got) != want {
			t.Errorf("--version printed %q, want %q", got, want)
		}
	})
}

// tarFiles returns the regular files of a tarball by name.
func tarFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

// layerEntries returns a layer's entries in order and its files' contents.
func layerEntries(t *testing.T, l v1.Layer) ([]entry, map[string][]byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var entries []entry
	contents := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, contents
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{Name: h.Name, Dir: h.Typeflag == tar.TypeDir, Mode: h.Mode, UID: h.Uid, GID: h.Gid})
		if h.Typeflag == tar.TypeReg {
			if contents[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestImageReproducible checks that the same inputs make the same image.
func TestImageReproducible(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	digest := func(exe string) v1.Hash {
		img, err := buildImage([]byte(exe), []byte("# sample\n"), "v1", "amd64", at)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if a, b := digest("binary"), digest("binary"); a != b {
		t.Errorf("two builds of the same inputs: %s and %s", a, b)
	}
	if a, b := digest("binary"), digest("other binary"); a == b {
		t.Errorf("two builds of different binaries share the digest %s", a)
	}
}

func TestTagsFor(t *testing.T) {
	tests := []struct {
		version string
		want    []string
	}{
		{"v1.2.3", []string{"k8s-pod-restart:v1.2.3", "k8s-pod-restart:latest"}},
		{"4cf2e89-dirty", []string{"k8s-pod-restart:4cf2e89-dirty", "k8s-pod-restart:latest"}},
		{"feature/x+y", []string{"k8s-pod-restart:feature-x-y", "k8s-pod-restart:latest"}},
		{".hidden", []string{"k8s-pod-restart:v.hidden", "k8s-pod-restart:latest"}},
		{"latest", []string{"k8s-pod-restart:latest"}},
		{strings.Repeat("a", 200), []string{"k8s-pod-restart:" + strings.Repeat("a", 128), "k8s-pod-restart:latest"}},
	}
	for _, tc := range tests {
		t.Run(tc.version[:min(len(tc.version), 20)], func(t *testing.T) {
			tags, err := tagsFor(tc.version)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tag := range tags {
				got = append(got, tag.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestDockerfileAndDeploymentAgree checks that the Dockerfile builds the
// image this program builds, and that the Deployment runs it as it expects:
// as its user, with the queue directory where the image has it.
func TestDockerfileAndDeploymentAgree(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(df), "\n") {
		for _, kw := range []string{"FROM scratch", "USER ", "ENTRYPOINT ", "COPY --from=build "} {
			if strings.HasPrefix(line, kw) {
				got = append(got, line)
			}
		}
	}
	want := []string{
		"FROM scratch",
		"COPY --from=build /out/ /",
		"COPY --from=build --chown=" + user + " /queue/ " + queueDir + "/",
		"USER " + user,
		`ENTRYPOINT ["` + binaryPath + `"]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dockerfile's final stage (-want +got):\n%s", diff)
	}

	raw, err := os.ReadFile("../../manifests/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(raw, &d); err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != uid || sc.RunAsGroup == nil || *sc.RunAsGroup != uid {
		t.Errorf("the Deployment does not run as %s: %+v", user, sc)
	}
	mounts := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if _, ok := mounts[queueDir]; !ok {
		t.Errorf("the Deployment mounts no volume at the queue directory %s: %v", queueDir, mounts)
	}
	if _, ok := mounts[filepath.Dir(samplePath)]; !ok {
		t.Errorf("the Deployment mounts no configuration at %s: %v", filepath.Dir(samplePath), mounts)
	}
	// A pinned release, so that a restart or a new node never pulls another
	// agent: the tag make image gives a release (git describe on vX.Y.Z).
	if img := pod.Containers[0].Image; !releaseImage.MatchString(img) {
		t.Errorf("the Deployment runs %q, want %s:vMAJOR.MINOR.PATCH", img, repository)
	}
}

// releaseImage is the image of a release: the repository and a semantic
// version tag.
var releaseImage = regexp.MustCompile(`^` + repository + `:v[0-9]+\.[0-9]+\.[0-9]+$`)
