package detect

import (
	"hash/fnv"
	"time"
)

// maxRestartsPerPod bounds the restart instants kept per pod. A crash-looping
// container restarts at most every 5 minutes once back-off is at its cap, so
// this holds a 30-minute window for several containers; past it the two oldest
// entries merge, keeping the count and the later instant.
const maxRestartsPerPod = 32

// restart is one or more restarts of one container at one instant.
type restart struct {
	at        int64 // unix nanoseconds
	n         int32
	container uint16 // index into podState.tracks
	cause     Cause  // see classify; CauseExpected when counted while the pod was on its way out
	code      uint8  // CauseKey.Code
	// accounted counts the restarts of n that the open fault's history
	// holds (see Detector.account).
	accounted int32
	// rebuilt marks restarts counted from a pod's first observation, which
	// after an agent restart an earlier run may have counted already.
	rebuilt bool
}

// containerTrack is what restart counting remembers of one container.
//
// A restart is one terminated container instance, known by its container ID
// (by its finishedAt when the runtime gave none). The kubelet shows it
// first as state.terminated, then as lastState.terminated while the
// container waits in back-off and after it runs again, and raises
// restartCount only with the last of these writes
// (convertToAPIContainerStatuses in pkg/kubelet/kubelet_pods.go). Each
// instance counts once, from whichever write shows it first; restartCount
// only fills in restarts whose termination the agent never saw.
type containerTrack struct {
	name string
	// seen are the identities of the last two terminations counted, the
	// newest first: a status shows at most two (state and lastState).
	seen [2]uint64
	// restarts is the restart count the last observation implies: its
	// restartCount plus the termination it does not include yet.
	restarts int32
	// owed counts the restarts counted from restartCount alone, the last
	// at owedAt: a termination that finished by then and arrives later
	// dates one of them instead of counting again.
	owed   int32
	owedAt int64
}

// podState is one pod as the detector tracks it. Most pods never restart:
// for them it keeps only what counting needs (the tracks and two flags), not
// the observation, so that a large cluster costs little memory.
type podState struct {
	// pod is the last observation while the pod has restarts recorded,
	// which reports need; nil otherwise. restarts non-empty implies pod
	// non-nil (see observed).
	pod       *Pod
	terminal  bool  // the last observation's Terminal()
	deleting  bool  // the last observation's Deleting
	deletedAt int64 // unix nanoseconds; 0 while the pod exists
	// disrupted is why the pod is on its way out as its last observation
	// shows, ExpectedNone while it is not (see disruptionOf).
	disrupted ExpectedReason
	tracks    []containerTrack
	restarts  []restart // oldest first
}

