package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoTemplateExecution: none of the agent's own packages imports
// text/template or html/template. Their executor looks methods up by name
// at run time, which makes the linker keep every exported method of every
// type the agent uses: the binary was 90 MB instead of 50 while
// output/render executed its templates with it, and about 20 MiB more of
// it resident (BENCHMARKS.md). output/render parses the language files with
// text/template/parse and runs them itself.
func TestNoTemplateExecution(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Module", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Imports    []string
		Module     *struct{ Path string }
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	own := 0
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/k8s-pod-restart/k8s-pod-restart" {
			continue
		}
		own++
		for _, bad := range []string{"text/template", "html/template"} {
			if slices.Contains(p.Imports, bad) {
				t.Errorf("%s imports %s", p.ImportPath, bad)
			}
		}
	}
	if own < 5 {
		t.Fatalf("go list found %d of the agent's packages, want all of them", own)
	}
}
