package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printTable prints the run's numbers, one row per measure, with the agent's
// ratio to each of the others (lower is better for every row).
func printTable(w io.Writer, r *result) {
	fmt.Fprintf(w, "\n%d pods (+%d reaction pods); churn %.0f updates/s over %d pods for %.0fs (%d updates); rest %.0fs\n",
		r.Pods, r.ReactionPods, r.ChurnRate, r.ChurnPods, r.ChurnSeconds, r.ChurnUpdates, r.RestSeconds)
	fmt.Fprintf(w, "machine: %d CPUs, %.1f GiB, %s; %s; load average %s\n", r.Machine.CPUs, float64(r.Machine.MemoryKB)/(1<<20),
		r.Machine.CPUModel, r.Machine.Go, strings.Join(r.LoadAvg, ", "))
	if r.PodJSONBytes > 0 {
		fmt.Fprintf(w, "pod size: %.1f KB of JSON, managedFields %.1f KB\n", float64(r.PodJSONBytes)/1000, float64(r.ManagedFieldsJSONBytes)/1000)
	}
	if r.AgentEnv != "" {
		fmt.Fprintf(w, "agent environment: %s\n", r.AgentEnv)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	cols := []*watcherResult{&r.Agent, &r.Informer, &r.KSM}
	fmt.Fprintln(tw, "measure\tk8s-pod-restart\tplain informer\tkube-state-metrics\tours/informer\tours/KSM\t")
	n := float64(r.Pods + r.ReactionPods)
	row := func(name, format string, f func(*watcherResult) float64) {
		vals := make([]string, 0, 5)
		for _, c := range cols {
			if !c.Ran {
				vals = append(vals, "-")
				continue
			}
			vals = append(vals, fmt.Sprintf(format, f(c)))
		}
		for _, c := range cols[1:] {
			theirs := f(c)
			if !c.Ran || theirs == 0 {
				vals = append(vals, "-")
				continue
			}
			vals = append(vals, fmt.Sprintf("%.2f", f(&r.Agent)/theirs))
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", name, strings.Join(vals, "\t"))
	}
	row("cache sync (s)", "%.2f", func(c *watcherResult) float64 { return c.SyncSeconds })
	row("CPU until synced (s)", "%.2f", func(c *watcherResult) float64 { return c.SyncCPU })
	row("peak RSS, initial list (MiB)", "%.0f", func(c *watcherResult) float64 { return mib(c.PeakRSSSync) })
	row("RSS at rest (MiB)", "%.0f", func(c *watcherResult) float64 { return mib(c.RSSRest) })
	row("peak / rest RSS", "%.2f", func(c *watcherResult) float64 { return float64(c.PeakRSSSync) / float64(max(c.RSSRest, 1)) })
	row("peak RSS, whole run (MiB)", "%.0f", func(c *watcherResult) float64 { return mib(c.PeakRSSEnd) })
	row("live heap after GC (MiB)", "%.0f", func(c *watcherResult) float64 { return mib(c.LiveHeap) })
	row("live heap / pod (KiB)", "%.2f", func(c *watcherResult) float64 { return float64(c.LiveHeap) / n / 1024 })
	row("RSS at rest / pod (KiB)", "%.2f", func(c *watcherResult) float64 { return float64(c.RSSRest) / n / 1024 })
	row("CPU during churn (s)", "%.2f", func(c *watcherResult) float64 { return c.ChurnCPU })
	row("CPU per status update (ms)", "%.3f", func(c *watcherResult) float64 { return 1000 * c.ChurnCPU / float64(max(r.ChurnUpdates, 1)) })
	row("CPU at rest (ms/s)", "%.2f", func(c *watcherResult) float64 { return 1000 * c.RestCPU / r.RestSeconds })
	_ = tw.Flush()
	fmt.Fprintf(w, "\nreaction, status update accepted -> event received by DataKit (%d trials, %d without event): p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		len(r.Reactions), r.Missed, r.ReactionP50Ms, r.ReactionP90Ms, r.ReactionP99Ms, r.ReactionMaxMs)
	if r.KSM.Ran {
		fmt.Fprintf(w, "kube-state-metrics, one /metrics scrape: %.1f MiB, %.2f s, %.2f CPU-s (%d kube_pod_info series)\n",
			float64(r.KSM.ScrapeBytes)/(1<<20), r.KSM.ScrapeSecs, r.KSM.ScrapeCPU, r.KSM.ScrapePodInf)
	}
}
