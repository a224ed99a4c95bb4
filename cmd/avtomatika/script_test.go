package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite cmp files in testdata/script/*.txtar")

// inProcess serializes the scripts' avtomatika commands. Each runs in
// this process, with the script's folder as the working directory and
// the script's values of the variables the commands read, which are the
// process's own while it runs. (TestScripts is not parallel with the
// package's other tests, so nothing else runs meanwhile but the scripts'
// own servers and workers, which use absolute paths and no environment.)
var inProcess sync.Mutex

// commandEnv is every environment variable the commands read.
var commandEnv = []string{"AVTOMATIKA_URL", "CLIENT_TOKEN"}

// scriptAvtomatika runs `avtomatika ARGS` as the binary would, without
// starting a process: the exit code is run's. A first argument <FILE
// gives the command FILE as its standard input.
func scriptAvtomatika(ts *testscript.TestScript, neg bool, args []string) {
	stdin := ""
	if len(args) > 0 && strings.HasPrefix(args[0], "<") {
		stdin = ts.ReadFile(args[0][1:])
		args = args[1:]
	}
	inProcess.Lock()
	defer inProcess.Unlock()
	wd, err := os.Getwd()
	ts.Check(err)
	ts.Check(os.Chdir(ts.MkAbs(".")))
	defer func() { ts.Check(os.Chdir(wd)) }()
	for _, k := range commandEnv {
		old, had := os.LookupEnv(k)
		if v := ts.Getenv(k); v != "" {
			ts.Check(os.Setenv(k, v))
		} else {
			ts.Check(os.Unsetenv(k))
		}
		defer func() {
			if had {
				_ = os.Setenv(k, old)
			} else {
				_ = os.Unsetenv(k)
			}
		}()
	}
	code := run(context.Background(), args, strings.NewReader(stdin), ts.Stdout(), ts.Stderr())
	switch {
	case code != 0 && !neg:
		ts.Fatalf("unexpected command failure: exit status %d", code)
	case code == 0 && neg:
		ts.Fatalf("unexpected command success")
	}
}

// TestScripts runs testdata/script/*.txtar. Each script starts in $WORK
// with a copy of the example blueprints in $WORK/blueprints and of the
// graph goldens in $WORK/golden. The command under test is written
// `avtomatika ARGS` (scriptAvtomatika); the package's other tests run the
// built binary as a process.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs(filepath.Join("..", "..", "blueprints"))
	if err != nil {
		t.Fatal(err)
	}
	graphs, err := filepath.Abs(filepath.Join("..", "..", "testdata", "graph"))
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Abs(filepath.Join("..", "..", "testdata", "script"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: scripts,
		Setup: func(env *testscript.Env) error {
			if err := os.CopyFS(filepath.Join(env.WorkDir, "blueprints"), os.DirFS(examples)); err != nil {
				return err
			}
			return os.CopyFS(filepath.Join(env.WorkDir, "golden"), os.DirFS(graphs))
		},
		Cmds:          scriptCmds(),
		UpdateScripts: *update,
	})
}
