package lang

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// lintCase is one wrong folder and the finding it must give.
type lintCase struct {
	rule  string
	files map[string]string // path -> source; one blueprint is bp.yaml
	at    string            // file:line:TEXT: the finding is where TEXT starts on that line, or at | within TEXT
	msg   string            // a fragment of its message
}

// ok is a tail of states that makes a blueprint otherwise clean.
const okEnd = "  done: {end: success}\n"

var lintCases = []lintCase{
	{rule: "lint-config", at: "bp.yaml:4:unreachable-stat", msg: `unknown rule "unreachable-stat"; did you mean "unreachable-state"?`,
		files: map[string]string{"bp.yaml": "name: a\nstart: done\nstates:\n  x: {end: failure} # avtomatika:ignore unreachable-stat\n" + okEnd}},
	{rule: "yaml-syntax", at: "bp.yaml:4:{end", msg: "did not find expected ',' or '}'",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {end: success\n"}},
	{rule: "unknown-key", at: "bp.yaml:6:trasitions", msg: `unknown key "trasitions" in state "s"; did you mean "transitions"?`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s:\n    task: {type: t}\n    trasitions: {success: done}\n" + okEnd}},
	{rule: "unknown-key", at: "bp.yaml:1:xyzzy", msg: `unknown key "xyzzy" in the blueprint; valid keys: defaults, description, endpoint`,
		files: map[string]string{"bp.yaml": "xyzzy: 1\nname: a\nstart: done\nstates:\n" + okEnd}},
	{rule: "wrong-type", at: "bp.yaml:1:name: |5", msg: "name must be a string, not a number",
		files: map[string]string{"bp.yaml": "name: 5\nstart: done\nstates:\n" + okEnd}},
	{rule: "wrong-type", at: "bp.yaml:4:done", msg: "choose must be a list of {when, go_to} entries, not a string",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {choose: done}\n" + okEnd}},
	{rule: "missing-key", at: "bp.yaml:1:name", msg: `missing required key "start"`,
		files: map[string]string{"bp.yaml": "name: a\nstates:\n" + okEnd}},
	{rule: "missing-key", at: "bp.yaml:4:{params", msg: "task needs a type",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {params: {}}, transitions: {success: done}}\n" + okEnd}},
	{rule: "duplicate-key", at: "bp.yaml:3:name", msg: `key "name" appears twice in the blueprint`,
		files: map[string]string{"bp.yaml": "name: a\nstart: done\nname: b\nstates:\n" + okEnd}},
	{rule: "unknown-state", at: "bp.yaml:2:dne", msg: `start names unknown state "dne"; did you mean "done"?`,
		files: map[string]string{"bp.yaml": "name: a\nstart: dne\nstates:\n" + okEnd}},
	{rule: "unknown-state", at: "bp.yaml:4:finsh", msg: `state "s" go_to names unknown state "finsh"; did you mean "finish"?`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {go_to: finsh}\n  finish: {end: success}\n"}},
	{rule: "unknown-state", at: "bp.yaml:4:bad", msg: `state "s" transition "failure" names unknown state "bad"`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t}, transitions: {success: done, failure: bad}}\n" + okEnd}},
	{rule: "unknown-state", at: "bp.yaml:4:nope", msg: `state "s" choose names unknown state "nope"`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {choose: [{when: input.x, go_to: nope}, {go_to: done}]}\n" + okEnd}},
	{rule: "unreachable-state", at: "bp.yaml:5:orphan", msg: `state "orphan" is not reachable from start "done"`,
		files: map[string]string{"bp.yaml": "name: a\nstart: done\nstates:\n" + okEnd + "  orphan: {go_to: done}\n"}},
	{rule: "end-with-transitions", at: "bp.yaml:4:transitions", msg: `end state "s" has transitions`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {end: success, transitions: {success: s}}\n"}},
	{rule: "no-path-to-end", at: "bp.yaml:5:spin", msg: `state "spin" can never reach an end state`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {choose: [{when: input.x, go_to: done}, {go_to: spin}]}\n  spin: {go_to: spin}\n" + okEnd}},
	{rule: "no-end-state", at: "bp.yaml:4:s:", msg: "the blueprint has no end state",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {go_to: s}\n"}},
	{rule: "action-count", at: "bp.yaml:4:{set", msg: `state "s" has no action; want one of approval, blueprint, choose, end, go_to, parallel, task, until, wait`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {set: {x: 1}}\n" + okEnd}},
	{rule: "action-count", at: "bp.yaml:4:go_to", msg: `state "s" has 2 actions (end, go_to); a state has exactly one`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {end: success, go_to: s}\n"}},
	{rule: "unreachable-choice", at: "bp.yaml:4:{when: input.y", msg: "this entry of choose comes after the default entry (entry 2) and is never taken",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {choose: [{when: input.x, go_to: done}, {go_to: done}, {when: input.y, go_to: done}]}\n" + okEnd}},
	{rule: "missing-transitions", at: "bp.yaml:4:s:", msg: `state "s" (task) needs transitions`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t}}\n" + okEnd}},
	{rule: "unused-transitions", at: "bp.yaml:4:transitions", msg: `state "s" (go_to) does not use transitions; it leaves by go_to`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {go_to: done, transitions: {success: done}}\n" + okEnd}},
	{rule: "unknown-status", at: "bp.yaml:4:aproved", msg: `approval never leaves with status "aproved"; did you mean "approved"?; valid: approved, rejected, timeout`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {approval: {message: \"ok?\"}, transitions: {aproved: done}}\n" + okEnd}},
	{rule: "starlark-syntax", at: "bp.yaml:4:, go_to", msg: "syntax error",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {choose: [{when: input.x ==, go_to: done}, {go_to: done}]}\n" + okEnd}},
	{rule: "undefined-name", at: "bp.yaml:4:inptu", msg: `undefined name "inptu"; did you mean "input"?`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {choose: [{when: inptu.x, go_to: done}, {go_to: done}]}\n" + okEnd}},
	{rule: "unknown-function", at: "bp.yaml:5:too_lrge", msg: `call of undefined function "too_lrge"; did you mean "too_large"?`,
		files: map[string]string{
			"bp.yaml": "name: a\nscript: bp.star\nstart: s\nstates:\n  s: {choose: [{when: too_lrge(input), go_to: done}, {go_to: done}]}\n" + okEnd,
			"bp.star": "def too_large(order):\n    return order.total > 100\n",
		}},
	{rule: "unclosed-template", at: "bp.yaml:4:${{", msg: "",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {set: {x: \"${{ input.x\"}, go_to: done}\n" + okEnd}},
	{rule: "unknown-blueprint", at: "bp.yaml:4:sendd", msg: `blueprint "sendd" does not exist in this folder; did you mean "send"?`,
		files: map[string]string{
			"bp.yaml":   "name: a\nstart: s\nstates:\n  s: {blueprint: sendd, transitions: {success: done, failure: done}}\n" + okEnd,
			"send.yaml": "name: send\nstart: done\nstates:\n" + okEnd,
		}},
	{rule: "duplicate-name", at: "bp.yaml:1:name: |a", msg: `blueprint name "a" is already used by a.yaml:1:7`,
		files: map[string]string{
			"a.yaml":  "name: a\nstart: done\nstates:\n" + okEnd,
			"bp.yaml": "name: a\nstart: done\nstates:\n" + okEnd,
		}},
	{rule: "duplicate-endpoint", at: "bp.yaml:2:/jobs", msg: `endpoint "/jobs/x" is already used by blueprint "a" at a.yaml:2:11`,
		files: map[string]string{
			"a.yaml":  "name: a\nendpoint: /jobs/x\nstart: done\nstates:\n" + okEnd,
			"bp.yaml": "name: b\nendpoint: /jobs/x\nstart: done\nstates:\n" + okEnd,
		}},
	{rule: "bad-schedule", at: "bp.yaml:3:\"0 3", msg: `bad schedule: "0 3 * *": expected 5 to 6 fields, found 4`,
		files: map[string]string{"bp.yaml": "name: a\nstart: done\nschedule: {cron: \"0 3 * *\"}\nstates:\n" + okEnd}},
	{rule: "bad-schedule", at: "bp.yaml:3:Mars", msg: `unknown time zone "Mars/Base"`,
		files: map[string]string{"bp.yaml": "name: a\nstart: done\nschedule: {every: 5m, timezone: Mars/Base}\nstates:\n" + okEnd}},
	{rule: "bad-duration", at: "bp.yaml:4:5 minutes", msg: `timeout: bad duration "5 minutes": want a duration such as 30s, 5m, 24h or 2d`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t, timeout: 5 minutes}, transitions: {success: done}}\n" + okEnd}},
	{rule: "bad-duration", at: "bp.yaml:4:true", msg: "wait must be a duration such as 30s, 5m, 24h or 2d, not a boolean",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {wait: true, go_to: done}\n" + okEnd}},
	{rule: "unknown-strategy", at: "bp.yaml:2:cheapst", msg: `unknown strategy "cheapst"; did you mean "cheapest"?; valid strategies: best_value, cheapest, default, least_connections, round_robin`,
		files: map[string]string{"bp.yaml": "name: a\ndefaults: {strategy: cheapst}\nstart: done\nstates:\n" + okEnd}},
	{rule: "wrong-type", at: "bp.yaml:4:-1", msg: "retries must be an integer from 0 to 1000, not -1",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t, retries: -1}, transitions: {success: done}}\n" + okEnd}},
	{rule: "wrong-type", at: "bp.yaml:4:1.5", msg: "retries must be a non-negative integer, not a number",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t, retries: 1.5}, transitions: {success: done}}\n" + okEnd}},
	{rule: "bad-duration", at: "bp.yaml:2:{base", msg: "defaults.retry_backoff: base 2m0s is longer than max 1m0s",
		files: map[string]string{"bp.yaml": "name: a\ndefaults: {retry_backoff: {base: 2m, max: 1m}}\nstart: done\nstates:\n" + okEnd}},
	{rule: "bad-duration", at: "bp.yaml:4:0s", msg: "retry_backoff.base must be longer than zero",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t, retry_backoff: {base: 0s}}, transitions: {success: done}}\n" + okEnd}},
	{rule: "unknown-key", at: "bp.yaml:4:cap", msg: `unknown key "cap"`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t, retry_backoff: {cap: 5s}}, transitions: {success: done}}\n" + okEnd}},
	{rule: "wrong-type", at: "bp.yaml:4:high", msg: "priority must be a number, not a string",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t, priority: high}, transitions: {success: done}}\n" + okEnd}},
	{rule: "invalid-name", at: "bp.yaml:1:Order", msg: `blueprint name "Order-Processing" must match [a-z0-9_]+`,
		files: map[string]string{"bp.yaml": "name: Order-Processing\nstart: done\nstates:\n" + okEnd}},
	{rule: "invalid-endpoint", at: "bp.yaml:2:jobs", msg: `endpoint "jobs/x" must be a path starting with /`,
		files: map[string]string{"bp.yaml": "name: a\nendpoint: jobs/x\nstart: done\nstates:\n" + okEnd}},
	{rule: "invalid-schema", at: "bp.yaml:2:{type", msg: "input is not a valid JSON Schema: at '/type'",
		files: map[string]string{"bp.yaml": "name: a\ninput: {type: objekt}\nstart: done\nstates:\n" + okEnd}},
	{rule: "invalid-schema", at: "bp.yaml:4:{required", msg: "output_schema is not a valid JSON Schema",
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {task: {type: t, output_schema: {required: 5}}, transitions: {success: done}}\n" + okEnd}},
	{rule: "missing-script", at: "bp.yaml:2:nope", msg: `script "nope.star" not found beside the blueprint`,
		files: map[string]string{"bp.yaml": "name: a\nscript: nope.star\nstart: done\nstates:\n" + okEnd}},
	{rule: "invalid-script", at: "bp.yaml:2:../", msg: `script "../x.star" must be a .star file inside the blueprints folder`,
		files: map[string]string{"bp.yaml": "name: a\nscript: ../x.star\nstart: done\nstates:\n" + okEnd}},
	{rule: "load-outside-folder", at: "bp.star:1:\"../", msg: "",
		files: map[string]string{
			"bp.yaml": "name: a\nscript: bp.star\nstart: done\nstates:\n" + okEnd,
			"bp.star": "load(\"../x.star\", \"f\")\n",
		}},
	{rule: "script-error", at: "bp.star:1://", msg: "division by zero",
		files: map[string]string{
			"bp.yaml": "name: a\nscript: bp.star\nstart: done\nstates:\n" + okEnd,
			"bp.star": "x = 1 // 0\n",
		}},
	{rule: "multiple-documents", at: "bp.yaml:7:name", msg: "a blueprint file holds one YAML document",
		files: map[string]string{"bp.yaml": "---\nname: a\nstart: done\nstates:\n" + okEnd + "---\nname: b\n"}},
	{rule: "yaml-syntax", at: "bp.yaml:7:x", msg: "did not find expected node content at the end of the file",
		files: map[string]string{"bp.yaml": "name: a\nstart: done\nstates:\n" + okEnd + "---\nname: b\nx: [\n"}},
	{rule: "wrong-type", at: "bp.yaml:4:succes", msg: `end must be success or failure, not "succes"; did you mean "success"?`,
		files: map[string]string{"bp.yaml": "name: a\nstart: s\nstates:\n  s: {end: succes}\n"}},
	{rule: "unknown-store", at: "bp.yaml:5:sen", msg: `store "sen" is not declared under stores; did you mean "seen"?`,
		files: map[string]string{"bp.yaml": "name: a\nstores: {seen: {}}\nstart: s\nstates:\n  s: {store: {sen: {k: 1}}, go_to: done}\n" + okEnd}},
}

// spot turns file:line:TEXT into file:line:col.
func spot(t *testing.T, files map[string]string, at string) string {
	t.Helper()
	parts := strings.SplitN(at, ":", 3)
	line, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatalf("bad spot %q", at)
	}
	lines := strings.Split(files[parts[0]], "\n")
	if line < 1 || line > len(lines) {
		t.Fatalf("spot %q: no such line", at)
	}
	text, skip := parts[2], 0
	if i := strings.IndexByte(text, '|'); i >= 0 {
		text, skip = text[:i]+text[i+1:], i
	}
	i := strings.Index(lines[line-1], text)
	if i < 0 {
		t.Fatalf("spot %q: text not on line %q", at, lines[line-1])
	}
	return fmt.Sprintf("%s:%d:%d", parts[0], line, utf8.RuneCountInString(lines[line-1][:i+skip])+1)
}

func lintFiles(files map[string]string) Diagnostics {
	fsys := fstest.MapFS{}
	for p, src := range files {
		fsys[p] = &fstest.MapFile{Data: []byte(src)}
	}
	return LintFS(fsys)
}

// TestLintRules gives each rule a wrong blueprint and checks the finding:
// its rule, where it points and what it says.
func TestLintRules(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, c := range lintCases {
		covered[c.rule] = true
		t.Run(c.rule, func(t *testing.T) {
			t.Parallel()
			ds := lintFiles(c.files)
			at := spot(t, c.files, c.at)
			for _, d := range ds {
				if r, _ := utf8.DecodeRuneInString(d.Message); unicode.IsUpper(r) || strings.HasSuffix(d.Message, ".") {
					t.Errorf("%v: a message starts in lower case and has no final period", d)
				}
			}
			for _, d := range ds {
				if d.Rule == c.rule && d.Pos.String() == at && strings.Contains(d.Message, c.msg) {
					if d.Severity != SeverityError {
						t.Errorf("%v: want an error", d)
					}
					return
				}
			}
			t.Errorf("want %s %s %q; got:\n%v", at, c.rule, c.msg, ds)
		})
	}
	// Every rule the guide lists has a case here, or a test of its own.
	own := map[string]bool{"schema": true, "internal-error": true, "unreadable": true}
	for _, r := range documentedRules(t) {
		if !covered[r] && !own[r] {
			t.Errorf("rule %q has no test case", r)
		}
	}
}

// documentedRules reads the rule names from the guide's table.
func documentedRules(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "blueprints.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	_, table, _ := strings.Cut(string(b), "## Validation")
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| `") {
			rules = append(rules, strings.Trim(strings.SplitN(line, "|", 3)[1], " `"))
		}
	}
	if len(rules) < 30 {
		t.Fatalf("found %d rules in docs/blueprints.md", len(rules))
	}
	return rules
}

// TestLintExplicitDocument: a file may start with ---, and may end with ...
func TestLintExplicitDocument(t *testing.T) {
	t.Parallel()
	if ds := lintFiles(map[string]string{"bp.yaml": "---\nname: a\nstart: done\nstates:\n" + okEnd + "...\n"}); len(ds) != 0 {
		t.Errorf("findings: %v", ds)
	}
}

// TestLintAllAtOnce: one file with many mistakes reports each of them.
func TestLintAllAtOnce(t *testing.T) {
	t.Parallel()
	ds := lintFiles(map[string]string{"bp.yaml": `name: Bad-Name
endpoint: jobs
defaults: {strategy: fastest, retries: many}
start: s
states:
  s:
    task: {type: t, timeout: soon}
    transitions: {success: dne}
  u: {go_to: s, end: success}
  e: {end: success, transitions: {x: e}}
`})
	want := []string{
		"bp.yaml:1:7 invalid-name",
		"bp.yaml:2:11 invalid-endpoint",
		"bp.yaml:3:22 unknown-strategy",
		"bp.yaml:3:40 wrong-type",
		"bp.yaml:7:30 bad-duration",
		"bp.yaml:8:28 unknown-state",
		"bp.yaml:9:3 unreachable-state",
		"bp.yaml:9:17 action-count",
		"bp.yaml:10:3 unreachable-state",
		"bp.yaml:10:21 end-with-transitions",
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Pos.String()+" "+d.Rule)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s\nfull:\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), ds)
	}
}

// TestLintInternalError: a pass that panics gives an internal-error
// finding at the node it was reading, and the other files still load.
func TestLintInternalError(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"bp.yaml": {Data: []byte("name: a\nstart: s\nstates:\n  s:\n    task: {type: t}\n    transitions: {success: done}\n" + okEnd)},
		"ok.yaml": {Data: []byte("name: ok\nstart: done\nstates:\n" + okEnd)},
	}
	o := Options{visit: func(k *yaml.Node) {
		if k.Value == "type" {
			panic("boom")
		}
	}}
	set, ds := o.LoadFS(fsys)
	if len(ds) != 1 || ds[0].Rule != "internal-error" || ds[0].Pos.String() != "bp.yaml:5:12" || !strings.Contains(ds[0].Message, "boom") {
		t.Errorf("findings: %v", ds)
	}
	if len(set.Machines) != 1 || set.Machines[0].Name != "ok" {
		t.Errorf("machines: %v; want only the file that did not fail", set.Machines)
	}
}

// TestLintUnreadable: a missing folder and a file that cannot be read.
func TestLintUnreadable(t *testing.T) {
	t.Parallel()
	if _, ds := LoadDir(filepath.Join(t.TempDir(), "missing")); len(ds) != 1 || ds[0].Rule != "unreadable" || !strings.Contains(ds[0].Message, "cannot read blueprints folder") {
		t.Errorf("missing folder: %v", ds)
	}
	set, ds := LoadFS(brokenFS{fstest.MapFS{"bp.yaml": {Data: []byte("name: a\nstart: done\nstates:\n" + okEnd)}}})
	if len(ds) != 1 || ds[0].Rule != "unreadable" || ds[0].Pos.File != "bp.yaml" || len(set.Machines) != 0 {
		t.Errorf("unreadable file: %v", ds)
	}
}

// brokenFS lists its files but fails to read them.
type brokenFS struct{ fstest.MapFS }

func (b brokenFS) Open(name string) (fs.File, error) {
	if strings.HasSuffix(name, ".yaml") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return b.MapFS.Open(name)
}

func (b brokenFS) ReadFile(name string) ([]byte, error) {
	return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrPermission}
}

// TestLintMisspeltKeyAlone: a misspelt required key gives one finding,
// not also one for the key it was meant to be.
func TestLintMisspeltKeyAlone(t *testing.T) {
	t.Parallel()
	ds := lintFiles(map[string]string{"bp.yaml": `nmae: k
start: s
states:
  s:
    task: {tpye: x}
    transitions: {success: b}
  b:
    blueprint: {nmae: k}
    transitions: {success: p, failure: done}
  p:
    parallel: {for_eahc: "${{ input.x }}", as: i, task: {type: t}}
    transitions: {success: c, failure: done}
  c:
    choose: [{when: input.x, goto: w}, {go_to: w}]
  w: {wiat: 5s, go_to: done}
  done: {end: success}
`})
	var got []string
	for _, d := range ds {
		got = append(got, d.Pos.String()+" "+d.Rule)
	}
	want := []string{
		"bp.yaml:1:1 unknown-key",
		"bp.yaml:5:12 unknown-key",
		"bp.yaml:8:17 unknown-key",
		"bp.yaml:11:16 unknown-key",
		"bp.yaml:14:30 unknown-key",
		"bp.yaml:15:7 unknown-key",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%v\nwant:\n%s", ds, strings.Join(want, "\n"))
	}
}

// TestLintScriptFailsAlone: a script that does not load is reported at its
// own file:line:col, and calls of its functions are not also reported as
// undefined; a misspelt scope name still is.
func TestLintScriptFailsAlone(t *testing.T) {
	t.Parallel()
	ds := lintFiles(map[string]string{
		"bp.star": "def big(x):\n    return x > 3\n\nN = 1 // 0\n",
		"bp.yaml": `name: a
script: bp.star
start: s
states:
  s:
    choose:
      - {when: big(input.n), go_to: done}
      - {when: inptu.m > N, go_to: done}
      - go_to: done
  done: {end: success}
`})
	var got []string
	for _, d := range ds {
		got = append(got, d.Pos.String()+" "+d.Rule)
	}
	want := []string{
		"bp.star:4:7 script-error",
		"bp.yaml:8:16 undefined-name",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%v\nwant:\n%s", ds, strings.Join(want, "\n"))
	}
}

// TestLintConfigLoads: findings the folder's configuration makes warnings
// or ignores do not keep its machine out of the set, and the machine
// rebuilds from its sources.
func TestLintConfigLoads(t *testing.T) {
	t.Parallel()
	set, ds := LoadDir(filepath.Join("..", "testdata", "lint", "lint_config"))
	if ds.HasErrors() || len(ds) != 1 || ds[0].Severity != SeverityWarning || ds[0].Rule != RuleNoPathToEnd.Name {
		t.Fatalf("findings: %v; want one no-path-to-end warning", ds)
	}
	m := set.Lookup("configured")
	if m == nil {
		t.Fatalf("machines: %v; want configured", set.Machines)
	}
	if _, err := Rebuild(m.File, m.Sources); err != nil {
		t.Errorf("rebuild: %v", err)
	}
	// Without the configuration the same blueprint is refused.
	src, err := os.ReadFile(filepath.Join("..", "testdata", "lint", "lint_config", "bp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, ds = LoadFS(fstest.MapFS{"bp.yaml": {Data: src}})
	if !ds.HasErrors() || set.Lookup("configured") != nil {
		t.Errorf("without configuration: %v, %v; want errors and no machine", ds, set.Machines)
	}
}

// TestLintConfigSeverityUp: any rule may be made an error, and a line's
// ignore comment covers only the rules it names.
func TestLintConfigSeverityUp(t *testing.T) {
	t.Parallel()
	ds := lintFiles(map[string]string{
		LintConfigFile: "severity: {unreachable-state: warning}\n",
		"bp.yaml":      "name: a\nstart: done\nstates:\n  done: {end: success}\n  x: {end: failure}  # avtomatika:ignore unreachable-choice\n",
	})
	if len(ds) != 1 || ds[0].Rule != RuleUnreachableState.Name || ds[0].Severity != SeverityWarning || ds[0].Pos.Line != 5 {
		t.Errorf("findings: %v; want one unreachable-state warning at line 5", ds)
	}
}

// TestLintScriptPath: a named .star file is compiled and run on its own,
// used by a blueprint or not, and other scripts' findings stay out.
func TestLintScriptPath(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"lone.star":  {Data: []byte("def f(x):\n    return x +\n")},
		"other.star": {Data: []byte("X = 1 // 0\n")},
		"bp.yaml":    {Data: []byte("name: a\nscript: other.star\nstart: done\nstates:\n" + okEnd)},
		"ok.star":    {Data: []byte("def f(x):\n    return x + 1\n")},
	}
	ds := LintFS(fsys, "lone.star")
	if len(ds) != 1 || ds[0].Rule != RuleStarlarkSyntax.Name || ds[0].Pos.File != "lone.star" || ds[0].Pos.Line != 2 {
		t.Errorf("lone.star: %v; want one starlark-syntax finding on its line 2", ds)
	}
	if ds := LintFS(fsys, "ok.star"); len(ds) != 0 {
		t.Errorf("ok.star: %v; want none", ds)
	}
	ds = LintFS(fsys, "other.star")
	if len(ds) != 1 || ds[0].Rule != RuleScriptError.Name || ds[0].Pos.String() != "other.star:1:7" {
		t.Errorf("other.star: %v; want its script-error once", ds)
	}
}
