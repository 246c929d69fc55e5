package datakit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fixedNow returns a clock stuck at t0.
func fixedNow() time.Time { return t0 }

// post sends body to the receiver and returns the status and DataKit error
// code of the answer.
func post(t *testing.T, base, category, query string, header http.Header, body []byte) (int, string) {
	t.Helper()
	u := base + "/v1/write/" + category
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	if resp.StatusCode == http.StatusOK {
		if len(b) != 0 {
			t.Errorf("200 answer has body %q, want empty", b)
		}
		return resp.StatusCode, ""
	}
	var e struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error answer %q is not DataKit JSON: %v", b, err)
	}
	if e.Message == "" {
		t.Errorf("error answer %q has no message", b)
	}
	return resp.StatusCode, e.ErrorCode
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	return buf.Bytes()
}

// violationKey is the part of a Violation the table cases compare.
type violationKey struct {
	Kind        ViolationKind
	Measurement string
	Rejected    bool
}

func keys(vs []Violation) []violationKey {
	var out []violationKey
	for _, v := range vs {
		out = append(out, violationKey{v.Kind, v.Measurement, v.Rejected})
	}
	return out
}

func TestWrite(t *testing.T) {
	sec := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	q := func(s string) url.Values {
		v, err := url.ParseQuery(s)
		if err != nil {
			t.Fatalf("parse query %q: %v", s, err)
		}
		return v
	}
	gz := http.Header{"Content-Encoding": {"gzip"}}

	tests := []struct {
		name       string
		opts       []Option
		category   string
		query      string
		header     http.Header
		body       string
		gzip       bool
		wantStatus int
		wantCode   string
		wantPoints []Point
		wantViol   []violationKey
	}{
		{
			name:     "valid keyevent",
			category: "keyevent",
			query:    "precision=s&input=k8s_pod_restart&ignore_global_host_tags=true",
			body: "k8s_pod_restart,namespace=shop,pod_name=web-1 df_title=\"web-1 restarted\",restarts=3i,ratio=0.5,ok=true 1740830400\n" +
				"k8s_pod_restart,namespace=shop,pod_name=web-2 restarts=1u 1740830401\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{
				{
					Category: "keyevent", Name: "k8s_pod_restart",
					Tags:   map[string]string{"namespace": "shop", "pod_name": "web-1"},
					Fields: map[string]any{"df_title": "web-1 restarted", "restarts": int64(3), "ratio": 0.5, "ok": true},
					Time:   sec(1740830400),
				},
				{
					Category: "keyevent", Name: "k8s_pod_restart",
					Tags:   map[string]string{"namespace": "shop", "pod_name": "web-2"},
					Fields: map[string]any{"restarts": uint64(1)},
					Time:   sec(1740830401),
				},
			},
		},
		{
			name:       "gzip body",
			category:   "metric",
			query:      "precision=ms",
			header:     gz,
			gzip:       true,
			body:       "pod_restarts,namespace=shop count=2i 1740830400123\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{
				Category: "metric", Name: "pod_restarts",
				Tags:   map[string]string{"namespace": "shop"},
				Fields: map[string]any{"count": int64(2)},
				Time:   time.UnixMilli(1740830400123).UTC(),
			}},
		},
		{
			name:       "encoding query parameter",
			category:   "metric",
			query:      "precision=s&encoding=gzip",
			gzip:       true,
			body:       "m v=1i 1740830400\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{Category: "metric", Name: "m", Tags: map[string]string{}, Fields: map[string]any{"v": int64(1)}, Time: sec(1740830400)}},
		},
		{
			name:       "bad line protocol",
			category:   "keyevent",
			query:      "precision=s",
			body:       "k8s_pod_restart,namespace=shop restarts=3i 1740830400\nbroken line\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.invalidLinePoint",
			wantViol:   []violationKey{{ParseError, "", true}},
		},
		{
			name:       "string field in metric under strict",
			category:   "metric",
			query:      "precision=s",
			body:       "m,namespace=shop reason=\"OOMKilled\",v=1i 1740830400\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.pointGotWarning",
			wantViol:   []violationKey{{PointWarning, "m", true}},
		},
		{
			name:       "string field in metric without strict",
			opts:       []Option{WithStrict(false)},
			category:   "metric",
			query:      "precision=s",
			body:       "m,namespace=shop reason=\"OOMKilled\",v=1i 1740830400\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{
				Category: "metric", Name: "m",
				Tags:   map[string]string{"namespace": "shop"},
				Fields: map[string]any{"v": int64(1)},
				Time:   sec(1740830400),
			}},
			wantViol: []violationKey{{PointWarning, "m", false}},
		},
		{
			name:       "strict query parameter on a lenient receiver",
			opts:       []Option{WithStrict(false)},
			category:   "metric",
			query:      "precision=s&strict=",
			body:       "m reason=\"OOMKilled\" 1740830400\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.pointGotWarning",
			wantViol:   []violationKey{{PointWarning, "m", true}},
		},
		{
			name:       "dot in keyevent key",
			category:   "keyevent",
			query:      "precision=s",
			body:       "e,k8s.namespace=shop v=1i 1740830400\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.pointGotWarning",
			wantViol:   []violationKey{{PointWarning, "e", true}},
		},
		{
			name:       "tag and field share a key",
			category:   "keyevent",
			query:      "precision=s",
			body:       "e,df_status=warning df_status=\"error\",v=1i 1740830400\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.pointGotWarning",
			wantViol:   []violationKey{{TagFieldConflict, "e", true}},
		},
		{
			name:       "tag and field share a key without strict",
			opts:       []Option{WithStrict(false)},
			category:   "keyevent",
			query:      "precision=s",
			body:       "e,df_status=warning df_status=\"error\",v=1i 1740830400\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{
				Category: "keyevent", Name: "e",
				Tags:   map[string]string{"df_status": "warning"},
				Fields: map[string]any{"v": int64(1)},
				Time:   sec(1740830400),
			}},
			wantViol: []violationKey{{TagFieldConflict, "e", false}},
		},
		{
			name:       "duplicate field",
			category:   "keyevent",
			query:      "precision=s",
			body:       "e v=1i,v=2i 1740830400\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.pointGotWarning",
			wantViol:   []violationKey{{DuplicateField, "e", true}},
		},
		{
			name:       "missing timestamp with precision s",
			category:   "keyevent",
			query:      "precision=s",
			body:       "e v=1i\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.pointGotWarning",
			wantViol:   []violationKey{{MissingTimestamp, "e", true}},
		},
		{
			name:       "missing precision",
			category:   "keyevent",
			body:       "e v=1i 1740830400000\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{Category: "keyevent", Name: "e", Tags: map[string]string{}, Fields: map[string]any{"v": int64(1)}, Time: time.UnixMilli(1740830400000).UTC()}},
			wantViol:   []violationKey{{MissingPrecision, "", false}},
		},
		{
			name:       "invalid precision",
			category:   "keyevent",
			query:      "precision=ns",
			body:       "e v=1i 1740830400000000000\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{Category: "keyevent", Name: "e", Tags: map[string]string{}, Fields: map[string]any{"v": int64(1)}, Time: sec(1740830400)}},
			wantViol:   []violationKey{{InvalidPrecision, "", false}},
		},
		{
			name:       "source key in keyevent",
			category:   "keyevent",
			query:      "precision=s",
			body:       "e,source=k8s v=1i 1740830400\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{Category: "keyevent", Name: "e", Tags: map[string]string{"source": "k8s"}, Fields: map[string]any{"v": int64(1)}, Time: sec(1740830400)}},
			wantViol:   []violationKey{{ReservedKey, "e", false}},
		},
		{
			name:       "global host tags",
			opts:       []Option{WithGlobalHostTags(map[string]string{"host": "node-1", "namespace": "dk"})},
			category:   "keyevent",
			query:      "precision=s",
			body:       "e,namespace=shop v=1i 1740830400\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{Category: "keyevent", Name: "e", Tags: map[string]string{"namespace": "shop", "host": "node-1"}, Fields: map[string]any{"v": int64(1)}, Time: sec(1740830400)}},
		},
		{
			name:       "global host tags ignored",
			opts:       []Option{WithGlobalHostTags(map[string]string{"host": "node-1"})},
			category:   "keyevent",
			query:      "precision=s&ignore_global_host_tags=1",
			body:       "e,namespace=shop v=1i 1740830400\n",
			wantStatus: http.StatusOK,
			wantPoints: []Point{{Category: "keyevent", Name: "e", Tags: map[string]string{"namespace": "shop"}, Fields: map[string]any{"v": int64(1)}, Time: sec(1740830400)}},
		},
		{
			name:       "unknown category",
			category:   "events",
			query:      "precision=s",
			body:       "e v=1i 1740830400\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.invalidCategory",
			wantViol:   []violationKey{{InvalidCategory, "", true}},
		},
		{
			name:       "empty body",
			category:   "keyevent",
			query:      "precision=s",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.emptyBody",
			wantViol:   []violationKey{{EmptyBody, "", true}},
		},
		{
			name:       "only comments",
			category:   "keyevent",
			query:      "precision=s",
			body:       "# nothing\n\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.noPoints",
			wantViol:   []violationKey{{NoPoints, "", true}},
		},
		{
			name:       "unsupported content encoding",
			category:   "keyevent",
			query:      "precision=s",
			header:     http.Header{"Content-Encoding": {"br"}},
			body:       "e v=1i 1740830400\n",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.decodeBodyFailed",
			wantViol:   []violationKey{{UndecodableBody, "", true}},
		},
		{
			name:       "corrupt gzip",
			category:   "keyevent",
			query:      "precision=s",
			header:     gz,
			body:       "not gzip",
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.decodeBodyFailed",
			wantViol:   []violationKey{{UndecodableBody, "", true}},
		},
		{
			name:       "json body",
			category:   "keyevent",
			query:      "precision=s",
			header:     http.Header{"Content-Type": {"application/json"}},
			body:       `[{"measurement":"e","fields":{"v":1}}]`,
			wantStatus: http.StatusBadRequest,
			wantCode:   "datakit.invalidJsonPoint",
			wantViol:   []violationKey{{UnsupportedContentType, "", true}},
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcv := New(t, append([]Option{WithNow(fixedNow)}, tc.opts...)...)
			body := []byte(tc.body)
			if tc.gzip {
				body = gzipped(t, tc.body)
			}

			status, code := post(t, rcv.URL(), tc.category, tc.query, tc.header, body)
			if status != tc.wantStatus || code != tc.wantCode {
				t.Errorf("answer = %d %q, want %d %q; violations: %v", status, code, tc.wantStatus, tc.wantCode, rcv.Violations())
			}

			for i := range tc.wantPoints {
				tc.wantPoints[i].Query = q(tc.query)
				tc.wantPoints[i].ReceivedAt = t0
			}
			if diff := cmp.Diff(tc.wantPoints, rcv.AllPoints(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantViol, keys(rcv.Violations())); diff != "" {
				t.Errorf("violations (-want +got):\n%s\nall: %v", diff, rcv.Violations())
			}

			wantStats := Stats{Requests: 1, Points: len(tc.wantPoints)}
			if tc.wantStatus == http.StatusOK {
				wantStats.Accepted = 1
			} else {
				wantStats.Rejected = 1
			}
			if diff := cmp.Diff(wantStats, rcv.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			reqs := rcv.Requests()
			if len(reqs) != 1 || reqs[0].Status != tc.wantStatus || reqs[0].ErrorCode != tc.wantCode ||
				reqs[0].Points != len(tc.wantPoints) || reqs[0].Query.Encode() != q(tc.query).Encode() {
				t.Errorf("requests = %+v, want one with status %d, code %q, %d points, query %q",
					reqs, tc.wantStatus, tc.wantCode, len(tc.wantPoints), tc.query)
			}
		})
	}
}

