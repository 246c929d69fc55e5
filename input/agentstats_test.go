package input

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// burnCPU spins until the process has used more CPU time than before, as
// the kernel counts it (in clock ticks), or fails after a bound.
func burnCPU(t *testing.T, s *selfSampler, before float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x ^= i
		}
		times, err := s.proc.Times()
		if err != nil {
			t.Fatal(err)
		}
		if times.User+times.System > before {
			return
		}
	}
	t.Fatalf("CPU time did not grow past %v (%d)", before, x)
}

func TestSelfSampler(t *testing.T) {
	s := newSelfSampler(slog.New(slog.DiscardHandler))
	if s.proc == nil {
		t.Skip("no /proc for this process")
	}
	first, err := s.sample(t.Context(), srvT0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first sample: %+v", *first)
	if first.CPUUsage != 0 || first.CPUSeconds <= 0 || first.RSSBytes <= 0 || first.OpenFiles <= 0 || first.Goroutines <= 0 {
		t.Errorf("first sample %+v: want no CPU usage yet and the rest positive", *first)
	}

	t.Run("open files", func(t *testing.T) {
		const n = 5
		dir := t.TempDir()
		for i := range n {
			f, err := os.Create(filepath.Join(dir, string(rune('a'+i))))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
		}
		st, err := s.sample(t.Context(), srvT0)
		if err != nil {
			t.Fatal(err)
		}
		if st.OpenFiles < first.OpenFiles+n {
			t.Errorf("open files %d after opening %d more than %d", st.OpenFiles, n, first.OpenFiles)
		}
	})

	t.Run("CPU usage is the CPU time over the time elapsed", func(t *testing.T) {
		base, err := s.sample(t.Context(), srvT0)
		if err != nil {
			t.Fatal(err)
		}
		burnCPU(t, s, base.CPUSeconds)
		st, err := s.sample(t.Context(), srvT0.Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := 100 * (st.CPUSeconds - base.CPUSeconds) / 2
		if st.CPUUsage != want || want <= 0 {
			t.Errorf("CPU usage %v, want %v: 100 * (%v - %v) / 2s", st.CPUUsage, want, st.CPUSeconds, base.CPUSeconds)
		}
	})

	t.Run("no usage when the clock did not move forward", func(t *testing.T) {
		st, err := s.sample(t.Context(), srvT0) // before the previous sample
		if err != nil {
			t.Fatal(err)
		}
		if st.CPUUsage != 0 {
			t.Errorf("CPU usage %v with time going backwards, want 0", st.CPUUsage)
		}
	})
}

func TestSelfSamplerWithoutProc(t *testing.T) {
	s := &selfSampler{log: slog.New(slog.DiscardHandler)}
	st, err := s.sample(t.Context(), srvT0)
	if err == nil {
		t.Error("no error without /proc")
	}
	if st == nil || st.Goroutines <= 0 {
		t.Errorf("sample %+v: want the goroutines at least", st)
	}
	var none *selfSampler
	if got := none.stats(t.Context(), srvT0); got != nil {
		t.Errorf("a nil sampler returned %+v", got)
	}
}
