package main

import (
	"os"
	"runtime"
	"testing"
)

// TestTuneProcs checks that the agent runs on one P unless the environment
// says otherwise.
func TestTuneProcs(t *testing.T) {
	tests := []struct {
		name string
		env  string // "" leaves GOMAXPROCS unset
		want int
	}{
		{name: "unset: one P", env: "", want: 1},
		{name: "set: the environment's", env: "3", want: 3},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tc.env)
			if tc.env == "" {
				os.Unsetenv("GOMAXPROCS")
			}
			// What the runtime read from the environment at start.
			runtime.GOMAXPROCS(3)
			tuneProcs()
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS %d, want %d", got, tc.want)
			}
		})
	}
}