// TestWarningsPerPoint pins that each point's warnings name that point's own
// keys: cliutils' decoder shares one warning buffer across a body's points.
func TestWarningsPerPoint(t *testing.T) {
	rcv := New(t, WithNow(fixedNow), WithStrict(false))
	body := "first s1=\"x\",v=1i 1740830400\nsecond s2=\"y\",s3=\"z\",v=1i 1740830401\n"
	if status, code := post(t, rcv.URL(), "metric", "precision=s", nil, []byte(body)); status != http.StatusOK {
		t.Fatalf("answer = %d %q, want 200", status, code)
	}

	type got struct{ Measurement, Key string }
	var gots []got
	for _, v := range rcv.Violations() {
		for _, k := range []string{"s1", "s2", "s3"} {
			if strings.Contains(v.Message, "("+k+")") {
				gots = append(gots, got{v.Measurement, k})
			}
		}
	}
	want := []got{{"first", "s1"}, {"second", "s2"}, {"second", "s3"}}
	sortGots := cmpopts.SortSlices(func(a, b got) bool { return a.Measurement+a.Key < b.Measurement+b.Key })
	if diff := cmp.Diff(want, gots, sortGots); diff != "" {
		t.Errorf("warned keys (-want +got):\n%s\nviolations: %v", diff, rcv.Violations())
	}
}

