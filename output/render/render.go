// Package render writes the text of an event, its one-line title and its
// Markdown message, in the configured language. The Go code builds the view
// of the event and lays the message out (message.go, analysis.go,
// tables.go); every word comes from the language's text/template file,
// lang/<code>.tmpl, embedded: adding a language is adding a file
// (texts.go lists the templates it must define). Every value from the
// cluster goes through the Markdown-safety helpers of text.go before a
// template sees it.
package render

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// Bounds on df_message and df_title; the schema documents them.
const (
	// MaxPods and MaxContainers bound the message's tables of pods and
	// of their containers.
	MaxPods       = 20
	MaxContainers = 100
	// MaxEvents bounds the Warning events table.
	MaxEvents = 20
	// MaxText bounds free text in a table cell or a sentence, in
	// characters.
	MaxText = 160
	// MaxBytes bounds df_message: past it the message is cut at a line,
	// closing an open code block, with a note.
	MaxBytes = 64 << 10

	// maxTitleName bounds a cluster or namespace name in df_title.
	maxTitleName = 64
	// maxLogLines bounds the lines of each log tail in df_message (the
	// field container_statuses carries what log_tail_lines keeps).
	maxLogLines = 20
)

// Event is what the text of one event is rendered from: the decision, the
// names as the point's tags carry them, and how much of the abnormal pods
// the point's JSON fields hold, which the message mentions when it is not
// all.
type Event struct {
	Decision           *detect.Decision
	Cluster, Namespace string
	// TotalPods counts every pod that restarted inside the window,
	// reported or not; JSONPods those in abnormal_pods.
	TotalPods, JSONPods int
	// TotalContainers counts the containers of the pods in abnormal_pods;
	// JSONContainers those in container_statuses.
	TotalContainers, JSONContainers int
}

// Renderer renders events in one language. It holds no mutable state and is
// safe for concurrent use.
type Renderer struct {
	t langTemplates
}

// New returns the renderer of language, "" meaning English.
func New(language string) (*Renderer, error) {
	if err := CheckLanguage(language); err != nil {
		return nil, err
	}
	if language == "" {
		language = "en"
	}
	return &Renderer{t: languages[language]}, nil
}

// Languages returns the languages New accepts, sorted: one per file in
// lang/.
func Languages() []string { return slices.Sorted(maps.Keys(languages)) }

// CheckLanguage reports a language New refuses; "" is English.
func CheckLanguage(language string) error {
	if _, ok := languages[language]; !ok && language != "" {
		return fmt.Errorf("%q must be one of %q", language, Languages())
	}
	return nil
}

// Title renders df_title: one line of plain text.
func (r *Renderer) Title(e *Event) (string, error) {
	x := &texts{t: r.t}
	s := x.title(e)
	return s, x.err
}

// Markdown renders df_message, at most MaxBytes.
func (r *Renderer) Markdown(e *Event) (string, error) {
	x := &texts{t: r.t}
	s := x.markdown(e)
	return s, x.err
}

// Summary renders the summary field: one line of plain text naming the
// dominant cause of the abnormal restarts; "" without abnormal restarts.
func (r *Renderer) Summary(s *detect.Summary) (string, error) {
	x := &texts{t: r.t}
	line := x.summaryLine(s, func(s string) string { return plain(s, MaxText) })
	return line, x.err
}

// CheckerName is the checker's human-readable name.
func (r *Renderer) CheckerName() (string, error) {
	x := &texts{t: r.t}
	s := x.s("checker_name", nil)
	return s, x.err
}

// ContainerRef is one container of a reported pod: the events' Markdown
// table and container_statuses list them alike.
type ContainerRef struct {
	Report *detect.PodReport
	Index  int
}

// ContainerRefs returns every container of pods, pod by pod.
func ContainerRefs(pods []detect.PodReport) []ContainerRef {
	var out []ContainerRef
	for i := range pods {
		for j := range pods[i].Pod.Containers {
			out = append(out, ContainerRef{&pods[i], j})
		}
	}
	return out
}

// Container returns the container's observation.
func (c ContainerRef) Container() *detect.Container { return &c.Report.Pod.Containers[c.Index] }

// Restarts returns the container's restarts inside the window.
func (c ContainerRef) Restarts() int {
	if c.Index < len(c.Report.ContainerRestarts) {
		return c.Report.ContainerRestarts[c.Index]
	}
	return 0
}

// containerID returns the current container's ID, or the last terminated
// one's before a new one started, as container_statuses reports it.
func containerID(c *detect.Container) string {
	if c.ContainerID != "" {
		return c.ContainerID
	}
	return c.Last.ContainerID
}

// rfc3339 formats t in UTC to the second; "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
