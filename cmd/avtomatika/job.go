package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// jobCommand is one `avtomatika job` subcommand: its positional
// arguments, extra flags and action.
type jobCommand struct {
	name, args, summary string
	nargs               int
	flags               func(fl *flag.FlagSet) func(*jobRun) error // registers flags; the returned func checks them
	run                 func(ctx context.Context, r *jobRun) int
}

// jobRun is what a subcommand works with.
type jobRun struct {
	c              *client.Client
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
	name           string // "avtomatika job start", for messages
	json           bool
	tty            bool // stdout is a terminal: watch redraws one line

	// start
	input   json.RawMessage
	webhook string
	watch   bool

	// history
	asTest bool

	ls      *lsArgs                // ls (job_ls.go)
	redrive *client.RedriveOptions // redrive
}

func jobCommands() []jobCommand {
	return []jobCommand{
		{name: "start", args: "BLUEPRINT_OR_ENDPOINT", nargs: 1, summary: "start a job and print its id", flags: startFlags, run: jobStart},
		{name: "get", args: "JOB_ID", nargs: 1, summary: "print a job's status, state, current tasks, approval, children and result", run: jobGet},
		{name: "watch", args: "JOB_ID", nargs: 1, summary: "follow a job until it ends; exit 1 unless it finished", run: jobWatch},
		{name: "history", args: "JOB_ID", nargs: 1, summary: "print a job's timeline, each event with its details", flags: historyFlags, run: jobHistory},
		{name: "ls", args: "[--status S] [--where EXPR] …", nargs: 0, summary: "search jobs, live and archived: a table or --json", flags: lsFlags, run: jobLs},
		{name: "cancel", args: "JOB_ID", nargs: 1, summary: "ask the server to cancel a job", run: jobCancel},
		{name: "approve", args: "JOB_ID approved|rejected", nargs: 2, summary: "answer a job waiting for a human", run: jobApprove},
		{name: "redrive", args: "JOB_ID", nargs: 1, summary: "re-run a failed or quarantined job; print the new id", flags: redriveFlags, run: jobRedrive},
	}
}

func jobUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: avtomatika job COMMAND [--url URL] [--token TOKEN] [--json] ARGS")
	fmt.Fprintln(w)
	for _, c := range jobCommands() {
		fmt.Fprintf(w, "  %-8s %-26s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The server is --url, else $AVTOMATIKA_URL, else http://localhost:8080; the token")
	fmt.Fprintln(w, "is --token, else $CLIENT_TOKEN. --json prints JSON on stdout, errors included.")
	fmt.Fprintln(w, "Exit status: 0 done, 1 the server refused or the watched job did not finish, 2 usage.")
}

func runJob(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return jobMain(ctx, args, os.LookupEnv, stdin, stdout, stderr)
}

// jobMain runs `avtomatika job` with env as the environment.
func jobMain(ctx context.Context, args []string, env func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		jobUsage(stderr)
		return exitUsage
	}
	if a := args[0]; a == "-h" || a == "--help" || a == "help" {
		jobUsage(stderr)
		return exitOK
	}
	var cmd *jobCommand
	for _, c := range jobCommands() {
		if c.name == args[0] {
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "avtomatika job: unknown command %q\n", args[0])
		jobUsage(stderr)
		return exitUsage
	}
	name := "avtomatika job " + cmd.name
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	urlDefault, ok := env("AVTOMATIKA_URL")
	if !ok || urlDefault == "" {
		urlDefault = "http://localhost:8080"
	}
	tokenDefault, _ := env("CLIENT_TOKEN")
	serverURL := fl.String("url", urlDefault, "server URL ($AVTOMATIKA_URL)")
	token := fl.String("token", tokenDefault, "client token, sent as X-Client-Token ($CLIENT_TOKEN)")
	asJSON := fl.Bool("json", false, "print JSON")
	var check func(*jobRun) error
	if cmd.flags != nil {
		check = cmd.flags(fl)
	}
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [flags] %s\n\n%s.\n\n", name, cmd.args, capitalize(cmd.summary))
		fl.PrintDefaults()
	}
	pos, err := parseInterleaved(fl, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != cmd.nargs {
		fmt.Fprintf(stderr, "%s: want %s, got %d argument(s)\n", name, cmd.args, len(pos))
		fmt.Fprintf(stderr, "usage: %s [flags] %s\n", name, cmd.args)
		return exitUsage
	}
	c, err := client.New(*serverURL, client.Options{Token: *token, UserAgent: "avtomatika-cli"})
	if err != nil {
		fmt.Fprintf(stderr, "%s: --url: %v\n", name, err)
		return exitUsage
	}
	r := &jobRun{c: c, args: pos, stdin: stdin, stdout: stdout, stderr: stderr, name: name, json: *asJSON, tty: isTerminal(stdout)}
	if check != nil {
		if err := check(r); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitUsage
		}
	}
	return cmd.run(ctx, r)
}

