// Command testline runs `go test -json ARGS` and prints a line for each
// package as it ends, in the order they end, instead of go test's order
// of the command line: ok with its time, or the package's whole output
// and FAIL. While nothing ends it says every 30 s how far the run is, so
// a run that compiles for minutes is never silent. It exits with go
// test's exit code.
//
//	go run ./internal/testline [-every 30s] -- go test -json ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"
)

// event is one line of go test -json (cmd/test2json), and of the build
// events go test adds beside them.
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string // build-output, build-fail
}

func main() {
	every := flag.Duration("every", 30*time.Second, "how often to report progress while no package ends")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testline [-every D] -- go test -json [ARGS]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testline:", err)
		os.Exit(2)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testline:", err)
		os.Exit(2)
	}
	r := newReport(os.Stdout, start)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.progress(*every)
			}
		}
	})
	readErr := r.read(out)
	err = cmd.Wait()
	close(stop)
	wg.Wait()
	r.summary()
	if readErr != nil {
		fmt.Fprintln(os.Stderr, "testline: reading go test's output:", readErr)
		os.Exit(2)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, "testline:", err)
		os.Exit(2)
	case r.failed > 0:
		os.Exit(1)
	}
}

// report keeps each package's output until it ends.
type report struct {
	w     io.Writer
	start time.Time

	mu       sync.Mutex
	pkgs     map[string]*pkgOutput // by package (or import path, for builds)
	ended    int
	failed   int
	lastLine time.Time
}

// pkgOutput is what a package printed so far: its own lines, each running
// test's, and those of the tests that failed.
type pkgOutput struct {
	started bool
	own     strings.Builder
	tests   map[string]*strings.Builder
	failed  strings.Builder
}

func newReport(w io.Writer, start time.Time) *report {
	return &report{w: w, start: start, pkgs: map[string]*pkgOutput{}, lastLine: start}
}

// read takes go test's JSON lines until they end. A line that is not
// JSON (go test's own messages) is printed as it is.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			r.println(string(line))
			continue
		}
		r.event(e)
	}
	return sc.Err()
}

// routine are the lines of a verbose run that say nothing about a failure.
func routine(line string) bool {
	t := strings.TrimSpace(line)
	if t == "FAIL" || strings.HasPrefix(t, "FAIL\t") {
		return true // the package's verdict: testline prints its own
	}
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- SKIP", "PASS", "ok  "} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

func (r *report) event(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := e.Package
	if name == "" {
		name = e.ImportPath
	}
	p := r.pkgs[name]
	if p == nil {
		p = &pkgOutput{tests: map[string]*strings.Builder{}}
		r.pkgs[name] = p
	}
	if e.Test != "" {
		t := p.tests[e.Test]
		if t == nil {
			t = &strings.Builder{}
			p.tests[e.Test] = t
		}
		switch e.Action {
		case "output":
			if !routine(e.Output) {
				t.WriteString(e.Output)
			}
		case "fail":
			p.failed.WriteString(t.String())
			fallthrough
		case "pass", "skip":
			delete(p.tests, e.Test)
		}
		return
	}
	switch e.Action {
	case "start":
		p.started = true
	case "output", "build-output":
		if !routine(e.Output) {
			p.own.WriteString(e.Output)
		}
	case "build-fail": // the package's fail event follows
		if t := strings.TrimRight(p.own.String(), "\n"); t != "" {
			r.linef("%s", t)
		}
		delete(r.pkgs, name)
	case "pass", "skip", "fail":
		r.ended++
		switch e.Action {
		case "pass":
			r.linef("ok  \t%s\t%.2fs", name, e.Elapsed)
		case "skip":
			r.linef("?   \t%s\t[no test files]", name)
		default:
			r.failed++
			// The failed tests' lines, then those of tests that never
			// ended (a timeout, a panic), then the package's own.
			var b strings.Builder
			b.WriteString(p.failed.String())
			open := make([]string, 0, len(p.tests))
			for t := range p.tests {
				open = append(open, t)
			}
			sort.Strings(open)
			for _, t := range open {
				b.WriteString(p.tests[t].String())
			}
			b.WriteString(p.own.String())
			if t := strings.TrimRight(b.String(), "\n"); t != "" {
				r.linef("%s", t)
			}
			r.linef("FAIL\t%s\t%.2fs", name, e.Elapsed)
		}
		delete(r.pkgs, name)
	}
}

// progress says how far the run is when no line came for d.
func (r *report) progress(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastLine) < d*9/10 { // a tick comes a hair under d after the last line it printed
		return
	}
	var running []string
	for name, p := range r.pkgs {
		if p.started {
			running = append(running, name[strings.LastIndex(name, "/")+1:])
		}
	}
	sort.Strings(running)
	what := "compiling"
	if len(running) > 4 {
		running = append(running[:4], fmt.Sprintf("%d more", len(running)-4))
	}
	if len(running) > 0 {
		what = "testing " + strings.Join(running, ", ")
	}
	r.linef("… %s: %d packages done; %s", time.Since(r.start).Round(time.Second), r.ended, what)
}

func (r *report) summary() {
	r.mu.Lock()
	defer r.mu.Unlock()
	word := "all passed"
	if r.failed > 0 {
		word = fmt.Sprintf("%d FAILED", r.failed)
	}
	r.linef("%d packages in %s: %s", r.ended, time.Since(r.start).Round(time.Second), word)
}

func (r *report) println(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.linef("%s", s)
}

// linef prints one line; r.mu is held.
func (r *report) linef(format string, args ...any) {
	fmt.Fprintf(r.w, format+"\n", args...)
	r.lastLine = time.Now()
}
