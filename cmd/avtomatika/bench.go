package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/avtomatika-ai/avtomatika-go/internal/bench"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
)

func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o bench.Options
	fl.StringVar(&o.Store, "store", "memory", "store of the in-process server: memory or redis")
	fl.StringVar(&o.RedisURL, "redis-url", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis for --store redis (the bench uses and removes its own key prefix)")
	fl.StringVar(&o.URL, "url", "", "measure a running server instead (its blueprints must include the bench's)")
	fl.StringVar(&o.Token, "token", "", "worker token of the server at --url")
	fl.IntVar(&o.Jobs, "jobs", 5000, "jobs per run of single (other workloads scale from it)")
	fl.IntVar(&o.Rate, "rate", 500, "dispatch: jobs per second")
	fl.IntVar(&o.Idle, "idle", 10000, "idle10k: idle workers (bounded by the open-file limit)")
	fl.IntVar(&o.Queued, "queued", 100000, "mem100k: jobs queued with no workers")
	fl.StringVar(&o.History, "history", "", "turn the in-process server's history on: sqlite (a fresh file per run) or a HISTORY_DATABASE_URI; the CPU per job then counts the archiving of the run's jobs (HISTORY_ARCHIVE_BACKLOG from the environment)")
	paired := fl.Bool("paired", false, "with --history: measure each run twice back to back, history off and on (the order alternating), and print the on/off ratios of job rate and CPU per job")
	baseline := fl.String("baseline", "", "asynq: also run the same shapes on github.com/hibiken/asynq (go run in bench/baseline of the source tree) against the same Redis")
	runs := fl.Int("runs", 3, "measured runs per workload, after one warm-up run")
	workload := fl.String("workload", "all", "workload: "+strings.Join(bench.Workloads, ", ")+", fanout1000 or all")
	force := fl.Bool("force", false, "run even when the machine is already loaded")
	idleAt := fl.String("idle-workers-at", "", "run --idle idle workers against this URL until stopped (idle10k's child process)")
	cpuprofile := fl.String("cpuprofile", "", "write a CPU profile of the measured runs (server and simulators, one process) to this file, for go tool pprof")
	asJSON := fl.Bool("json", false, "print one JSON record per run and per workload's summary instead of the table")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *idleAt != "" {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := bench.IdleWorkers(ctx, *idleAt, o.Token, o.Idle, stdout); err != nil {
			fmt.Fprintf(stderr, "avtomatika bench: idle workers: %v\n", err)
			return exitFindings
		}
		return exitOK
	}
	if exe, err := os.Executable(); err == nil {
		o.IdleCommand = func(url, token string, n int) *exec.Cmd {
			cmd := exec.Command(exe, "bench", "--idle-workers-at", url, "--token", token, "--idle", fmt.Sprint(n))
			cmd.Stderr = stderr
			return cmd
		}
	}
	if o.Store != "memory" && o.Store != "redis" {
		fmt.Fprintf(stderr, "avtomatika bench: --store %q: want memory or redis\n", o.Store)
		return exitUsage
	}
	if *baseline != "" && *baseline != "asynq" {
		fmt.Fprintf(stderr, "avtomatika bench: --baseline %q: the only baseline is asynq\n", *baseline)
		return exitUsage
	}
	if v, ok := os.LookupEnv("HISTORY_ARCHIVE_BACKLOG"); ok {
		c, err := config.FromEnv(func(k string) (string, bool) { return v, k == "HISTORY_ARCHIVE_BACKLOG" })
		if err != nil {
			fmt.Fprintf(stderr, "avtomatika bench: %v\n", err)
			return exitUsage
		}
		o.ArchiveBacklog = &c.ArchiveBacklog
	}
	if *paired && o.History == "" {
		fmt.Fprintln(stderr, "avtomatika bench: --paired compares the history off and on: it needs --history")
		return exitUsage
	}
	if *runs < 1 {
		fmt.Fprintln(stderr, "avtomatika bench: --runs must be at least 1")
		return exitUsage
	}
	ws := bench.Workloads
	if *workload != "all" {
		if !slices.Contains(append(slices.Clone(bench.Workloads), "fanout1000"), *workload) {
			fmt.Fprintf(stderr, "avtomatika bench: unknown workload %q; known: %s, fanout1000, all\n", *workload, strings.Join(bench.Workloads, ", "))
			return exitUsage
		}
		ws = []string{*workload}
	}
	if l, high := bench.LoadTooHigh(); high && !*force {
		fmt.Fprintf(stderr, "avtomatika bench: the load average is already %.2f, above the core count: figures would measure the neighbours (--force runs anyway)\n", l)
		return exitUsage
	}
	// A progress line redrawn in place on a terminal; elsewhere (a log, a
	// pipe) one plain line per run.
	tty := isTerminal(stderr)
	if tty {
		o.Progress = stderr
	}
	enc := json.NewEncoder(stdout)
	var sums []bench.Summary
	var prof *os.File
	if *cpuprofile != "" {
		var err error
		if prof, err = os.Create(*cpuprofile); err != nil {
			fmt.Fprintf(stderr, "avtomatika bench: --cpuprofile: %v\n", err)
			return exitUsage
		}
		defer prof.Close()
	}
	ours := map[string]bench.Record{}
	var pairs []bench.Paired
	off := o
	off.History = ""
	for _, w := range ws {
		if _, err := bench.Run(ctx, w, 0, o); err != nil { // warm-up, not counted
			fmt.Fprintf(stderr, "avtomatika bench: %s: %v\n", w, err)
			return exitFindings
		}
		if *paired {
			if _, err := bench.Run(ctx, w, 0, off); err != nil {
				fmt.Fprintf(stderr, "avtomatika bench: %s: %v\n", w, err)
				return exitFindings
			}
		}
		var recs, offRecs []bench.Record
		if prof != nil {
			if err := pprof.StartCPUProfile(prof); err != nil {
				fmt.Fprintf(stderr, "avtomatika bench: --cpuprofile: %v\n", err)
				return exitFindings
			}
		}
		for i := 1; i <= *runs; i++ {
			// Paired: the history off then on, on then off in the next
			// pair, so that neither side always runs first.
			sides := []bool{true}
			if *paired {
				sides = []bool{i%2 == 0, i%2 == 1}
			}
			for _, on := range sides {
				ro, tag := o, ""
				if *paired {
					ro, tag = off, " (history off)"
					if on {
						ro, tag = o, " (history on)"
					}
				}
				r, err := bench.Run(ctx, w, i, ro)
				if err != nil {
					fmt.Fprintf(stderr, "avtomatika bench: %s run %d%s: %v\n", w, i, tag, err)
					return exitFindings
				}
				if on {
					recs = append(recs, r)
				} else {
					offRecs = append(offRecs, r)
				}
				if *asJSON {
					_ = enc.Encode(r)
				}
				if !tty {
					fmt.Fprintf(stderr, "avtomatika bench: %s run %d of %d%s: %s\n", w, i, *runs, tag, headline(r))
				}
			}
		}
		if prof != nil {
			pprof.StopCPUProfile()
			prof = nil // one workload's runs: the first named
		}
		if *paired {
			sum := bench.Summarize(offRecs)
			sums = append(sums, sum)
			if *asJSON {
				_ = enc.Encode(sum)
			}
		}
		sum := bench.Summarize(recs)
		ours[w] = sum.Median
		sums = append(sums, sum)
		if *asJSON {
			_ = enc.Encode(sum)
		}
		if *paired {
			p := bench.Pair(offRecs, recs)
			pairs = append(pairs, p)
			if *asJSON {
				_ = enc.Encode(struct {
					Paired bench.Paired `json:"paired"`
				}{p})
			}
		}
	}
	if !*asJSON {
		benchTable(stdout, sums)
		for _, p := range pairs {
			fmt.Fprintf(stdout, "%s, history on/off over %d pairs of runs: job rate %.2f (%s), CPU per job %.2f (%s)\n",
				p.Workload, p.Pairs, p.RateRatio, p.RateRange, p.CPURatio, p.CPURange)
		}
	}
	if *baseline == "asynq" {
		return runBaseline(ctx, o.RedisURL, *workload, *runs, ours, *asJSON, stdout, stderr)
	}
	return exitOK
}

