package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// checkCommandLine runs an avtomatika command line of a CI file with -h
// and each flag it uses, so a renamed subcommand or flag fails here.
func checkCommandLine(t *testing.T, where, line string) {
	t.Helper()
	line = regexp.MustCompile(`\$\{\{[^}]*\}\}`).ReplaceAllString(line, "x")
	fields := strings.Fields(strings.ReplaceAll(line, `"`, ""))
	if len(fields) < 2 || fields[0] != "avtomatika" {
		t.Fatalf("%s: %q does not run avtomatika", where, line)
	}
	found := false
	for _, c := range commands() {
		found = found || c.name == fields[1]
	}
	if !found {
		t.Fatalf("%s: no subcommand %q", where, fields[1])
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{fields[1], "-h"}, nil, &bytes.Buffer{}, &stderr); code != exitOK {
		t.Fatalf("%s: avtomatika %s -h exits %d", where, fields[1], code)
	}
	for _, f := range fields[2:] {
		if strings.HasPrefix(f, "-") {
			name := strings.TrimLeft(f, "-")
			if !strings.Contains(stderr.String(), "  -"+name) {
				t.Errorf("%s: avtomatika %s has no flag %s", where, fields[1], f)
			}
		}
	}
}

// The pre-commit hooks run subcommands and flags that exist.
func TestPreCommitHooks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".pre-commit-hooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID    string `yaml:"id"`
		Entry string `yaml:"entry"`
	}
	if err := yaml.Unmarshal(b, &hooks); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, h := range hooks {
		ids[h.ID] = true
		checkCommandLine(t, "hook "+h.ID, h.Entry)
	}
	if !ids["avtomatika-lint"] || !ids["avtomatika-test"] {
		t.Errorf("hooks = %v, want avtomatika-lint and avtomatika-test", ids)
	}
}

// The composite action installs the command with go install and runs
// lint and test with annotations.
func TestAction(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Runs struct {
			Using string `yaml:"using"`
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("using = %q", a.Runs.Using)
	}
	var ran []string
	for _, s := range a.Runs.Steps {
		switch {
		case strings.HasPrefix(s.Run, "go install github.com/avtomatika-ai/avtomatika-go/cmd/avtomatika@"):
			ran = append(ran, "install")
		case strings.HasPrefix(s.Run, "avtomatika "):
			checkCommandLine(t, "action", s.Run)
			if !strings.Contains(s.Run, "--format github") {
				t.Errorf("%q: want --format github", s.Run)
			}
			ran = append(ran, strings.Fields(s.Run)[1])
		default:
			t.Errorf("unexpected step %q", s.Run)
		}
	}
	if strings.Join(ran, ",") != "install,lint,test" {
		t.Errorf("steps = %v, want install, lint, test", ran)
	}
}
