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
	"slices"
	"strings"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

func runLint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("lint", flag.ContinueOnError)
	fl.SetOutput(stderr)
	format := fl.String("format", "text", "output format: "+strings.Join(lang.Formats(), ", "))
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: avtomatika lint [--format text|json|github|sarif] [PATH...]")
		fmt.Fprintln(stderr, "\nLints blueprint files and folders (default: blueprints), and Starlark scripts")
		fmt.Fprintln(stderr, "(.star). A file is linted in the context of its folder. Exit status: 0 clean,")
		fmt.Fprintln(stderr, "1 findings, 2 usage or unreadable input.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(reorder(args, map[string]bool{"format": true})); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if !slices.Contains(lang.Formats(), *format) {
		fmt.Fprintf(stderr, "avtomatika lint: unknown format %q; valid formats: %s\n", *format, strings.Join(lang.Formats(), ", "))
		return exitUsage
	}
	paths := fl.Args()
	if len(paths) == 0 {
		paths = []string{"blueprints"}
	}
	ds, sources, err := lintPaths(paths)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika lint: %v\n", err)
		return exitUsage
	}
	if err := lang.Print(stdout, *format, ds, func(f string) []byte { return sources[f] }); err != nil {
		fmt.Fprintf(stderr, "avtomatika lint: %v\n", err)
		return exitUsage
	}
	for _, d := range ds {
		if d.Rule == lang.RuleUnreadable.Name {
			return exitUsage
		}
	}
	if ds.HasErrors() {
		if *format == "text" {
			fmt.Fprintf(stderr, "%d finding(s)\n", len(ds))
		}
		return exitFindings
	}
	return exitOK
}

// lintPaths lints files and folders and names files relative to the
// current directory with '/' separators.
func lintPaths(paths []string) (lang.Diagnostics, map[string][]byte, error) {
	var all lang.Diagnostics
	sources := map[string][]byte{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read %s: %v", p, errors.Unwrap(err))
		}
		dir, only := p, ""
		if !st.IsDir() {
			dir, only = filepath.Dir(p), filepath.Base(p)
			if ext := filepath.Ext(only); ext != ".yaml" && ext != ".yml" && ext != ".star" {
				return nil, nil, fmt.Errorf("%s: not a blueprint or script file (want .yaml, .yml or .star)", p)
			}
			if _, err := os.ReadFile(p); err != nil {
				return nil, nil, fmt.Errorf("cannot read %s: %v", p, errors.Unwrap(err))
			}
		}
		if only == "" && !hasBlueprints(dir) {
			return nil, nil, fmt.Errorf("no blueprint files (*.yaml, *.yml) in %s", p)
		}
		fsys := os.DirFS(dir)
		var ds lang.Diagnostics
		if only != "" {
			ds = lang.LintFS(fsys, only)
		} else {
			ds = lang.LintFS(fsys)
		}
		base := filepath.ToSlash(relative(dir))
		ds = append(ds, lintTests(dir, only, sources)...) // blueprint tests: test.go
		for _, d := range ds {
			rel := d.Pos.File
			d.Pos.File = path.Join(base, rel)
			if _, ok := sources[d.Pos.File]; !ok {
				if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel))); err == nil {
					sources[d.Pos.File] = b
				}
			}
			all = append(all, d)
		}
	}
	return all.Sort(), sources, nil
}

// hasBlueprints reports whether a folder or its subfolders hold a YAML file.
func hasBlueprints(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
				found = true
				return fs.SkipAll
			}
		}
		return nil
	})
	return found
}

// relative names an absolute path inside the current directory relative
// to it; other paths stay as given, cleaned.
func relative(p string) string {
	p = filepath.Clean(p)
	if !filepath.IsAbs(p) {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return rel
		}
	}
	return p
}
