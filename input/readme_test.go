package input

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
)

// The README's generated sections are checked against the code; with
// -update-readme the test rewrites them instead.
var updateREADME = flag.Bool("update-readme", false, "rewrite the README's generated sections")

const readmePath = "../README.md"

// checkREADMESection compares the README's text between the markers
// <!-- BEGIN name --> and <!-- END name --> with want.
func checkREADMESection(t *testing.T, name, want string) {
	t.Helper()
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- BEGIN "+name+" -->\n", "<!-- END "+name+" -->"
	head, rest, ok1 := strings.Cut(string(raw), begin)
	section, tail, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the lines %q and %q around the generated %s (go test ./input -run README -update-readme fills them)", begin, end, name)
	}
	if *updateREADME {
		if err := os.WriteFile(readmePath, []byte(head+begin+want+end+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, section); diff != "" {
		t.Errorf("README.md's %s is out of date; run go test ./input -run README -update-readme (-want +got):\n%s", name, diff)
	}
}

// sampleKey is what the sample says of one key: its default as written and
// the first sentence of its comment.
type sampleKey struct {
	def, meaning string
}

// sampleKeyLine matches a key of the sample, commented out or not.
var sampleKeyLine = regexp.MustCompile(`^\s*(?:# )?([a-z_]+) = (.*)$`)

// sampleKeys reads every key's default and meaning from the sample: the
// "## " comment block above a key (or above several keys in a row) explains
// it.
func sampleKeys(t *testing.T) map[string]sampleKey {
	t.Helper()
	keys := map[string]sampleKey{}
	var block []string
	inComment := false
	for _, line := range strings.Split(SampleConfig(), "\n") {
		trimmed := strings.TrimSpace(line)
		if text, ok := strings.CutPrefix(trimmed, "##"); ok {
			if !inComment {
				block = nil
			}
			inComment = true
			block = append(block, strings.TrimSpace(text))
			continue
		}
		inComment = false
		name, def := "", ""
		if m := sampleKeyLine.FindStringSubmatch(line); m != nil {
			name, def = m[1], m[2]
		} else if trimmed == "[inputs."+InputName+".tags]" {
			name = "tags"
		} else {
			continue
		}
		if _, seen := keys[name]; seen {
			continue // the tags table's examples
		}
		keys[name] = sampleKey{def: def, meaning: sentenceAbout(strings.Join(block, " "), name)}
	}
	return keys
}

// sentenceAbout returns the first sentence of text, or for a key with an
// underscore (a name no prose uses) the first sentence that names it, as in
// a block that explains several keys.
func sentenceAbout(text, key string) string {
	var sentences []string
	for len(text) > 0 {
		s, rest, ok := strings.Cut(text, ". ")
		if ok {
			s += "."
		}
		sentences = append(sentences, s)
		text = rest
	}
	word := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `\b`)
	for _, s := range sentences {
		if strings.Contains(key, "_") && word.MatchString(s) {
			return s
		}
	}
	if len(sentences) == 0 {
		return ""
	}
	return sentences[0]
}

// envFormat says how a variable's value is written, by the key's type.
func envFormat(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return "Go duration (`90s`, `30m`)"
	case t.Kind() == reflect.Bool:
		return "`true` or `false`"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "integer"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Slice:
		return "`a,b` or a JSON array"
	case t.Kind() == reflect.Map:
		return "`k=v,k2=v2`, added to the file's"
	default:
		return "string"
	}
}

// envMarkdown renders the table of environment variables from Config's
// toml tags, their types and the sample's defaults and comments.
func envMarkdown(t *testing.T) string {
	t.Helper()
	keys := sampleKeys(t)
	var b strings.Builder
	b.WriteString("| Variable | Key | Default | Value | Meaning |\n|---|---|---|---|---|\n")
	ct := reflect.TypeFor[Config]()
	for _, k := range configKeys {
		s, ok := keys[k.name]
		if !ok {
			t.Errorf("the sample does not document %s", k.name)
		}
		def := "`" + s.def + "`"
		if s.def == "" {
			def = ""
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n",
			EnvName(k.name), k.name, def, envFormat(ct.Field(k.field).Type), strings.ReplaceAll(s.meaning, "|", `\|`))
	}
	fmt.Fprintf(&b, "| `%s` | `cluster_name` | | string | DataKit's variable for the cluster's name; `%s` wins over it. |\n",
		EnvClusterName, EnvName("cluster_name"))
	return b.String()
}

func TestREADMEEnvironment(t *testing.T) {
	checkREADMESection(t, "input environment", envMarkdown(t))
}

// metricsMarkdown renders the agent's own series, as a scrape of /metrics
// returns them, as a Markdown table.
func metricsMarkdown(t *testing.T) string {
	t.Helper()
	srv := &server{reg: newProcessRegistry("v-test")}
	newAgentMetrics(srv.registerer("prod"))
	srv.add("prod", srvSources(), func() time.Time { return srvT0 })
	families, err := srv.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| Series | Type | Labels | Meaning |\n|---|---|---|---|\n")
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), metricNamespace+"_") {
			continue // the Go runtime's and the process's
		}
		var labels []string
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		for i, l := range labels {
			labels[i] = "`" + l + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.GetName(), strings.ToLower(dto.MetricType_name[int32(f.GetType())]),
			strings.Join(labels, ", "), strings.ReplaceAll(f.GetHelp(), "|", `\|`))
	}
	return b.String()
}

func TestREADMEMetrics(t *testing.T) {
	checkREADMESection(t, "input metrics", metricsMarkdown(t))
}
