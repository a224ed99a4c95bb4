package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// lsArgs are the flags of `job ls`.
type lsArgs struct {
	q   client.SearchQuery
	all bool
	now func() time.Time
}

// multi is a flag given several times.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func lsFlags(fl *flag.FlagSet) func(*jobRun) error {
	var status, meta multi
	fl.Var(&status, "status", "status, several comma-separated or with the flag repeated (failed,quarantined)")
	blueprint := fl.String("blueprint", "", "blueprint name")
	state := fl.String("state", "", "current state")
	code := fl.String("error-code", "", "error code (PERMANENT_ERROR, DISPATCH_TIMEOUT, …)")
	worker := fl.String("worker", "", "a worker that reported on the job")
	parent := fl.String("parent", "", "the parent job's id")
	times := map[string]*string{}
	for _, n := range []string{"created-after", "created-before", "ended-after", "ended-before"} {
		times[n] = fl.String(n, "", "RFC 3339 time, or a duration ago (24h)")
	}
	fl.Var(&meta, "meta", "metadata KEY=VALUE (repeat for several)")
	sort := fl.String("sort", "-created", "created, -created, ended or -ended (- is newest first)")
	limit := fl.Int("limit", 50, "jobs per page (1 to 1000)")
	cursor := fl.String("cursor", "", "the next page's cursor, as a previous page printed it")
	where := fl.String("where", "", "a Starlark condition over input, result and history (input.amount > 100)")
	all := fl.Bool("all", false, "follow every page")
	return func(r *jobRun) error {
		a := &lsArgs{all: *all, now: time.Now}
		q := &a.q
		for _, s := range status {
			for st := range strings.SplitSeq(s, ",") {
				if st = strings.TrimSpace(st); st != "" {
					q.Statuses = append(q.Statuses, wire.JobStatus(st))
				}
			}
		}
		q.Blueprint, q.State, q.ErrorCode, q.Worker, q.Parent = *blueprint, *state, *code, *worker, *parent
		for name, dst := range map[string]*time.Time{"created-after": &q.CreatedAfter, "created-before": &q.CreatedBefore,
			"ended-after": &q.EndedAfter, "ended-before": &q.EndedBefore} {
			v := *times[name]
			if v == "" {
				continue
			}
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				*dst = t
			} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
				*dst = a.now().Add(-d)
			} else {
				return fmt.Errorf("--%s %q: want an RFC 3339 time (2026-03-01T12:00:00Z) or a duration ago (24h)", name, v)
			}
		}
		for _, kv := range meta {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("--meta %q: want KEY=VALUE", kv)
			}
			if q.Meta == nil {
				q.Meta = map[string]string{}
			}
			q.Meta[k] = v
		}
		switch *sort {
		case "created", "-created", "ended", "-ended":
			q.Sort = *sort
		default:
			return fmt.Errorf("--sort %q: want created, -created, ended or -ended", *sort)
		}
		if *limit < 1 || *limit > 1000 {
			return fmt.Errorf("--limit %d: want 1 to 1000", *limit)
		}
		q.Limit, q.Cursor, q.Where = *limit, *cursor, *where
		r.ls = a
		return nil
	}
}

// jobLs prints the caller's jobs matching the flags: a table, or with
// --json an array of job views; the next page's cursor goes to stderr.
func jobLs(ctx context.Context, r *jobRun) int {
	a := r.ls
	var jobs []client.Job
	next := ""
	for {
		page, err := r.c.Search(ctx, a.q)
		if err != nil {
			return r.fail(err)
		}
		jobs = append(jobs, page.Jobs...)
		next = page.Next
		if !a.all || next == "" {
			break
		}
		a.q.Cursor = next
	}
	if r.json {
		r.printJSON(jobs)
	} else {
		printJobTable(r, jobs, a.now())
	}
	if next != "" {
		fmt.Fprintf(r.stderr, "more: add --cursor %s (or --all)\n", next)
	}
	return exitOK
}

func printJobTable(r *jobRun, jobs []client.Job, now time.Time) {
	if len(jobs) == 0 {
		fmt.Fprintln(r.stderr, "no jobs match")
		return
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tBLUEPRINT\tSTATUS\tSTATE\tAGE\tDURATION\tERROR")
	for _, j := range jobs {
		age, dur := "-", "-"
		if c := j.Created(); !c.IsZero() {
			age = shortDuration(now.Sub(c))
			if f := j.Finished(); !f.IsZero() {
				dur = shortDuration(f.Sub(c))
			}
		}
		errText := "-"
		if j.Error != nil {
			errText = errorText(j.Error)
			if len(errText) > 60 {
				errText = errText[:57] + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, dash(j.Blueprint), j.Status, dash(j.State), age, dur, errText)
	}
	_ = tw.Flush()
}

// shortDuration writes d in its two largest units: 45s, 3m12s, 5h4m, 2d3h.
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
}

func redriveFlags(fl *flag.FlagSet) func(*jobRun) error {
	from := fl.String("from", "", "the state to start in (default: where the job failed)")
	current := fl.Bool("current", false, "run the blueprint's current version instead of the job's")
	input := fl.String("input", "", "new input: a JSON object, @FILE or @- (stdin)")
	return func(r *jobRun) error {
		r.redrive = &client.RedriveOptions{FromState: *from, CurrentVersion: *current}
		if *input != "" {
			raw, err := readInput(*input, r.stdin)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &r.redrive.Input); err != nil || r.redrive.Input == nil {
				return fmt.Errorf("--input: want a JSON object")
			}
		}
		return nil
	}
}

// jobRedrive re-runs a failed or quarantined job and prints the new id.
func jobRedrive(ctx context.Context, r *jobRun) int {
	j, err := r.c.Redrive(ctx, r.args[0], *r.redrive)
	if err != nil {
		return r.fail(err)
	}
	if r.json {
		r.printJSON(j)
		return exitOK
	}
	fmt.Fprintln(r.stdout, j.ID)
	return exitOK
}

// readInput reads --input: inline JSON, @FILE or @- (stdin).
func readInput(v string, stdin io.Reader) ([]byte, error) {
	switch {
	case v == "@-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("--input @- (stdin): %v", err)
		}
		return b, nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("--input: cannot read %s: %v", v[1:], errors.Unwrap(err))
		}
		return b, nil
	}
	return []byte(v), nil
}
