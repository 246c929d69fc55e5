package render

import (
	"strings"
	"testing"
	"text/template"
)

// execData is what the executor's tests render: the kinds of values the
// structs of texts.go hold.
type execData struct {
	Kind   string
	N, Max int
	Big    int64
	On     bool
	Names  []string
	Items  []execItem
	Inner  *execItem
	None   *execItem
}

type execItem struct{ Name, To string }

// TestExecMatchesTextTemplate renders every construct the language files
// use with the executor and with text/template, which the files' syntax
// is, and wants the same text, or an error from both.
func TestExecMatchesTextTemplate(t *testing.T) {
	full := execData{Kind: "reminder", N: 3, Max: 1, Big: 1 << 40, On: true, Names: []string{"a", "b"},
		Items: []execItem{{"x", ""}, {"y", "z"}}, Inner: &execItem{"in", "to"}}
	tests := []struct {
		name string
		text string
		data any
	}{
		{"text only", "plain, {{/* a comment */}}text", full},
		{"fields", "{{.Kind}} {{.N}} {{.Big}} {{.On}} {{.Names}} {{.Inner.Name}}", full},
		{"dot", "[{{.}}]", "a string"},
		{"nil dot", "[{{.}}]", nil},
		{"pointer printed", "{{.Inner}}", full},
		{"nil pointer printed", "{{.None}}", full},
		{"trim markers", "a {{- .N -}} b\n  {{- if .On}} on {{- end}}\n", full},
		{"if else if else", "{{if eq .Kind \"anomaly\"}}A{{else if eq .Kind \"reminder\"}}R{{else}}E{{end}}", full},
		{"if on zero values", "{{if .Names}}n{{end}}{{if .None}}p{{end}}{{if .Max}}m{{end}}{{if .Kind}}k{{end}}", execData{}},
		{"eq ints and several", "{{if eq .N 1 2 3}}yes{{end}} {{if eq (len .Names) 2}}two{{end}} {{if eq .Big .Big}}big{{end}}", full},
		{"and or not", "{{if and .On (not .None)}}1{{end}}{{if or .None .Max}}2{{end}}{{and .N .Max}}{{or .None .Kind}}", full},
		{"and stops at the first false", "{{if and .None .None.Name}}x{{end}}{{or .Kind .None.Name}}", full},
		{"index and join", "{{index .Names 1}} {{join .Names \", \"}}", full},
		{"range with else", "{{range .Items}}<{{.Name}}{{if .To}}→{{.To}}{{end}}>{{else}}none{{end}}", full},
		{"range empty", "{{range .Items}}<{{.Name}}>{{else}}none{{end}}", execData{}},
		{"range over strings", "{{- range .Names}}; {{.}}{{end}}", full},
		{"pipeline", "{{.Names | len}} {{\"x\" | eq .Kind}}", full},
		{"missing field", "{{.Nope}}", full},
		{"field of nil", "{{.None.Name}}", full},
		{"incompatible eq", "{{if eq .N \"3\"}}x{{end}}", full},
		{"index out of range", "{{index .Names 5}}", full},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := "{{define \"t\"}}" + tc.text + "{{end}}"
			want, wantErr := renderStd(text, tc.data)
			ours, err := parseLanguage("test.tmpl", text)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var b strings.Builder
			gotErr := ours.execute(&b, "t", tc.data)
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("error %v, text/template's %v", gotErr, wantErr)
			}
			if gotErr == nil && b.String() != want {
				t.Fatalf("rendered %q, text/template %q", b.String(), want)
			}
		})
	}
}

func renderStd(text string, data any) (string, error) {
	t, err := template.New("test.tmpl").Option("missingkey=error").Funcs(template.FuncMap{"join": strings.Join}).Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.ExecuteTemplate(&b, "t", data)
	return b.String(), err
}

// TestExecRefusesUnsupported: what the executor does not run fails when a
// language file is loaded, not when an event is rendered.
func TestExecRefusesUnsupported(t *testing.T) {
	for _, text := range []string{
		`{{define "t"}}{{with .X}}{{end}}{{end}}`,
		`{{define "t"}}{{$x := .X}}{{$x}}{{end}}`,
		`{{define "t"}}{{template "u" .}}{{end}}{{define "u"}}{{end}}`,
		`{{define "t"}}{{range $i, $e := .X}}{{end}}{{end}}`,
		`{{define "t"}}{{printf "%d" .X}}{{end}}`,
	} {
		if _, err := parseLanguage("test.tmpl", text); err == nil {
			t.Errorf("parseLanguage(%s) accepted it", text)
		}
	}
}
