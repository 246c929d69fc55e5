package output

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/GuanceCloud/cliutils/point"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/render"
)

// checkDecision reports a decision the encoder cannot write.
func checkDecision(d *detect.Decision) error {
	if d == nil {
		return errors.New("nil decision")
	}
	var errs []error
	if d.Kind < detect.KindAnomaly || d.Kind > detect.KindRecovery {
		errs = append(errs, fmt.Errorf("unknown kind %d", d.Kind))
	}
	if d.Kind != detect.KindRecovery && d.Level == detect.LevelNone {
		errs = append(errs, fmt.Errorf("%s without a level", d.Kind))
	}
	if d.EventID == "" || d.Fault.ID == "" {
		errs = append(errs, errors.New("missing event or fault ID"))
	}
	if d.At.IsZero() || d.Fault.Start.IsZero() {
		errs = append(errs, errors.New("missing time or fault start"))
	}
	if d.Window <= 0 {
		errs = append(errs, fmt.Errorf("window %v not positive", d.Window))
	}
	if math.IsNaN(d.Stats.Ratio) || math.IsInf(d.Stats.Ratio, 0) {
		errs = append(errs, fmt.Errorf("ratio %v", d.Stats.Ratio))
	}
	for i := range d.Pods {
		if d.Pods[i].Pod == nil {
			errs = append(errs, fmt.Errorf("pod report %d without a pod", i))
			break
		}
	}
	return errors.Join(errs...)
}

// Event encodes a decision as a Guance event for /v1/write/keyevent.
func (e *Encoder) Event(d *detect.Decision) (*point.Point, error) {
	if err := checkDecision(d); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	nsName := d.Stats.Namespace
	if nsName == "" {
		nsName = d.Fault.Namespace
	}
	ns, err := tagValue(keyNamespace, nsName)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	eventID, err := tagValue(keyEventID, d.EventID)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	faultID, err := tagValue(keyFaultID, d.Fault.ID)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}

	dims, err := marshalJSON(struct {
		Cluster   string `json:"cluster_name_k8s"`
		Namespace string `json:"namespace"`
	}{e.cluster, ns})
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	ref := sha256.Sum256([]byte(e.checkerID + "\x00" + dims))

	status, faultStatus := d.Level.String(), "fault"
	if d.Kind == detect.KindRecovery {
		status, faultStatus = detect.LevelNone.String(), "ok"
	}

	det, err := buildDetails(d)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	v := &render.Event{Decision: d, Cluster: e.cluster, Namespace: ns,
		TotalPods: det.totalPods, JSONPods: det.jsonPods, TotalContainers: det.totalContainers, JSONContainers: det.jsonContainers}
	title, titleErr := e.text.Title(v)
	message, messageErr := e.text.Markdown(v)
	checkerName, nameErr := e.text.CheckerName()
	if err := errors.Join(titleErr, messageErr, nameErr); err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}

	var b kvBuilder
	e.commonTags(&b, ns)
	b.tag(keySource, "monitor")
	b.tag(keyStatus, status)
	b.tag(keySubStatus, status)
	b.tag(keyEventID, eventID)
	b.tag(keyFaultID, faultID)
	b.tag(keyFaultStatus, faultStatus)
	b.tag(keyMonitorType, "bot_obs")
	b.tag(keyChecker, Measurement)
	b.tag(keyCheckerID, e.checkerID)
	b.tag(keyCheckerEventRef, hex.EncodeToString(ref[:16]))

	start, dur := d.Fault.Start.Unix(), int64(d.Duration()/time.Second)
	b.field(keyTitle, title)
	b.field(keyMessage, message)
	b.field(keyDimensionTags, dims)
	b.field(keyCheckerName, checkerName)
	b.field(keyCheckerValue, d.Stats.Ratio)
	b.field(keyDateRange, int64(d.Window/time.Second))
	b.field(keyCheckRangeStart, d.At.Add(-d.Window).Unix())
	b.field(keyCheckRangeEnd, d.At.Unix())
	b.field(keyFaultStartTime, start)
	b.field(keyFaultDuration, dur)
	b.field(keyIssueStartTime, start)
	b.field(keyIssueDuration, dur)
	b.field(keyRestartRatio, d.Stats.Ratio)
	b.field(keyRestartPods, int64(d.Stats.RestartedPods))
	b.field(keyTotalPods, int64(d.Stats.Pods))
	b.field(keyRestarts, int64(d.Stats.Restarts))
	b.field(keyAbnormalPods, det.podsJSON)
	b.field(keyContainerStatuses, det.containersJSON)
	b.field(keyOmittedPods, int64(det.totalPods-det.jsonPods))
	b.field(keyOmittedContainers, int64(det.totalContainers-det.jsonContainers))
	if err := e.rcaFields(&b, d); err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	if hasHistory(d.Kind) {
		if err := historyFields(&b, d); err != nil {
			return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
		}
	}

	pt, err := newPoint(&b, d.At, point.CommonLoggingOptions())
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	return pt, nil
}
