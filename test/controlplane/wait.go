package controlplane

import (
	"context"
	"fmt"
	"time"
)

// pollUntil calls check with growing delays until it returns nil, p exits, or ctx ends. The
// error names the last failed check, so a timeout says what was still wrong.
func pollUntil(ctx context.Context, p *process, what string, check func(context.Context) error) error {
	delay := 20 * time.Millisecond
	for {
		if err := p.exited(); err != nil {
			return markPortTaken(fmt.Errorf("wait for %s: %w", what, err), p.logPath)
		}
		err := check(ctx)
		if err == nil {
			return nil
		}
		if waitErr := waitOrDone(ctx, delay); waitErr != nil {
			return fmt.Errorf("wait for %s: %w (last check: %v); end of %s:\n%s",
				what, waitErr, err, p.logPath, tail(p.logPath, 20))
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}