func TestProtobufBody(t *testing.T) {
	rcv := New(t, WithNow(fixedNow))
	pt := point.NewPointV2("k8s_pod_restart",
		point.NewTags(map[string]string{"namespace": "shop"}).AddV2("restarts", int64(3), false),
		point.WithTime(time.Unix(1740830400, 0)))
	enc := point.GetEncoder(point.WithEncEncoding(point.Protobuf))
	payloads, err := enc.Encode([]*point.Point{pt})
	point.PutEncoder(enc)
	if err != nil || len(payloads) != 1 {
		t.Fatalf("encode: %d payloads, %v", len(payloads), err)
	}

	header := http.Header{"Content-Type": {point.Protobuf.HTTPContentType()}}
	if status, code := post(t, rcv.URL(), "keyevent", "", header, payloads[0]); status != http.StatusOK {
		t.Fatalf("answer = %d %q, want 200; violations %v", status, code, rcv.Violations())
	}
	want := []Point{{
		Category: "keyevent", Name: "k8s_pod_restart",
		Tags:   map[string]string{"namespace": "shop"},
		Fields: map[string]any{"restarts": int64(3)},
		Time:   time.Unix(1740830400, 0).UTC(),
		Query:  url.Values{}, ReceivedAt: t0,
	}}
	if diff := cmp.Diff(want, rcv.AllPoints()); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
	if v := rcv.Violations(); len(v) != 0 {
		t.Errorf("violations = %v, want none (precision does not apply to protobuf)", v)
	}
}