// headline is a run's main figure: its p50 latency for the latency
// workloads, its job rate for the others.
func headline(r bench.Record) string {
	if r.Workload == "dispatch" || r.Workload == "idle10k" {
		return fmt.Sprintf("p50 %.3g ms, p99 %.3g ms", r.P50ms, r.P99ms)
	}
	return fmt.Sprintf("%s jobs/s", thousands(r.JobsPerSec))
}

// benchTable prints the medians as a table: one row per workload, its
// main figure, the range over the runs, and the other figures it has.
func benchTable(w io.Writer, sums []bench.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tSTORE\tRUNS\tMEDIAN\tRANGE\tDETAILS")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.Workload, s.Store, s.Runs, headline(s.Median), s.Range, details(s.Median))
	}
	_ = tw.Flush()
}

// details lists a record's figures other than the headline, those it has.
func details(r bench.Record) string {
	var out []string
	add := func(v float64, format string) {
		if v != 0 {
			out = append(out, fmt.Sprintf(format, v))
		}
	}
	if r.Workload != "dispatch" && r.Workload != "idle10k" {
		add(r.P50ms, "p50 %.3g ms")
		add(r.P99ms, "p99 %.3g ms")
	} else {
		add(r.JobsPerSec, "%.0f jobs/s")
	}
	add(r.P999ms, "p99.9 %.3g ms")
	add(r.StepMicros, "%.3g µs/step")
	add(r.CPUMicrosJob, "%.0f µs CPU/job")
	add(r.RedisCmdsJob, "%.3g Redis cmds/job")
	add(r.RedisCPUMicrosJob, "%.0f µs Redis CPU/job")
	add(float64(r.IdleWorkers), "%.0f idle workers")
	add(r.DropPct, "rate %.3g%% lower than alone")
	add(r.HeapBytesJob, "%.0f B heap/queued job")
	add(r.RedisBytesJob, "%.0f B Redis/queued job")
	add(r.DrainPerSec, "drains %.0f jobs/s")
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// thousands formats a rate with thousands separators: 9,274.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// runBaseline runs bench/baseline (a separate module, so this binary does
// not link asynq) with the same Redis server, in database 15: asynq at its
// default settings, then with a 1 ms TaskCheckInterval. After each it
// prints a comparison line per workload that both ran: our median, asynq's
// and the ratio.
func runBaseline(ctx context.Context, redisURL, workload string, runs int, ours map[string]bench.Record, asJSON bool, stdout, stderr io.Writer) int {
	if workload != "all" && workload != "single" && workload != "dispatch" && workload != "mem100k" {
		fmt.Fprintf(stderr, "avtomatika bench: the asynq baseline has single, dispatch and mem100k, not %s\n", workload)
		return exitUsage
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika bench: --redis-url: %v\n", err)
		return exitUsage
	}
	u.Path = "/15"
	if _, err := os.Stat("bench/baseline/go.mod"); err != nil {
		fmt.Fprintln(stderr, "avtomatika bench: --baseline asynq runs from the source tree's root (bench/baseline/go.mod not found)")
		return exitUsage
	}
	enc := json.NewEncoder(stdout)
	for _, check := range []string{"0", "1ms"} {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, "go", "-C", "bench/baseline", "run", ".", "--redis-url", u.String(),
			"--workload", workload, "--runs", fmt.Sprint(runs), "--check-interval", check)
		cmd.Stdout, cmd.Stderr = &out, stderr
		if asJSON {
			cmd.Stdout = io.MultiWriter(stdout, &out)
		}
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "avtomatika bench: asynq baseline: %v\n", err)
			return exitFindings
		}
		for _, c := range compare(ours, out.Bytes()) {
			if asJSON {
				_ = enc.Encode(c)
				continue
			}
			fmt.Fprintf(stdout, "%s %s: ours %.4g (%s), asynq (check interval %s) %.4g: ratio %.2f\n", c.Workload, c.Metric, c.Ours, c.Store, check, c.Theirs, c.Ratio)
		}
	}
	return exitOK
}

