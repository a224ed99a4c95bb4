package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

func runGraph(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("graph", flag.ContinueOnError)
	fl.SetOutput(stderr)
	format := fl.String("format", "dot", "output format: dot or mermaid")
	dir := fl.String("blueprints", "blueprints", "blueprints folder in which NAME is looked up")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: avtomatika graph [--format dot|mermaid] [--blueprints DIR] NAME|FILE")
		fl.PrintDefaults()
	}
	if err := fl.Parse(reorder(args, map[string]bool{"format": true, "blueprints": true})); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return exitUsage
	}
	if *format != "dot" && *format != "mermaid" {
		fmt.Fprintf(stderr, "avtomatika graph: unknown format %q; valid formats: dot, mermaid\n", *format)
		return exitUsage
	}
	arg := fl.Arg(0)
	folder, name := *dir, arg
	isFile := strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml")
	if isFile {
		if _, err := os.Stat(arg); err != nil {
			fmt.Fprintf(stderr, "avtomatika graph: cannot read %s: %v\n", arg, errors.Unwrap(err))
			return exitUsage
		}
		folder = filepath.Dir(arg)
	}
	if st, err := os.Stat(folder); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "avtomatika graph: cannot read blueprints folder %s\n", folder)
		return exitUsage
	}
	set, ds := lang.LoadFS(os.DirFS(folder))
	var m *lang.Machine
	if isFile {
		rel := filepath.ToSlash(filepath.Base(arg))
		for _, c := range set.Machines {
			if c.File == rel {
				m = c
			}
		}
		if m == nil {
			fmt.Fprintf(stderr, "avtomatika graph: %s does not lint clean; run avtomatika lint %s\n", arg, arg)
			printFindings(stderr, folder, ds, rel)
			return exitFindings
		}
	} else {
		m = set.Lookup(name)
		if m == nil {
			if file := fileNaming(folder, ds, name); file != "" {
				fmt.Fprintf(stderr, "avtomatika graph: blueprint %q does not lint clean; run avtomatika lint %s\n", name, path.Join(filepath.ToSlash(folder), file))
				printFindings(stderr, folder, ds, file)
				return exitFindings
			}
			var names []string
			for _, c := range set.Machines {
				names = append(names, c.Name)
			}
			fmt.Fprintf(stderr, "avtomatika graph: no blueprint %q in %s; blueprints: %s\n", name, folder, strings.Join(names, ", "))
			return exitUsage
		}
	}
	if *format == "mermaid" {
		io.WriteString(stdout, m.Mermaid())
	} else {
		io.WriteString(stdout, m.DOT())
	}
	return exitOK
}

// fileNaming returns the file with findings whose top-level name is name,
// or "".
func fileNaming(folder string, ds lang.Diagnostics, name string) string {
	re := regexp.MustCompile(`(?m)^name:[ \t]*["']?` + regexp.QuoteMeta(name) + `["']?[ \t]*(#.*)?\r?$`)
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Pos.File] {
			continue
		}
		seen[d.Pos.File] = true
		if b, err := os.ReadFile(filepath.Join(folder, filepath.FromSlash(d.Pos.File))); err == nil && re.Match(b) {
			return d.Pos.File
		}
	}
	return ""
}

// printFindings prints a file's findings as text, with paths relative to
// the current directory.
func printFindings(w io.Writer, folder string, ds lang.Diagnostics, file string) {
	base := filepath.ToSlash(filepath.Clean(folder))
	var mine lang.Diagnostics
	for _, d := range ds {
		if d.Pos.File == file {
			d.Pos.File = path.Join(base, d.Pos.File)
			mine = append(mine, d)
		}
	}
	lang.Print(w, "text", mine, func(f string) []byte {
		b, _ := os.ReadFile(filepath.FromSlash(f))
		return b
	})
}

// reorder moves flags after the positional argument to the front, so
// `graph NAME --format mermaid` works as users expect.
func reorder(args []string, valued map[string]bool) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && valued[name] && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	return append(flags, rest...)
}