// parseInterleaved parses flags placed before, between or after the
// positional arguments and returns the positional ones.
func parseInterleaved(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// fail reports an error of the server or the network: a line on stderr
// and, with --json, the error as JSON on stdout.
func (r *jobRun) fail(err error) int {
	fmt.Fprintf(r.stderr, "%s: %v\n", r.name, err)
	if r.json {
		body := map[string]any{"message": err.Error()}
		var ae *client.APIError
		if errors.As(err, &ae) {
			body = map[string]any{"status": ae.Status, "code": ae.Code, "message": ae.Message}
			if ae.Details != nil {
				body["details"] = ae.Details
			}
		}
		r.printJSON(map[string]any{"error": body})
	}
	return exitFindings
}

func (r *jobRun) printJSON(v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(r.stderr, "%s: encode JSON: %v\n", r.name, err)
		return
	}
	_, _ = r.stdout.Write(buf.Bytes())
}

func startFlags(fl *flag.FlagSet) func(*jobRun) error {
	input := fl.String("input", "", "initial_data: a JSON object, @FILE or @- (stdin)")
	webhook := fl.String("webhook", "", "URL the server POSTs to when the job ends")
	watch := fl.Bool("watch", false, "then follow the job as `watch` does")
	return func(r *jobRun) error {
		r.webhook, r.watch = *webhook, *watch
		if *input == "" {
			return nil
		}
		var src []byte
		var err error
		what := "--input"
		switch {
		case *input == "@-":
			what = "--input @- (stdin)"
			src, err = io.ReadAll(r.stdin)
		case strings.HasPrefix(*input, "@"):
			what = "--input " + *input
			src, err = os.ReadFile((*input)[1:])
			if err != nil {
				return fmt.Errorf("cannot read %s: %v", (*input)[1:], errors.Unwrap(err))
			}
		default:
			src = []byte(*input)
		}
		if err != nil {
			return fmt.Errorf("read %s: %v", what, err)
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(src))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return fmt.Errorf("%s: want a JSON object: invalid JSON at byte %d: %v", what, se.Offset, se)
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: empty: want a JSON object", what)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%s: want a JSON object: invalid JSON: unexpected end of input", what)
			}
			return fmt.Errorf("%s: want a JSON object: %v", what, err)
		}
		if obj == nil {
			return fmt.Errorf("%s: want a JSON object, got null", what)
		}
		if dec.More() {
			return fmt.Errorf("%s: want a JSON object: more than one JSON value", what)
		}
		r.input = json.RawMessage(bytes.TrimSpace(src))
		return nil
	}
}

func jobStart(ctx context.Context, r *jobRun) int {
	var input any
	if r.input != nil {
		input = r.input
	}
	id, err := r.c.Start(ctx, r.args[0], input, client.StartOptions{WebhookURL: r.webhook})
	if err != nil {
		return r.fail(err)
	}
	if r.watch {
		if !r.json {
			fmt.Fprintf(r.stderr, "started job %s\n", id)
		}
		return r.follow(ctx, id)
	}
	if r.json {
		r.printJSON(map[string]string{"job_id": id})
		return exitOK
	}
	fmt.Fprintln(r.stdout, id)
	return exitOK
}

