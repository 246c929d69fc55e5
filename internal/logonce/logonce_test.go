package logonce

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFailure(t *testing.T) {
	// Each step is a failure of a class, or a success ("").
	tests := []struct {
		name  string
		steps []string
		want  []bool // Failed's changed, or Recovered's result
	}{
		{name: "healthy", steps: []string{"", ""}, want: []bool{false, false}},
		{name: "repeated failure", steps: []string{"forbidden", "forbidden", "forbidden"}, want: []bool{true, false, false}},
		{name: "changing failure", steps: []string{"forbidden", "timeout", "timeout", "forbidden"}, want: []bool{true, true, false, true}},
		{name: "recovery once", steps: []string{"forbidden", "", ""}, want: []bool{true, true, false}},
		{name: "same failure after a recovery is new", steps: []string{"forbidden", "", "forbidden"}, want: []bool{true, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Failure
			var got []bool
			for _, s := range tc.steps {
				if s == "" {
					got = append(got, f.Recovered())
				} else {
					got = append(got, f.Failed(s))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailureEmptyClass(t *testing.T) {
	var f Failure
	if !f.Failed("") {
		t.Error(`Failed("") on a healthy Failure = false, want true`)
	}
	if !f.Recovered() {
		t.Error(`Recovered() after Failed("") = false, want true: a failure without a class is still a failure`)
	}
}
