package detect

import "time"

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
}

// containerTrack is what restart counting remembers of one container.
type containerTrack struct {
	name         string
	lastID       string // last termination's container ID
	lastFinished int64  // last termination's finishedAt, unix nanoseconds
	restartCount int32
	// awaitingTermination is set when restartCount rose without a new last
	// termination; the termination that arrives later dates that restart
	// instead of counting another.
	awaitingTermination bool
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

// newTermination reports whether c carries a last termination other than the
// one the track saw.
func (tr *containerTrack) newTermination(c *Container) bool {
	if c.Last.IsZero() {
		return false
	}
	return c.Last.ContainerID != tr.lastID || unixNano(c.Last.FinishedAt) != tr.lastFinished
}

func (tr *containerTrack) remember(c *Container) {
	tr.restartCount = c.RestartCount
	if !c.Last.IsZero() {
		tr.lastID = c.Last.ContainerID
		tr.lastFinished = unixNano(c.Last.FinishedAt)
	}
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

// first records what a pod's first observation tells: each container whose
// last termination lies inside the window restarted then. This rebuilds the
// window when the agent starts, from the informer's first list.
func (s *podState) first(p *Pod, now, horizon int64) bool {
	counted := false
	s.tracks = make([]containerTrack, 0, len(p.Containers))
	for i := range p.Containers {
		c := &p.Containers[i]
		idx, _ := s.track(c.Name)
		tr := &s.tracks[idx]
		tr.remember(c)
		if c.RestartCount > 0 && !c.Last.IsZero() {
			at := unixNano(c.Last.FinishedAt)
			if at > now {
				at = now
			}
			if at >= horizon {
				k := s.causeOf(c)
				s.add(restart{at: at, n: 1, container: uint16(idx), cause: k.Cause, code: k.Code})
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
	for i := range p.Containers {
		c := &p.Containers[i]
		idx, added := s.track(c.Name)
		tr := &s.tracks[idx]
		if added {
			// A container the pod did not have before (ephemeral): its
			// history starts now.
			tr.remember(c)
			continue
		}
		newTerm := tr.newTermination(c)
		at := now
		if newTerm {
			if f := unixNano(c.Last.FinishedAt); f != 0 && f < now {
				at = f
			}
		}
		var n int32
		switch {
		case c.RestartCount > tr.restartCount:
			n = c.RestartCount - tr.restartCount
			tr.awaitingTermination = !newTerm
		case newTerm && tr.awaitingTermination:
			// The termination of a restart already counted: date it.
			s.redate(uint16(idx), at, s.causeOf(c))
			tr.awaitingTermination = false
		case newTerm:
			// restartCount reset (the kubelet lost the container's history)
			// or unchanged while the termination is new: one restart.
			n = 1
		}
		tr.remember(c)
		if n > 0 && at >= horizon {
			k := s.causeOf(c)
			if !newTerm {
				k = s.causeOf(nil) // the termination is yet to come: see redate
			}
			s.add(restart{at: at, n: n, container: uint16(idx), cause: k.Cause, code: k.Code})
			counted = true
		}
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
		s.restarts[1].n += s.restarts[0].n
		s.restarts = append(s.restarts[:0], s.restarts[1:]...)
	}
}

// redate moves the container's newest restart counted "now" to the instant its
// termination reports, with the cause it reports.
func (s *podState) redate(container uint16, at int64, k CauseKey) {
	for i := len(s.restarts) - 1; i >= 0; i-- {
		if s.restarts[i].container == container {
			r := s.restarts[i]
			s.restarts = append(s.restarts[:i], s.restarts[i+1:]...)
			r.at = at
			if r.cause != CauseExpected {
				r.cause, r.code = k.Cause, k.Code
			}
			s.add(r)
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

// considered reports whether the pod counts in its namespace's ratio, given
// its abnormal restarts inside the window: pods that exist, have not
// finished and are not on their way out (deleting, evicted, preempted: see
// disruptionOf), and any pod, even deleted, finished or evicted since, that
// restarted abnormally inside the window.
func (s *podState) considered(restarts int) bool {
	if restarts > 0 {
		return true
	}
	return s.deletedAt == 0 && !s.terminal && s.disrupted == ExpectedNone
}