func jobGet(ctx context.Context, r *jobRun) int {
	j, err := r.c.Get(ctx, r.args[0])
	if err != nil {
		return r.fail(err)
	}
	if r.json {
		r.printJSON(j)
		return exitOK
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 0, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("id", j.ID)
	row("blueprint", j.Blueprint)
	row("status", string(j.Status))
	row("state", j.State)
	if j.Progress != 0 || j.ProgressMessage != "" {
		row("progress", strings.TrimSpace(fmt.Sprintf("%g%% %s", j.Progress*100, j.ProgressMessage)))
	}
	if j.Error != nil {
		row("error", errorText(j.Error))
	}
	row("parent", j.ParentJobID)
	row("child", j.ChildJobID)
	row("children", strings.Join(j.ChildJobIDs, ", "))
	now := time.Now()
	if len(j.CurrentTasks) == 0 {
		row("tasks", strings.Join(j.TaskIDs, ", ")) // a server that sends ids only
	}
	for _, t := range j.CurrentTasks {
		row("task", taskLine(t, now))
	}
	if a := j.Approval; a != nil {
		row("approval", strconv.Quote(a.Message))
		row("choices", strings.Join(a.Choices, ", "))
		if d := a.DeadlineTime(); !d.IsZero() {
			row("deadline", timeAndWhen(d, now))
		}
	}
	if t := j.Created(); !t.IsZero() {
		row("created", t.UTC().Format(time.RFC3339))
	}
	if t := j.Finished(); !t.IsZero() {
		row("finished", t.UTC().Format(time.RFC3339))
	}
	if j.Result != nil {
		b, err := json.Marshal(j.Result)
		if err != nil {
			return r.fail(fmt.Errorf("encode the result: %w", err))
		}
		row("result", string(b))
	}
	_ = tw.Flush()
	return exitOK
}

// taskLine is one task a job waits on: its id, type, state and attempt,
// and while a worker holds it the worker and the lease's deadline.
func taskLine(t wire.CurrentTask, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  type=%s  state=%s  attempt=%d", t.TaskID, t.Type, t.State, t.Attempt)
	if t.Item != nil {
		fmt.Fprintf(&b, "  item=%d", *t.Item)
	}
	if t.WorkerID != "" {
		fmt.Fprintf(&b, "  worker=%s", t.WorkerID)
	}
	if d := t.Deadline(); !d.IsZero() {
		fmt.Fprintf(&b, "  lease_deadline=%s", timeAndWhen(d, now))
	}
	return b.String()
}

// timeAndWhen writes a time in UTC and how far it is from now, in whole
// seconds: "2026-01-02T15:04:05Z (in 42s)" or "(3s ago)".
func timeAndWhen(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	when := fmt.Sprintf("in %ds", int64(d/time.Second))
	if d < 0 {
		when = fmt.Sprintf("%ds ago", int64(-d/time.Second))
	}
	return t.UTC().Format(time.RFC3339) + " (" + when + ")"
}

func errorText(e *client.JobError) string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

func jobWatch(ctx context.Context, r *jobRun) int {
	return r.follow(ctx, r.args[0])
}

// follow shows a job until it ends: on a terminal one line redrawn in
// place every second, otherwise one line per change (with --json, one
// JSON object per change). Exit 0 when the job finished, 1 otherwise.
func (r *jobRun) follow(ctx context.Context, id string) int {
	began := time.Now()
	drawn := false
	onUpdate := func(j *client.Job, changed bool) {
		switch {
		case r.json:
			if changed {
				b, err := json.Marshal(j)
				if err == nil {
					fmt.Fprintf(r.stdout, "%s\n", b)
				}
			}
		case r.tty:
			fmt.Fprintf(r.stdout, "\r\033[K%s", watchLine(j, began, time.Now()))
			drawn = true
		case changed:
			fmt.Fprintln(r.stdout, watchLine(j, began, time.Now()))
		}
	}
	j, err := r.c.Watch(ctx, id, client.WatchOptions{Every: time.Second, OnUpdate: onUpdate})
	if drawn {
		fmt.Fprintln(r.stdout)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(r.stderr, "%s: stopped watching job %s; it goes on on the server\n", r.name, id)
			return exitFindings
		}
		return r.fail(err)
	}
	if j.Status.Succeeded() {
		return exitOK
	}
	if !r.json {
		msg := fmt.Sprintf("job %s ended %s in state %q", j.ID, j.Status, j.State)
		if j.Error != nil {
			msg += ": " + errorText(j.Error)
		}
		fmt.Fprintf(r.stderr, "%s: %s\n", r.name, msg)
	}
	return exitFindings
}