func TestFailNext(t *testing.T) {
	rcv := New(t, WithNow(fixedNow))
	rcv.FailNext(2, http.StatusTooManyRequests, 1500*time.Millisecond)
	body := []byte("e v=1i 1740830400\n")

	type answer struct {
		Status     int
		RetryAfter string
		Body       string
	}
	var got []answer
	for range 3 {
		resp, err := http.Post(rcv.URL()+"/v1/write/keyevent?precision=s", "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)})
	}
	limited := `{"error_code":"datakit.reachMaxAPILimit","message":"reach max API rate limit(injected)"}`
	want := []answer{{429, "2", limited}, {429, "2", limited}, {200, "", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{Requests: 3, Accepted: 1, Injected: 2, Points: 1}, rcv.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if n := len(rcv.Points("keyevent")); n != 1 {
		t.Errorf("recorded %d points, want 1 (injected requests record none)", n)
	}
}

func TestFailFor(t *testing.T) {
	var (
		mu  sync.Mutex
		now = t0
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	rcv := New(t, WithNow(clock))
	rcv.FailFor(time.Minute, http.StatusServiceUnavailable)
	body := []byte("e v=1i 1740830400\n")

	var got []int
	for _, step := range []time.Duration{0, 59 * time.Second, time.Second} {
		advance(step)
		status, _ := post(t, rcv.URL(), "keyevent", "precision=s", nil, body)
		got = append(got, status)
	}
	if diff := cmp.Diff([]int{503, 503, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func TestResponderCloseConn(t *testing.T) {
	rcv := New(t, WithNow(fixedNow))
	rcv.SetResponder(func(category string, req *http.Request) (Fault, bool) {
		b, err := io.ReadAll(req.Body)
		return Fault{CloseConn: true}, err == nil && category == "keyevent" && len(b) > 0
	})
	_, err := http.Post(rcv.URL()+"/v1/write/keyevent?precision=s", "text/plain", strings.NewReader("e v=1i 1\n"))
	if err == nil {
		t.Fatal("post succeeded, want a network error")
	}
	if st := rcv.Stats(); st.Injected != 1 {
		t.Errorf("stats = %+v, want 1 injected", st)
	}

	rcv.SetResponder(nil)
	if status, _ := post(t, rcv.URL(), "keyevent", "precision=s", nil, []byte("e v=1i 1\n")); status != http.StatusOK {
		t.Errorf("status after removing the responder = %d, want 200", status)
	}
}

func TestBlockedFault(t *testing.T) {
	rcv := New(t, WithNow(fixedNow))
	entered, release := make(chan struct{}), make(chan struct{})
	rcv.SetResponder(func(string, *http.Request) (Fault, bool) {
		close(entered)
		return Fault{Status: http.StatusServiceUnavailable, Block: release}, true
	})

	done := make(chan int)
	go func() {
		resp, err := http.Post(rcv.URL()+"/v1/write/keyevent?precision=s", "text/plain", strings.NewReader("e v=1i 1\n"))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()

	<-entered
	if n := rcv.Stats().Requests; n != 0 {
		t.Errorf("%d requests recorded while held, want 0", n)
	}
	close(release)
	if got := <-done; got != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", got)
	}
}

func TestWaitFor(t *testing.T) {
	rcv := New(t, WithNow(fixedNow))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	waited := make(chan error, 1)
	go func() {
		waited <- rcv.WaitFor(ctx, func(pts []Point) bool { return len(pts) == 2 })
	}()
	for _, body := range []string{"e v=1i 1\n", "e v=2i 2\n"} {
		if status, code := post(t, rcv.URL(), "keyevent", "precision=s", nil, []byte(body)); status != http.StatusOK {
			t.Fatalf("answer = %d %q, want 200", status, code)
		}
	}
	if err := <-waited; err != nil {
		t.Errorf("WaitFor = %v, want nil", err)
	}

	cancel()
	err := rcv.WaitFor(ctx, func(pts []Point) bool { return len(pts) == 3 })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor after cancel = %v, want context.Canceled", err)
	}

	err = rcv.WaitForRequests(t.Context(), func(rs []Request) bool { return len(rs) == 2 })
	if err != nil {
		t.Errorf("WaitForRequests = %v, want nil", err)
	}
}

func TestResetAndPing(t *testing.T) {
	rcv := New(t, WithNow(fixedNow))
	post(t, rcv.URL(), "keyevent", "precision=s", nil, []byte("e v=1i 1\n"))
	rcv.Reset()
	if pts, st := rcv.AllPoints(), rcv.Stats(); len(pts) != 0 || st != (Stats{}) {
		t.Errorf("after Reset: %d points, stats %+v; want none", len(pts), st)
	}

	resp, err := http.Get(rcv.URL() + "/v1/ping")
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-DataKit") != Version {
		t.Errorf("ping = %d, X-DataKit %q; want 200, %q", resp.StatusCode, resp.Header.Get("X-DataKit"), Version)
	}
	rcv.Close()
	rcv.Close() // idempotent; Cleanup calls it again
}
