package output

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// schemaEntry is how a key appears on the wire, for comparing with the
// schema.
type schemaEntry struct {
	Role role
	Type valueType
}

// encRepresentativePoints encodes one event of each kind and one metric,
// with a user tag that the checks must skip.
func encRepresentativePoints(t *testing.T) map[category][]*point.Point {
	t.Helper()
	e := encNewEncoder(t, encTestConfig)
	out := map[category][]*point.Point{}
	for _, k := range []detect.Kind{detect.KindAnomaly, detect.KindEscalation, detect.KindReminder, detect.KindRecovery} {
		pt, err := e.Event(encDecision(k))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out[categoryEvent] = append(out[categoryEvent], pt)
	}
	for _, s := range []detect.Stats{{Namespace: "shop", Pods: 3, RestartedPods: 1, Restarts: 2, Ratio: 1.0 / 3, Fault: true, Baseline: 0.1, HasBaseline: true}, {Namespace: "cart"}} {
		pt, err := e.Metric(encT0, &s)
		if err != nil {
			t.Fatal(err)
		}
		out[categoryMetric] = append(out[categoryMetric], pt)
	}
	pt, err := e.Agent(encT0, &encAgentStats)
	if err != nil {
		t.Fatal(err)
	}
	out[categoryAgent] = append(out[categoryAgent], pt)
	return out
}

// wireEntry tells a key's role and type from its value.
func wireEntry(t *testing.T, kv *point.Field) schemaEntry {
	e := schemaEntry{Role: roleField}
	if kv.IsTag {
		e.Role = roleTag
	}
	switch v := kv.Raw().(type) {
	case int64:
		e.Type = typeInt
	case float64:
		e.Type = typeFloat
	case string:
		e.Type = typeString
		if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
			if !json.Valid([]byte(v)) {
				t.Errorf("%s looks like JSON but is not valid: %.80q", kv.Key, v)
			}
			e.Type = typeJSON
		}
	default:
		t.Errorf("%s has a value of type %T", kv.Key, v)
	}
	return e
}

// TestSchemaDocumentsEmittedKeys is the doccheck: every key an encoded event
// or metric carries is declared with its role and type, and every declared
// key is emitted by one of the representative points.
func TestSchemaDocumentsEmittedKeys(t *testing.T) {
	points := encRepresentativePoints(t)
	for _, c := range []struct {
		name string
		cat  category
	}{{"events", categoryEvent}, {"metrics", categoryMetric}, {"agent", categoryAgent}} {
		t.Run(c.name, func(t *testing.T) {
			want := map[string]schemaEntry{}
			for _, k := range schema {
				if k.category == c.cat {
					want[k.name] = schemaEntry{k.role, k.typ}
				}
			}
			got := map[string]schemaEntry{}
			for _, pt := range points[c.cat] {
				for _, kv := range pt.KVs() {
					if _, user := encTestConfig.Tags[kv.Key]; user {
						continue
					}
					e := wireEntry(t, kv)
					if prev, ok := got[kv.Key]; ok && prev != e {
						t.Errorf("%s is %v in one point and %v in another", kv.Key, prev, e)
					}
					got[kv.Key] = e
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("declared keys (-want) versus emitted keys (+got):\n%s", diff)
			}
		})
	}
}

// TestSchemaRules checks the rules DataKit and Guance impose on the keys.
func TestSchemaRules(t *testing.T) {
	seen := map[category]map[string]bool{}
	for _, k := range schema {
		t.Run(k.name, func(t *testing.T) {
			if seen[k.category] == nil {
				seen[k.category] = map[string]bool{}
			}
			if seen[k.category][k.name] {
				t.Errorf("declared twice: a key is a tag or a field, never both")
			}
			seen[k.category][k.name] = true
			if strings.Contains(k.name, ".") || k.name == "source" {
				t.Errorf("key not allowed")
			}
			if k.category != categoryEvent && k.role == roleField && k.typ != typeInt && k.typ != typeFloat {
				t.Errorf("metric field of type %s: DataKit drops string fields of metrics", k.typ)
			}
			if k.role == roleTag && k.typ != typeString {
				t.Errorf("tag of type %s", k.typ)
			}
			if !strings.HasSuffix(k.meaning, ".") || strings.Contains(k.meaning, "|") {
				t.Errorf("meaning %q: want one sentence ending in a period, without pipes", k.meaning)
			}
		})
	}
}

// TestJSONEntriesDocumented checks the documented keys of the JSON arrays'
// entries against the structs that encode them, in order.
func TestJSONEntriesDocumented(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		keys []jsonKey
	}{
		{"abnormal_pods", reflect.TypeOf(podDetail{}), abnormalPodKeys},
		{"container_statuses", reflect.TypeOf(containerDetail{}), containerStatusKeys},
		{"causes", reflect.TypeFor[causeDetail](), causeKeys},
		{"top_workloads", reflect.TypeFor[workloadDetail](), workloadKeys},
		{"top_nodes", reflect.TypeFor[nodeDetail](), nodeKeys},
		{"trigger", reflect.TypeFor[triggerDetail](), triggerKeys},
		{"not_counted", reflect.TypeFor[expectedDetail](), expectedKeys},
		{"events", reflect.TypeFor[eventDetail](), eventKeys},
		{"fault_causes", reflect.TypeFor[faultCauseDetail](), faultCauseKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want, got []schemaEntryJSON
			for _, k := range tc.keys {
				want = append(want, schemaEntryJSON{k.name, k.typ})
			}
			for i := range tc.typ.NumField() {
				f := tc.typ.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				got = append(got, schemaEntryJSON{name, jsonType(f.Type)})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("documented (-want) versus encoded (+got):\n%s", diff)
			}
		})
	}
}

type schemaEntryJSON struct {
	Name string
	Type valueType
}

func jsonType(t reflect.Type) valueType {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return typeBool
	case reflect.Int, reflect.Int32, reflect.Int64:
		return typeInt
	case reflect.Float64:
		return typeFloat
	case reflect.Struct:
		return typeObject
	case reflect.Slice:
		return typeArray
	default:
		return typeString
	}
}

func TestSchemaMarkdownGolden(t *testing.T) {
	encGolden(t, "schema.md.golden", []byte(SchemaMarkdown()))
}

// README markers around the generated schema.
const (
	readmeSchemaBegin = "<!-- BEGIN output.SchemaMarkdown -->"
	readmeSchemaEnd   = "<!-- END output.SchemaMarkdown -->"
)

// TestSchemaREADME checks that the README carries SchemaMarkdown's text
// between the markers.
func TestSchemaREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(readme), readmeSchemaBegin+"\n")
	section, _, ok2 := strings.Cut(rest, readmeSchemaEnd)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the schema: put the text of output/testdata/schema.md.golden between the lines\n%s\n%s", readmeSchemaBegin, readmeSchemaEnd)
	}
	if diff := cmp.Diff(SchemaMarkdown(), section); diff != "" {
		t.Errorf("README.md's schema differs from output.SchemaMarkdown(); copy output/testdata/schema.md.golden (-want +got):\n%s", diff)
	}
}

// TestSchemaMarkdownTables checks that every table row of the rendered
// schema has as many cells as its header.
func TestSchemaMarkdownTables(t *testing.T) {
	md := SchemaMarkdown()
	cols := 0
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := encCells(line)
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("line %d has %d cells, its table %d: %s", i+1, n, cols, line)
		}
	}
}
