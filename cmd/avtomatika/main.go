// Command avtomatika is the one binary of Avtomatika for Go: it serves
// blueprints, lints and draws them, talks to a server as a client and
// measures it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK       = 0 // clean
	exitFindings = 1 // findings, or a failed job
	exitUsage    = 2 // usage error or unreadable input
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "serve the blueprints folder: client API, worker protocol, hot reload", runServe},
		{"lint", "check blueprint files and folders", runLint},
		{"test", "run blueprint tests (*_test.yaml) with scripted workers on a virtual clock", runTest},
		{"graph", "print a blueprint's state machine as DOT or Mermaid", runGraph},
		{"job", "start, inspect, watch, cancel and approve jobs on a server", runJob},
		{"schedule", "list, pause and resume the schedules of a server", runSchedule},
		{"bench", "measure throughput and latency through the public API", runBench},
		{"version", "print the version and the revision it was built from", runVersion},
		{"completion", "print a shell completion script: bash, zsh or fish", runCompletion},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		return runVersion(ctx, args[1:], stdin, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "avtomatika: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: avtomatika COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'avtomatika COMMAND -h' for a command's flags.")
}
