package render

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in     time.Duration
		en, zh string
	}{
		{0, "0s", "0秒"},
		{-time.Second, "0s", "0秒"},
		{400 * time.Millisecond, "0s", "0秒"},
		{45 * time.Second, "45s", "45秒"},
		{30 * time.Minute, "30m", "30分钟"},
		{65 * time.Minute, "1h5m", "1小时5分钟"},
		{2*time.Hour + 5*time.Second, "2h5s", "2小时5秒"},
		{49 * time.Hour, "49h", "49小时"},
	}
	for _, tc := range tests {
		t.Run(tc.en, func(t *testing.T) {
			for lang, want := range map[string]string{"en": tc.en, "zh": tc.zh} {
				x := &texts{t: languages[lang]}
				if got := x.duration(tc.in); got != want || x.err != nil {
					t.Errorf("%s: duration(%v) = %q, %v; want %q", lang, tc.in, got, x.err, want)
				}
			}
		})
	}
}

// TestLanguagesComplete checks that the embedded languages are the ones
// documented and give every table as many columns as English.
func TestLanguagesComplete(t *testing.T) {
	if diff := cmp.Diff([]string{"en", "zh"}, Languages()); diff != "" {
		t.Errorf("languages (-want +got):\n%s", diff)
	}
	columns := func(lang string) map[string]int {
		x := &texts{t: languages[lang]}
		n := map[string]int{}
		for _, name := range textNames {
			if strings.HasSuffix(name, "_columns") {
				n[name] = len(x.lines(name, "30m"))
			}
		}
		if x.err != nil {
			t.Errorf("%s: %v", lang, x.err)
		}
		return n
	}
	want := columns("en")
	if len(want) != 7 {
		t.Errorf("English has %d column lists, want 7", len(want))
	}
	for _, lang := range Languages() {
		if diff := cmp.Diff(want, columns(lang)); diff != "" {
			t.Errorf("%s: columns per table (-en +%s):\n%s", lang, lang, diff)
		}
	}
}

// TestEndReasonsNamed checks that every language says why a fault ended
// early, for every reason detect gives.
func TestEndReasonsNamed(t *testing.T) {
	ends := []detect.EndReason{detect.EndNoPods, detect.EndNamespaceDeleted, detect.EndExcluded, detect.EndDisabled}
	for _, lang := range Languages() {
		x := &texts{t: languages[lang]}
		for _, e := range ends {
			if x.s("end", e.String()) == "" {
				t.Errorf("%s: no text for the end reason %s", lang, e)
			}
		}
		if x.err != nil {
			t.Errorf("%s: %v", lang, x.err)
		}
	}
}

// TestLoadLanguages checks that a language file is refused when it misses
// a text or does not parse, naming the language and the problem.
func TestLoadLanguages(t *testing.T) {
	en, err := langFS.ReadFile("lang/en.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		wantErr string
	}{
		{"a copy of English", string(en), ""},
		{"a text missing", strings.Replace(string(en), `{{define "cut"}}`, `{{define "cutx"}}`, 1), `language fr: lang/fr.tmpl defines no template "cut"`},
		{"a syntax error", string(en) + "{{define \"x\"}}{{if}}{{end}}", "language fr: template: fr.tmpl:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			langs, err := loadLanguages(fstest.MapFS{"lang/fr.tmpl": {Data: []byte(tc.file)}})
			if tc.wantErr == "" {
				if err != nil || langs["fr"] == nil {
					t.Fatalf("loadLanguages = %v, %v", langs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("loadLanguages: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestExecutionErrors checks that a text failing to render is an error of
// the call, not a silently garbled text.
func TestExecutionErrors(t *testing.T) {
	en, err := langFS.ReadFile("lang/en.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(en), `{{define "checker_name"}}Kubernetes pod restarts{{end}}`, `{{define "checker_name"}}{{.Nope}}{{end}}`, 1)
	langs, err := loadLanguages(fstest.MapFS{"lang/fr.tmpl": {Data: []byte(broken)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&Renderer{t: langs["fr"]}).CheckerName()
	if err == nil || !strings.Contains(err.Error(), "render checker_name: ") {
		t.Errorf("CheckerName() = %q, %v; want an error naming checker_name", got, err)
	}
	if got, err := (&Renderer{t: languages["en"]}).CheckerName(); got != "Kubernetes pod restarts" || err != nil {
		t.Errorf("English CheckerName() = %q, %v", got, err)
	}
}
