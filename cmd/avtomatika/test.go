package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/bptest"
)

func runTest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("test", flag.ContinueOnError)
	fl.SetOutput(stderr)
	format := fl.String("format", "text", "output format: "+strings.Join(bptest.Formats(), ", "))
	runRe := fl.String("run", "", "run only the cases whose name (or BLUEPRINT/NAME) matches this regular expression")
	verbose := fl.Bool("v", false, "print every case and the path its job took, not only failures")
	coverage := fl.Bool("coverage", false, "report the states and transitions the cases exercised, per blueprint")
	minCov := fl.Float64("min-coverage", 0, "fail when a blueprint's coverage is below this percentage (implies --coverage)")
	parallel := fl.Int("parallel", 0, "cases run at once (default: the number of CPUs)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: avtomatika test [--run REGEX] [-v] [--format text|json|junit|github] [--coverage] [--min-coverage N] [PATH...]")
		fmt.Fprintln(stderr, "\nRuns blueprint tests: every *_test.yaml under the folders given (default:")
		fmt.Fprintln(stderr, "blueprints), or the test files given. Exit status: 0 every case passed, 1 a case")
		fmt.Fprintln(stderr, "failed or coverage is too low, 2 usage or an unreadable or invalid test file.")
		fl.PrintDefaults()
	}
	valued := map[string]bool{"format": true, "run": true, "min-coverage": true, "parallel": true}
	if err := fl.Parse(reorder(args, valued)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if !slices.Contains(bptest.Formats(), *format) {
		fmt.Fprintf(stderr, "avtomatika test: unknown format %q; valid formats: %s\n", *format, strings.Join(bptest.Formats(), ", "))
		return exitUsage
	}
	var opts bptest.Options
	if *runRe != "" {
		re, err := regexp.Compile(*runRe)
		if err != nil {
			fmt.Fprintf(stderr, "avtomatika test: --run: %v\n", err)
			return exitUsage
		}
		opts.Run = re
	}
	if *minCov < 0 || *minCov > 100 {
		fmt.Fprintln(stderr, "avtomatika test: --min-coverage: want a percentage from 0 to 100")
		return exitUsage
	}
	opts.Parallel = *parallel
	// A test run is a batch of short-lived jobs whose live heap stays
	// small: collecting less often costs little memory and saves a
	// third of the CPU. GOGC, when set, is the user's choice.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(bptest.GCPercent))
	}
	opts.Trace = *verbose || *format == "json"
	opts.Coverage = *coverage || *minCov > 0
	paths := fl.Args()
	if len(paths) == 0 {
		paths = []string{"blueprints"}
	}
	files, err := testFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika test: %v\n", err)
		return exitUsage
	}
	var loaded []*bptest.File
	var ds lang.Diagnostics
	sources := map[string][]byte{}
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "avtomatika test: cannot read %s: %v\n", p, errors.Unwrap(err))
			return exitUsage
		}
		name := filepath.ToSlash(relative(p))
		sources[name] = src
		f, fds := bptest.Load(name, src)
		ds = append(ds, fds...)
		if f != nil && len(fds) == 0 {
			loaded = append(loaded, f)
		}
	}
	rn := bptest.NewRunner()
	rep, rds := rn.Run(ctx, loaded, opts)
	ds = append(ds, rds...)
	if len(ds) > 0 {
		lintFormat := *format
		if lintFormat == "junit" || lintFormat == "json" {
			lintFormat = "text"
		}
		_ = lang.Print(stderr, lintFormat, ds.Sort(), func(f string) []byte { return sources[f] })
		if ds.HasErrors() {
			return exitUsage
		}
	}
	po := bptest.PrintOptions{Verbose: *verbose, Coverage: *coverage || *minCov > 0, MinCoverage: *minCov}
	if err := bptest.Print(stdout, *format, rep, po); err != nil {
		fmt.Fprintf(stderr, "avtomatika test: %v\n", err)
		return exitUsage
	}
	if rep.Failed() > 0 {
		return exitFindings
	}
	if *minCov > 0 {
		for _, b := range rep.Coverage() {
			if b.Percent() < *minCov {
				if *format == "text" {
					fmt.Fprintf(stderr, "coverage of %s is %.1f%%, below %.1f%%\n", b.Blueprint, b.Percent(), *minCov)
				}
				return exitFindings
			}
		}
	}
	return exitOK
}

// testFiles lists the test files of the paths: a folder gives every
// *_test.yaml (and *_test.yml) under it, hidden folders skipped; a file
// must be a test file.
func testFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %v", p, errors.Unwrap(err))
		}
		if !st.IsDir() {
			if !bptest.IsTestFile(p) {
				return nil, fmt.Errorf("%s: not a blueprint test (want NAME_test.yaml)", p)
			}
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && q != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && bptest.IsTestFile(q) {
				found = append(found, q)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no blueprint tests (*_test.yaml) in %s", p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// lintTests checks the blueprint tests of a folder (or the one test file
// only names) for lint: the file's own findings and those against its
// blueprint. Positions are relative to dir, as lang.LintFS gives them;
// the sources of the test files are added to sources.
func lintTests(dir, only string, sources map[string][]byte) lang.Diagnostics {
	if only != "" && !bptest.IsTestFile(only) {
		return nil
	}
	var files []string
	if only != "" {
		files = []string{filepath.Join(dir, only)}
	} else if found, err := testFiles([]string{dir}); err == nil {
		files = found
	}
	var ds lang.Diagnostics
	rn := bptest.NewRunner()
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			continue
		}
		name := filepath.ToSlash(rel)
		full := path.Join(filepath.ToSlash(relative(dir)), name)
		sources[full] = src
		f, fds := bptest.Load(p, src)
		if f != nil {
			fds = append(fds, rn.Lint(f)...)
		}
		for _, d := range fds {
			if filepath.ToSlash(filepath.Clean(d.Pos.File)) == filepath.ToSlash(filepath.Clean(p)) {
				d.Pos.File = name
				ds = append(ds, d)
			}
		}
	}
	return ds
}
