package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func completion(t *testing.T, shell string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"completion", shell}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errb.String())
	}
	return out.String()
}

// TestCompletionBash sources the script in bash and asks it what the
// shell would offer after each command line.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "avtomatika.bash")
	if err := os.WriteFile(script, []byte(completion(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		"avtomatika ":                  "serve lint test graph job schedule bench version completion --help --version",
		"avtomatika jo":                "job",
		"avtomatika job ":              "start get watch history ls cancel approve redrive",
		"avtomatika job st":            "start",
		"avtomatika job start --i":     "--input",
		"avtomatika job start x --w":   "--watch --webhook",
		"avtomatika job get --":        "--json --token --url",
		"avtomatika lint --":           "--format",
		"avtomatika serve --e":         "--env-file",
		"avtomatika graph --":          "--blueprints --format",
		"avtomatika completion ":       "bash fish zsh",
		"avtomatika completion z":      "zsh",
		"avtomatika lint blueprints/x": "", // left to file completion
	} {
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_avtomatika\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v: %s", line, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%q: bash offers %q, want %q", line, got, want)
		}
	}
}

// TestCompletionScripts: each shell's script names every command, the
// job subcommands and their flags, and is valid syntax where the shell
// is installed.
func TestCompletionScripts(t *testing.T) {
	for shell, wants := range map[string][]string{
		"bash": {"complete -o default -F _avtomatika avtomatika", `words="--input --json --token --url --watch --webhook"`},
		"zsh": {"#compdef avtomatika", "compdef _avtomatika avtomatika", "'job:start, inspect, watch, cancel and approve jobs on a server'",
			"start) [[ $PREFIX == -* ]] && compadd -- --input --json --token --url --watch --webhook ;;", "(( CURRENT == 3 )) && compadd -- bash fish zsh ;;"},
		"fish": {"complete -c avtomatika -n __fish_use_subcommand -a version -d 'print the version and the revision it was built from'",
			"complete -c avtomatika -n '__fish_seen_subcommand_from job; and __fish_seen_subcommand_from start' -l input",
			"complete -c avtomatika -n '__fish_seen_subcommand_from lint' -l format",
			"complete -c avtomatika -n '__fish_seen_subcommand_from completion' -a 'bash fish zsh'"},
	} {
		s := completion(t, shell)
		for _, w := range wants {
			if !strings.Contains(s, w) {
				t.Errorf("%s script lacks %q", shell, w)
			}
		}
		for _, c := range commands() {
			if !strings.Contains(s, c.name) {
				t.Errorf("%s script lacks the command %s", shell, c.name)
			}
		}
		if sh, err := exec.LookPath(shell); err == nil {
			f := filepath.Join(t.TempDir(), "script")
			os.WriteFile(f, []byte(s), 0o644)
			if out, err := exec.Command(sh, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v: %s", shell, err, out)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"completion", "tcsh"}, strings.NewReader(""), &out, &errb); code != exitUsage || !strings.Contains(errb.String(), `unknown shell "tcsh": want bash, zsh or fish`) {
		t.Errorf("tcsh: exit %d, %q", code, errb.String())
	}
}
