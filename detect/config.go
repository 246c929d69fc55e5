package detect

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Config holds the rules of detection. input fills it from the user's
// configuration; see the sample configuration for each rule's meaning.
type Config struct {
	// Window is how far back restarts count.
	Window time.Duration
	// RecoverAfter is how long the namespace must stay below the thresholds
	// before its fault recovers (the configured interval).
	RecoverAfter time.Duration
	// Silence is the least time between two events of one open fault at an
	// unchanged or lower level; 0 writes no reminders at all.
	Silence time.Duration

	MinPods          int
	MinRestartedPods int
	RatioWarning     float64
	RatioError       float64
	RatioCritical    float64

	// Baseline configures baseline mode; off by default.
	Baseline BaselineConfig

	// RevisionWait is how long a namespace's fault waits to open or rise
	// while it has a pod of a Deployment revision whose ReplicaSet the
	// detector has not seen (SetRevision): a ReplicaSet is created before
	// its pods, but reaches the detector through another watch, and
	// whether restarts are expected (a rollout) or what triggered them
	// depends on it. 0 does not wait.
	RevisionWait time.Duration

	// MaxReportedPods bounds the abnormal pods a decision carries; the rest
	// are only counted (Decision.OmittedPods).
	MaxReportedPods int

	// NewID returns a new event ID; nil uses NewEventID.
	NewID func() string
}

// DefaultMaxReportedPods is the bound on reported pods when none is set.
const DefaultMaxReportedPods = 100

// Validate reports every rule that cannot work; input validates the user's
// file first with friendlier names, so this guards programming errors.
func (c *Config) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window %v must be positive", c.Window))
	}
	if c.RecoverAfter <= 0 {
		errs = append(errs, fmt.Errorf("recover-after %v must be positive", c.RecoverAfter))
	}
	if c.RevisionWait < 0 {
		errs = append(errs, fmt.Errorf("revision wait %v must not be negative", c.RevisionWait))
	}
	if c.Silence < 0 {
		errs = append(errs, fmt.Errorf("silence %v must not be negative", c.Silence))
	}
	if c.MinPods < 1 || c.MinRestartedPods < 1 {
		errs = append(errs, fmt.Errorf("min pods %d and min restarted pods %d must be at least 1", c.MinPods, c.MinRestartedPods))
	}
	if !(0 < c.RatioWarning && c.RatioWarning <= c.RatioError && c.RatioError <= c.RatioCritical && c.RatioCritical <= 1) {
		errs = append(errs, fmt.Errorf("ratios must satisfy 0 < warning %v <= error %v <= critical %v <= 1",
			c.RatioWarning, c.RatioError, c.RatioCritical))
	}
	if err := c.Baseline.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewEventID returns "event-" and 32 random hex digits, the shape of Guance's
// event IDs.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "event-" + hex.EncodeToString(b[:])
}