// Comparison is one figure of ours beside the baseline's, from one run of
// avtomatika bench.
type Comparison struct {
	Workload string  `json:"compare"`
	Metric   string  `json:"metric"`
	Ours     float64 `json:"ours"`
	Store    string  `json:"ours_store"`
	Baseline string  `json:"baseline"`
	Theirs   float64 `json:"theirs"`
	Ratio    float64 `json:"ratio"` // ours / theirs
}

// compare pairs our medians with the summary lines the baseline printed.
func compare(ours map[string]bench.Record, baseline []byte) []Comparison {
	var out []Comparison
	for line := range bytes.SplitSeq(baseline, []byte("\n")) {
		var s struct {
			Workload string `json:"workload"`
			Store    string `json:"store"`
			Median   *struct {
				JobsPerSec  float64 `json:"jobs_per_s"`
				P50ms       float64 `json:"p50_ms"`
				RedisBytes  float64 `json:"redis_bytes_per_job"`
				DrainPerSec float64 `json:"drain_jobs_per_s"`
			} `json:"median"`
		}
		if json.Unmarshal(line, &s) != nil || s.Median == nil {
			continue
		}
		o, ok := ours[s.Workload]
		if !ok {
			continue
		}
		add := func(metric string, a, b float64) {
			if a > 0 && b > 0 {
				out = append(out, Comparison{Workload: s.Workload, Metric: metric, Ours: a, Store: o.Store, Baseline: s.Store, Theirs: b, Ratio: a / b})
			}
		}
		switch s.Workload {
		case "single":
			add("jobs_per_s", o.JobsPerSec, s.Median.JobsPerSec)
		case "dispatch":
			add("p50_ms", o.P50ms, s.Median.P50ms)
		case "mem100k":
			add("redis_bytes_per_queued_job", o.RedisBytesJob, s.Median.RedisBytes)
			add("drain_jobs_per_s", o.DrainPerSec, s.Median.DrainPerSec)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
