package render

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// lang holds one template file per language, lang/<code>.tmpl: adding a
// language is adding a file that defines every template of textNames.
//
//go:embed lang/*.tmpl
var langFS embed.FS

// textNames are the templates every language defines, each rendering one
// text from what the comment says it is given (the types are below).
var textNames = []string{
	"checker_name",                       // nothing
	"title", "heading", "restarted_pods", // headline
	"title_suffix", "count_cause", // causeCount
	"level", "kind", // detect's name of the level or kind
	"label_event", "label_status", "label_previous", // nothing
	"label_highest", "label_cluster", "label_namespace", // nothing
	"label_restarted_pods", "label_restarts", "label_window", // nothing
	"label_fault", "label_clear_since", "label_end", // nothing
	"end",                                              // detect.EndReason's name, other than recovered
	"window",                                           // windowText
	"fault",                                            // faultText
	"duration",                                         // durationParts
	"quantities",                                       // quantities
	"pods_heading", "pod_columns", "container_columns", // the window, formatted
	"containers_heading",                               // nothing
	"deleted_yes", "deleted_no", "deleted_terminating", // nothing
	"not_ready", "no_pods", // nothing
	"pods_shown", "containers_shown", // shown
	"json_shown",                                   // *Event
	"summary_label", "trigger_label", "node_label", // nothing
	"not_counted_label", "rules_label", // nothing
	"causes_heading", "workloads_heading", "nodes_heading", // nothing
	"events_heading", "not_counted_heading", "logs_heading", // nothing
	"cause_columns", "workload_columns", "node_columns", // nothing
	"event_columns", "not_counted_columns", // nothing
	"cause",                                              // causeName
	"dominant",                                           // dominantText
	"others",                                             // []string
	"trigger",                                            // triggerText
	"node",                                               // nodeText
	"expected",                                           // expectedText
	"rules",                                              // rulesText
	"no_limit", "bare_pods", "no_conditions", "cordoned", // nothing
	"log_caption",                                   // logCaption
	"history_heading", "label_opened", "label_peak", // nothing
	"label_fault_restarts", "label_fault_cause", "label_fault_others", // nothing
	"history_opened", // historyOpened
	"history_peak",   // historyPeak
	"history_cause",  // historyCause
	"history_others", // []string
	"cut",            // nothing
}

// languages holds the parsed templates of every language, by code.
var languages = mustLoadLanguages()

func mustLoadLanguages() map[string]langTemplates {
	langs, err := loadLanguages(langFS)
	if err != nil {
		panic(err) // the embedded files are part of the binary: a test loads them
	}
	return langs
}

// loadLanguages parses every lang/*.tmpl of fsys and checks that it defines
// every template of textNames.
func loadLanguages(fsys fs.FS) (map[string]langTemplates, error) {
	files, err := fs.Glob(fsys, "lang/*.tmpl")
	if err != nil {
		return nil, err
	}
	langs := map[string]langTemplates{}
	for _, f := range files {
		code := strings.TrimSuffix(path.Base(f), ".tmpl")
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("language %s: %w", code, err)
		}
		t, err := parseLanguage(path.Base(f), string(data))
		if err != nil {
			return nil, fmt.Errorf("language %s: %w", code, err)
		}
		for _, name := range textNames {
			if t[name] == nil {
				return nil, fmt.Errorf("language %s: %s defines no template %q", code, f, name)
			}
		}
		langs[code] = t
	}
	return langs, nil
}

// texts renders the named templates of one language for one event and
// keeps the first error, so that a caller builds a whole text and checks
// once.
type texts struct {
	t   langTemplates
	err error
}

// s renders the template name with data.
func (x *texts) s(name string, data any) string {
	var b strings.Builder
	if err := x.t.execute(&b, name, data); err != nil && x.err == nil {
		x.err = fmt.Errorf("render %s: %w", name, err)
	}
	return b.String()
}

// lines renders the template name with data and splits it into lines: the
// column names of a table.
func (x *texts) lines(name string, data any) []string {
	return strings.Split(x.s(name, data), "\n")
}

// What the templates are given. Every string from the cluster in them is
// already plain text or Markdown, as the text it goes into needs.
type (
	headline struct {
		Kind                        string // anomaly, escalation, reminder or recovery
		RestartedPods, Pods         int
		Percent, Cluster, Namespace string
		Window, Level, Previous     string // formatted and named in the language
		Duration                    string // of the fault so far
	}
	causeCount struct {
		N, Total int
		Cause    string
	}
	windowText    struct{ Window, Start, End string }
	faultText     struct{ ID, Start, Duration string }
	durationParts struct {
		Zero    bool
		H, M, S int64
	}
	quantities struct{ CPU, Memory string }
	shown      struct{ Shown, Total int }
	causeName  struct {
		Cause    string // detect's name: oom_killed, signal, ...
		Code     int    // the exit code, or the ExpectedReason of an expected one
		Signal   string // the signal's name, for signal
		Expected string // the ExpectedReason's name, for expected
	}
	dominantText struct {
		N, Total      int
		Cause         string
		Workloads     []string
		MoreWorkloads int // workloads beyond Workloads
		AllWorkloads  int // len(Workloads) + MoreWorkloads
		Containers    []string
		Limits        []string // only for OOM kills
	}
	imageChange struct{ Container, From, To string } // From empty for a new container
	triggerText struct {
		Workload, Revision, ReplicaSet, Since, Before string
		Images                                        []imageChange
		TemplateChanged                               bool // the pod template changed, not the images
		Pods, WorkloadPods                            int
	}
	nodeText struct {
		Pods, Total int
		Node        string
		Conditions  []string
		Cordoned    bool
	}
	expectedText struct {
		Reason         string // detect's name: deleted, evicted, ...
		Pods, Restarts int
		Where          string // nodes or workloads
	}
	rulesText struct {
		Warning, Error, Critical string
		MinPods, MinRestarted    int
		Overridden               []string
		Baseline                 string // "" without baseline mode
	}
	logCaption    struct{ Pod, Container string }
	historyOpened struct {
		Start, Duration string
		Recovered       bool // the duration is the whole fault's
	}
	historyPeak struct {
		Level, At, Percent  string
		RestartedPods, Pods int
	}
	historyCause struct {
		N, Total     int
		Share, Cause string
		Workloads    []string // "deployment/checkout (12)", the most restarts first
	}
)
