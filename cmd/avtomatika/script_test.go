package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite cmp files in testdata/script/*.txtar")

// TestMain lets the test binary act as the avtomatika command inside
// scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"avtomatika": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs testdata/script/*.txtar. Each script starts in $WORK
// with a copy of the example blueprints in $WORK/blueprints and of the
// graph goldens in $WORK/golden.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs(filepath.Join("..", "..", "blueprints"))
	if err != nil {
		t.Fatal(err)
	}
	graphs, err := filepath.Abs(filepath.Join("..", "..", "testdata", "graph"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("..", "..", "testdata", "script"),
		Setup: func(env *testscript.Env) error {
			// The console's layout engine (Graphviz compiled to
			// WebAssembly) is compiled at each process start unless
			// $TMPDIR/go-graphviz holds it: this test binary has filled
			// that cache in its own temporary folder, so the scripts'
			// commands share it instead of compiling it once per script.
			env.Setenv("TMPDIR", os.TempDir())
			if err := os.CopyFS(filepath.Join(env.WorkDir, "blueprints"), os.DirFS(examples)); err != nil {
				return err
			}
			return os.CopyFS(filepath.Join(env.WorkDir, "golden"), os.DirFS(graphs))
		},
		Cmds:                jobScriptCmds(),
		RequireExplicitExec: true,
		UpdateScripts:       *update,
	})
}
