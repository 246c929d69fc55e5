package input

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Lease timings, those of kube-controller-manager: a standby takes over at
// most leaseDuration after the leader stopped renewing.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// Roles reported by (*cluster).Role.
const (
	roleSingle  = ""        // no election: the agent always writes
	roleLeader  = "leader"  // elected: this replica writes
	roleStandby = "standby" // elected elsewhere: caches warm, writes nothing
)

// errLostLeadership ends the process after it led: a replica that lost its
// lease restarts as a standby rather than risk writing beside the new leader.
var errLostLeadership = errors.New("lost leadership of the election lease")

// identity names this replica in the Lease: the pod's name when the
// Deployment passes it, else the host name, made unique per process.
func identity() string {
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return name + "_" + hex.EncodeToString(b[:])
}

// leaseNamespace is where the election Lease and the fault state live.
func (c *cluster) leaseNamespace() (string, error) {
	return c.cfg.LeaseNamespace(os.LookupEnv, os.ReadFile)
}

// elect runs lead while this replica holds the cluster's Lease. It returns
// nil when ctx ends, and errLostLeadership when the lease was lost while
// leading.
func (c *cluster) elect(ctx context.Context, client kubernetes.Interface, namespace string, lead func(context.Context) error) error {
	id := identity()
	c.role.Store(roleStandby)
	// runCtx also stops the election when lead fails, so that a replica that
	// cannot work does not keep the lease.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var started atomic.Bool
	led := make(chan error, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: c.cfg.ElectionLeaseName, Namespace: namespace},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            c.cfg.ClusterName,
		Callbacks: leaderelection.LeaderCallbacks{
			// Run starts this on its own goroutine; elect waits for it below.
			OnStartedLeading: func(leadCtx context.Context) {
				started.Store(true)
				c.role.Store(roleLeader)
				c.log.Info("elected leader: writing events", "identity", id, "lease", namespace+"/"+c.cfg.ElectionLeaseName)
				err := lead(leadCtx)
				if err != nil && leadCtx.Err() == nil {
					cancel()
				}
				led <- err
			},
			OnStoppedLeading: func() { c.role.Store(roleStandby) },
			OnNewLeader: func(leader string) {
				if leader != id {
					c.log.Info("standing by: another replica leads", "leader", leader, "identity", id)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(runCtx)
	switch {
	case ctx.Err() != nil:
		// Shutting down: let a lead in progress finish flushing.
		if started.Load() {
			<-led
		}
		return nil
	default:
		// Run returns before ctx ends only after holding the lease: it
		// was lost, or lead failed and gave it up.
		if err := <-led; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return errLostLeadership
	}
}

// Role reports whether this replica writes: "" without election, "leader" or
// "standby" with it.
func (c *cluster) Role() string {
	r, _ := c.role.Load().(string)
	return r
}