// watchLine is the one-line view of a job: id, blueprint, status, state,
// progress and how long it has run (or ran).
func watchLine(j *client.Job, began, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  status=%s", j.ID, j.Blueprint, j.Status)
	if j.State != "" {
		fmt.Fprintf(&b, "  state=%s", j.State)
	}
	if j.Progress != 0 || j.ProgressMessage != "" {
		fmt.Fprintf(&b, "  progress=%g%%", j.Progress*100)
		if j.ProgressMessage != "" {
			fmt.Fprintf(&b, " %q", j.ProgressMessage)
		}
	}
	from, to := began, now
	if c := j.Created(); !c.IsZero() {
		from = c
	}
	if f := j.Finished(); !f.IsZero() {
		to = f
	}
	fmt.Fprintf(&b, "  elapsed=%s", max(0, to.Sub(from)).Truncate(time.Second))
	return b.String()
}

func jobHistory(ctx context.Context, r *jobRun) int {
	if r.asTest {
		return jobHistoryAsTest(ctx, r)
	}
	evs, err := r.c.History(ctx, r.args[0])
	if err != nil {
		return r.fail(err)
	}
	if r.json {
		r.printJSON(evs)
		return exitOK
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tSTATE\tTASK\tWORKER\tATTEMPT\tDETAIL")
	for _, e := range evs {
		state := e.State
		if e.NextState != "" {
			state = e.PreviousState + " -> " + e.NextState
			if e.PreviousState == "" {
				state = "-> " + e.NextState
			}
		}
		attempt := ""
		if e.Attempt > 0 {
			attempt = fmt.Sprint(e.Attempt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time().UTC().Format("2006-01-02T15:04:05.000Z"), e.Type, dash(state), dash(e.TaskID), dash(e.WorkerID), dash(attempt), dash(detailText(e.Detail)))
	}
	_ = tw.Flush()
	return exitOK
}

// detailText writes an event's details as key=value pairs by key: the
// approval's message and decision, a retry's delay and error code, a
// child's id, a task's status and error. A value with spaces, quotes or
// an equals sign is quoted; lists and objects are JSON.
func detailText(d map[string]any) string {
	parts := make([]string, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, k+"="+detailValue(d[k]))
	}
	return strings.Join(parts, " ")
}

func detailValue(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		s = x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"'=") {
		return strconv.Quote(s)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func jobCancel(ctx context.Context, r *jobRun) int {
	id := r.args[0]
	if err := r.c.Cancel(ctx, id); err != nil {
		return r.fail(err)
	}
	if r.json {
		r.printJSON(map[string]string{"job_id": id, "status": "cancellation_request_accepted"})
		return exitOK
	}
	fmt.Fprintf(r.stdout, "cancellation of job %s accepted\n", id)
	return exitOK
}

func jobApprove(ctx context.Context, r *jobRun) int {
	id, decision := r.args[0], r.args[1]
	if decision != client.Approved && decision != client.Rejected {
		fmt.Fprintf(r.stderr, "%s: decision %q: want approved or rejected\n", r.name, decision)
		return exitUsage
	}
	if err := r.c.Approve(ctx, id, decision); err != nil {
		return r.fail(err)
	}
	if r.json {
		r.printJSON(map[string]string{"job_id": id, "decision": decision, "status": "approval_received"})
		return exitOK
	}
	fmt.Fprintf(r.stdout, "job %s %s\n", id, decision)
	return exitOK
}