// observed records what the detector keeps of the pod's last observation.
func (s *podState) observed(p *Pod) {
	s.terminal, s.deleting = p.Terminal(), p.Deleting
	if len(s.restarts) > 0 {
		s.pod = p
	} else {
		s.pod = nil
	}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// track returns the index of the container's track, adding one for a
// container seen for the first time (an ephemeral container, a new pod).
func (s *podState) track(name string) (int, bool) {
	for i := range s.tracks {
		if s.tracks[i].name == name {
			return i, false
		}
	}
	s.tracks = append(s.tracks, containerTrack{name: name})
	return len(s.tracks) - 1, true
}

// termination is one terminated container instance a status shows.
type termination struct {
	id        uint64
	at        int64 // finishedAt, unix nanoseconds; 0 when unknown
	fromState bool  // shown as state.terminated, not lastState.terminated
}

// when returns the instant the termination counts at: its finishedAt, or
// now when it has none or lies in the future.
func (t *termination) when(now int64) int64 {
	if t.at == 0 || t.at > now {
		return now
	}
	return t.at
}

// terminationID returns the identity of a terminated container instance:
// a hash of its container ID, else its finishedAt; never 0.
func terminationID(containerID string, finished time.Time) uint64 {
	var id uint64
	if containerID != "" {
		h := fnv.New64a()
		h.Write([]byte(containerID))
		id = h.Sum64() | 1 // odd, so never equal to an identity by time
	} else {
		id = uint64(unixNano(finished)) &^ 1
	}
	if id == 0 {
		id = 2
	}
	return id
}

func (tr *containerTrack) saw(id uint64) bool { return tr.seen[0] == id || tr.seen[1] == id }

func (tr *containerTrack) see(id uint64) { tr.seen[1], tr.seen[0] = tr.seen[0], id }

// willRestart reports whether the kubelet restarts container c of p, which
// terminated with c.StateExitCode: its restart policy says so and the pod is
// neither finished nor on its way out (the kubelet stops the containers of a
// pod being deleted or evicted, it does not restart them).
func willRestart(p *Pod, c *Container) bool {
	if p.Deleting || p.Terminal() || p.Disruption != "" {
		return false
	}
	switch c.RestartPolicy {
	case RestartNever:
		return false
	case RestartOnFailure:
		return c.StateExitCode != 0
	}
	return true
}

// terminations returns the terminated instances c's status shows, the older
// first: lastState.terminated, then state.terminated when the container
// will be restarted (one that stays terminated did not restart). pending
// reports whether restartCount does not include the newest one yet: the
// container is terminated, or waits in back-off.
func (s *podState) terminations(p *Pod, c *Container, buf *[2]termination) (out []termination, pending bool) {
	out = buf[:0]
	if !c.Last.IsZero() {
		out = append(out, termination{id: terminationID(c.Last.ContainerID, c.Last.FinishedAt), at: unixNano(c.Last.FinishedAt)})
		// Waiting under the dead container's ID (back-off), or under
		// none once it was garbage-collected in back-off: restartCount
		// is still the dead container's. (Without an ID of its own, the
		// termination is the kubelet's "could not be located" record,
		// which comes with restartCount already raised.)
		pending = c.State == StateWaiting && c.Last.ContainerID != "" &&
			(c.ContainerID == c.Last.ContainerID || c.ContainerID == "")
	}
	if c.State == StateTerminated && willRestart(p, c) {
		t := termination{id: terminationID(c.ContainerID, c.StateSince), at: unixNano(c.StateSince), fromState: true}
		if len(out) == 0 || out[0].id != t.id {
			out = append(out, t)
		}
		pending = true
	}
	return out, pending
}

// causeOfTermination returns the cause of the restart t of container c.
func (s *podState) causeOfTermination(c *Container, t *termination) CauseKey {
	if !t.fromState {
		return s.causeOf(c)
	}
	// Classified as the restart it is about to become, when lastState
	// carries this termination.
	k := *c
	k.Last = c.stateTermination()
	return s.causeOf(&k)
}

// first records what a pod's first observation tells: each terminated
// container instance it shows inside the window restarted then. This
// rebuilds the window when the agent starts, from the informer's first list
// (earlier restarts of the same container cannot be dated).
func (s *podState) first(p *Pod, now, horizon int64) bool {
	counted := false
	s.tracks = make([]containerTrack, 0, len(p.Containers))
	var buf [2]termination
	for i := range p.Containers {
		c := &p.Containers[i]
		idx, _ := s.track(c.Name)
		tr := &s.tracks[idx]
		terms, pending := s.terminations(p, c, &buf)
		tr.restarts = c.RestartCount
		if pending {
			tr.restarts++
		}
		for _, t := range terms {
			tr.see(t.id)
			if at := t.when(now); at >= horizon {
				k := s.causeOfTermination(c, &t)
				s.add(restart{at: at, n: 1, container: uint16(idx), cause: k.Cause, code: k.Code, rebuilt: true})
				counted = true
			}
		}
	}
	return counted
}

// update compares an observation with the tracks and records the restarts it
// shows. It allocates nothing when nothing changed.
func (s *podState) update(p *Pod, now, horizon int64) bool {
	counted := false
	var buf [2]termination
	for i := range p.Containers {
		c := &p.Containers[i]
		idx, added := s.track(c.Name)
		tr := &s.tracks[idx]
		terms, pending := s.terminations(p, c, &buf)
		implied := c.RestartCount
		if pending {
			implied++
		}
		if added {
			// A container the pod did not have before (ephemeral): its
			// history starts now.
			for _, t := range terms {
				tr.see(t.id)
			}
			tr.restarts = implied
			continue
		}
		var shown int32 // terminations seen for the first time
		var latest CauseKey
		for _, t := range terms {
			if tr.saw(t.id) {
				if !t.fromState && c.State == StateWaiting && (imageReasons[c.StateReason] || configReasons[c.StateReason]) {
					// It cannot start again: that is what must be fixed.
					s.recause(uint16(idx), s.causeOf(c))
				}
				continue
			}
			tr.see(t.id)
			shown++
			k := s.causeOfTermination(c, &t)
			latest = k
			at := t.when(now)
			if tr.owed > 0 && t.at != 0 && t.at <= tr.owedAt {
				// The termination of a restart counted from
				// restartCount alone: it dates that one.
				tr.owed--
				s.redate(uint16(idx), at, k)
				continue
			}
			if at >= horizon {
				s.add(restart{at: at, n: 1, container: uint16(idx), cause: k.Cause, code: k.Code})
				counted = true
			}
		}
		if missing := implied - tr.restarts - shown; missing > 0 {
			// restartCount rose by more than the terminations shown: their
			// records are gone (kubelet restart, dead containers garbage
			// collected) or came in updates the informer merged. They
			// count now, with the cause of a termination shown with
			// them.
			k := latest
			if shown == 0 {
				k = s.causeOf(nil)
			}
			s.add(restart{at: now, n: missing, container: uint16(idx), cause: k.Cause, code: k.Code})
			tr.owed, tr.owedAt = tr.owed+missing, now
			counted = true
		}
		tr.restarts = implied
	}
	return counted
}

// add appends r keeping restarts ordered by time and bounded.
func (s *podState) add(r restart) {
	i := len(s.restarts)
	s.restarts = append(s.restarts, r)
	for ; i > 0 && s.restarts[i-1].at > r.at; i-- {
		s.restarts[i] = s.restarts[i-1]
	}
	s.restarts[i] = r
	if len(s.restarts) > maxRestartsPerPod {
		// Merged at the older instant, so that no restart counts after it
		// left the window (the newer one leaves with it, a little early).
		s.restarts[1].n += s.restarts[0].n
		s.restarts[1].accounted += s.restarts[0].accounted
		s.restarts[1].rebuilt = s.restarts[1].rebuilt && s.restarts[0].rebuilt
		s.restarts[1].at = s.restarts[0].at
		s.restarts = append(s.restarts[:0], s.restarts[1:]...)
	}
}

// redate moves one of the container's newest restarts counted from
// restartCount alone to the instant its termination reports, with the cause
// it reports.
func (s *podState) redate(container uint16, at int64, k CauseKey) {
	for i := len(s.restarts) - 1; i >= 0; i-- {
		if s.restarts[i].container != container {
			continue
		}
		r := s.restarts[i]
		if r.n > 1 {
			// The rest keeps as many accounted restarts as it can.
			rest := &s.restarts[i]
			rest.n--
			rest.accounted = min(r.accounted, rest.n)
			r.n, r.accounted = 1, r.accounted-rest.accounted
		} else {
			s.restarts = append(s.restarts[:i], s.restarts[i+1:]...)
		}
		r.at = at
		if r.cause != CauseExpected {
			r.cause, r.code = k.Cause, k.Code
		}
		s.add(r)
		return
	}
}

// recause gives the container's newest restart the cause k, unless it was
// expected.
func (s *podState) recause(container uint16, k CauseKey) {
	for i := len(s.restarts) - 1; i >= 0; i-- {
		if r := &s.restarts[i]; r.container == container {
			if r.cause != CauseExpected {
				r.cause, r.code = k.Cause, k.Code
			}
			return
		}
	}
}

// prune drops restarts older than horizon and reports how many remain.
func (s *podState) prune(horizon int64) int {
	i := 0
	for i < len(s.restarts) && s.restarts[i].at < horizon {
		i++
	}
	if i > 0 {
		s.restarts = append(s.restarts[:0], s.restarts[i:]...)
		if len(s.restarts) == 0 {
			s.pod = nil // nothing to report any more
		}
	}
	n := 0
	for _, r := range s.restarts {
		n += int(r.n)
	}
	return n
}

// running reports whether the pod exists, has not finished and is not on
// its way out: a pod that may still restart.
func (s *podState) running() bool {
	return s.deletedAt == 0 && !s.terminal && s.disrupted == ExpectedNone
}

// considered reports whether the pod counts in its namespace's ratio, given
// its abnormal restarts inside the window: pods that exist, have not
// finished and are not on their way out (deleting, evicted, preempted: see
// disruptionOf), and any pod, even deleted, finished or evicted since, that
// restarted abnormally inside the window.
func (s *podState) considered(restarts int) bool {
	return restarts > 0 || s.running()
}
