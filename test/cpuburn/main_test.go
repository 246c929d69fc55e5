package main

import (
	"context"
	"testing"
	"time"
)

func TestWatchParent(t *testing.T) {
	tests := []struct {
		name string
		// ppids are what getppid returns at each tick; the parent is 10.
		ppids []int
		// ticks is how many ticks are sent before the parent check must
		// have returned; -1: it must not return until ctx ends.
		ticks int
	}{
		{name: "parent stays: runs until ctx ends", ppids: []int{10, 10, 10}, ticks: -1},
		{name: "parent exits: stops at the next tick", ppids: []int{1}, ticks: 1},
		{name: "parent exits later", ppids: []int{10, 10, 1}, ticks: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			calls := 0
			getppid := func() int {
				p := tc.ppids[min(calls, len(tc.ppids)-1)]
				calls++
				return p
			}
			tick := make(chan time.Time)
			done := make(chan struct{})
			go func() {
				watchParent(ctx, 10, getppid, tick)
				close(done)
			}()
			n := tc.ticks
			if n < 0 {
				n = len(tc.ppids)
			}
			for range n {
				select {
				case tick <- time.Time{}:
				case <-done:
					t.Fatalf("returned after %d getppid calls, before tick %d", calls, n)
				}
			}
			if tc.ticks < 0 {
				cancel()
			}
			<-done
			if want := n; calls != want {
				t.Errorf("getppid called %d times, want %d", calls, want)
			}
		})
	}
}
