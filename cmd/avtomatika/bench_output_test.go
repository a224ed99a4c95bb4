package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/internal/bench"
)

// TestBenchOutput runs a small single workload with its output in
// buffers, as in a log or a pipe: the table on stdout, one plain line per
// run on stderr and no carriage return; --json prints the records.
func TestBenchOutput(t *testing.T) {
	t.Parallel()
	args := []string{"--workload", "single", "--jobs", "20", "--runs", "1", "--force"}
	var stdout, stderr bytes.Buffer
	if code := runBench(context.Background(), args, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "\r") || strings.Count(stderr.String(), "avtomatika bench: single run 1 of 1: ") != 1 {
		t.Errorf("stderr off a terminal: want a plain line per run, no \\r:\n%q", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "WORKLOAD  STORE   RUNS  MEDIAN") ||
		!strings.HasPrefix(lines[1], "single    memory  1     ") || !strings.Contains(lines[1], " jobs/s ") || !strings.Contains(lines[1], "µs CPU/job") {
		t.Errorf("table:\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := runBench(context.Background(), append(args, "--json"), nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("--json: exit %d: %s", code, stderr.String())
	}
	dec := json.NewDecoder(&stdout)
	var rec bench.Record
	var sum bench.Summary
	if err := dec.Decode(&rec); err != nil || rec.Workload != "single" || rec.JobsPerSec <= 0 {
		t.Errorf("--json: first record %+v %v", rec, err)
	}
	if err := dec.Decode(&sum); err != nil || sum.Runs != 1 || sum.Median.JobsPerSec <= 0 {
		t.Errorf("--json: summary %+v %v", sum, err)
	}
	if dec.More() {
		t.Error("--json: more than the record and the summary")
	}
}

func TestBenchTableFormats(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 9274.4: "9,274", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %s, want %s", v, got, want)
		}
	}
	var b bytes.Buffer
	benchTable(&b, []bench.Summary{
		{Workload: "dispatch", Store: "redis", Runs: 3, Range: "1–2 ms p50", Median: bench.Record{Workload: "dispatch", P50ms: 1.5, P99ms: 4, JobsPerSec: 500}},
		{Workload: "mem100k", Store: "memory", Runs: 3, Range: "14000–16000 jobs/s", Median: bench.Record{Workload: "mem100k", JobsPerSec: 15000, HeapBytesJob: 900}},
	})
	want := "WORKLOAD  STORE   RUNS  MEDIAN                RANGE               DETAILS\n" +
		"dispatch  redis   3     p50 1.5 ms, p99 4 ms  1–2 ms p50          500 jobs/s\n" +
		"mem100k   memory  3     15,000 jobs/s         14000–16000 jobs/s  900 B heap/queued job\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// --paired runs the history off and on back to back and prints their
// ratios; it needs --history.
func TestBenchPaired(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := runBench(context.Background(), []string{"--workload", "single", "--paired"}, nil, &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "--paired") || !strings.Contains(stderr.String(), "--history") {
		t.Fatalf("--paired without --history: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	args := []string{"--workload", "single", "--jobs", "20", "--runs", "2", "--force", "--history", "sqlite", "--paired"}
	if code := runBench(context.Background(), args, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"run 1 of 2 (history off): ", "run 1 of 2 (history on): ", "run 2 of 2 (history on): ", "run 2 of 2 (history off): "} {
		if strings.Count(stderr.String(), want) != 1 {
			t.Errorf("stderr: want one %q:\n%s", want, stderr.String())
		}
	}
	if i, j := strings.Index(stderr.String(), "run 2 of 2 (history on)"), strings.Index(stderr.String(), "run 2 of 2 (history off)"); i > j {
		t.Errorf("the second pair should run the history on first:\n%s", stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "single    memory          2") || !strings.Contains(out, "single    memory+history  2") ||
		!strings.Contains(out, "single, history on/off over 2 pairs of runs: job rate ") || !strings.Contains(out, ", CPU per job ") {
		t.Errorf("table:\n%s", out)
	}
}

func TestPairRatios(t *testing.T) {
	t.Parallel()
	off := []bench.Record{{Workload: "single", JobsPerSec: 100, CPUMicrosJob: 10}, {Workload: "single", JobsPerSec: 200, CPUMicrosJob: 10}, {Workload: "single", JobsPerSec: 100, CPUMicrosJob: 20}}
	on := []bench.Record{{Workload: "single", JobsPerSec: 90, CPUMicrosJob: 12}, {Workload: "single", JobsPerSec: 100, CPUMicrosJob: 15}, {Workload: "single", JobsPerSec: 95, CPUMicrosJob: 22}}
	p := bench.Pair(off, on)
	if p.Workload != "single" || p.Pairs != 3 || p.RateRatio != 0.9 || p.RateRange != "0.50–0.95" || p.CPURatio != 1.2 || p.CPURange != "1.10–1.50" {
		t.Errorf("three pairs: %+v", p)
	}
	p = bench.Pair(off[:2], on[:2])
	if p.RateRatio != (0.9+0.5)/2 || p.CPURatio != (1.2+1.5)/2 {
		t.Errorf("two pairs: the median is the middle two's mean: %+v", p)
	}
	if p := bench.Pair(nil, on); p.Pairs != 0 || p.RateRatio != 0 {
		t.Errorf("no pairs: %+v", p)
	}
}

// A bad HISTORY_ARCHIVE_BACKLOG is refused before any run, naming it.
func TestBenchRefusesBadArchiveBacklog(t *testing.T) {
	t.Setenv("HISTORY_ARCHIVE_BACKLOG", "-3")
	var stdout, stderr bytes.Buffer
	if code := runBench(context.Background(), []string{"--workload", "single", "--jobs", "20", "--runs", "1", "--force", "--history", "sqlite"}, nil, &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), `HISTORY_ARCHIVE_BACKLOG="-3"`) || stdout.Len() != 0 {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, stderr.String(), stdout.String())
	}
}
