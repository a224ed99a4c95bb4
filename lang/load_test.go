package lang

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"
)

const everyAction = `name: every_action
endpoint: /jobs/every
input: {type: object, required: [items]}
stores: {seen: {}}
defaults: {retries: 2, timeout: 10s, strategy: cheapest, priority: 5}
start: first
states:
  first:
    set: {n: 1, label: "${{ input.name }}"}
    store: {seen: {"${{ job.id }}": true}}
    go_to: pick
  pick:
    choose:
      - when: input.fast
        go_to: work
      - go_to: many
  work:
    task:
      type: do_work
      params: {items: "${{ input.items }}"}
      timeout: 1m
      dispatch_timeout: 2d
      requires: {gpu: true, ram_gb: 8}
      max_cost: 0.5
    transitions: {success: many, failure: bad}
  many:
    parallel:
      for_each: ${{ input.items }}
      as: item
      task: {type: one, params: {x: "${{ item }}"}}
    transitions: {success: fixed, failure: bad}
  fixed:
    parallel:
      tasks: [{type: a}, {type: b, priority: 1}]
    transitions: {success: ask, failure: bad}
  ask:
    approval: {message: "ok ${{ history.n }}?", timeout: 1h}
    transitions: {approved: child, rejected: bad, timeout: bad}
  child:
    blueprint: {name: every_action, input: {items: []}}
    transitions: {success: nap, failure: bad}
  nap:
    wait: 90s
    go_to: until
  until:
    until: job.created_at
    go_to: good
  good: {end: success}
  bad: {end: failure}
`

func loadOne(t *testing.T, src string) *Machine {
	t.Helper()
	set, ds := LoadFS(fstest.MapFS{"bp.yaml": {Data: []byte(src)}})
	if len(ds) > 0 {
		t.Fatalf("unexpected findings:\n%v", ds)
	}
	return set.Machines[0]
}

func TestLoadEveryAction(t *testing.T) {
	t.Parallel()
	m := loadOne(t, everyAction)
	if m.Name != "every_action" || m.Endpoint != "/jobs/every" || m.Start != "first" || m.Input == nil || len(m.States) != 11 {
		t.Fatalf("machine: %+v", m)
	}
	names := []string{}
	for _, s := range m.States {
		names = append(names, s.Name+":"+string(s.Action))
	}
	want := "first:go_to pick:choose work:task many:parallel fixed:parallel ask:approval child:blueprint nap:wait until:wait good:end bad:end"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("states = %s\nwant     %s", got, want)
	}
	first := m.State("first")
	if first.Pos.String() != "bp.yaml:8:3" || len(first.Set) != 2 || len(first.Store) != 1 || first.GoTo != "pick" {
		t.Errorf("first: %+v", first)
	}
	work := m.State("work").Task
	if work.Type != "do_work" || work.Timeout != time.Minute || work.DispatchTimeout != 48*time.Hour || work.Retries == nil || *work.Retries != 2 ||
		work.Strategy != "cheapest" || work.Priority != 5 || *work.MaxCost != 0.5 || work.Requires["ram_gb"] != int64(8) {
		t.Errorf("work task: %+v", work)
	}
	if next, ok := m.State("work").Next("failure"); !ok || next != "bad" {
		t.Errorf("work failure -> %q", next)
	}
	many := m.State("many").Parallel
	if many.As != "item" || many.Task.Type != "one" || many.ForEach == nil {
		t.Errorf("many: %+v", many)
	}
	if fixed := m.State("fixed").Parallel; len(fixed.Tasks) != 2 || fixed.Tasks[1].Priority != 1 || fixed.Tasks[0].Priority != 5 {
		t.Errorf("fixed: %+v", fixed)
	}
	if ap := m.State("ask").Approval; ap.Timeout != time.Hour {
		t.Errorf("approval: %+v", ap)
	}
	if c := m.State("child").Blueprint; c.Name != "every_action" || c.Input == nil {
		t.Errorf("child: %+v", c)
	}
	if w := m.State("nap").Wait; w.Duration != 90*time.Second || m.State("nap").GoTo != "until" {
		t.Errorf("nap: %+v", w)
	}
	if w := m.State("until").Wait; w.Until == nil {
		t.Errorf("until: %+v", w)
	}
	if m.State("good").End != OutcomeSuccess || m.State("bad").End != OutcomeFailure {
		t.Error("end outcomes")
	}
	// Values evaluate.
	env := &Env{Input: map[string]any{"name": "n", "items": []any{int64(1)}}, Job: JobInfo{ID: "j1"}}
	v, err := first.Set[1].Value.Eval(context.Background(), env)
	if err != nil || v != "n" {
		t.Errorf("set label = %v, %v", v, err)
	}
	k, err := first.Store[0].Key.Eval(context.Background(), env)
	if err != nil || k != "j1" {
		t.Errorf("store key = %v, %v", k, err)
	}
	if err := m.Input.Validate(map[string]any{}); err == nil || !strings.Contains(err.Error(), "items") {
		t.Errorf("input schema: %v", err)
	}
}

func TestRebuildSameHash(t *testing.T) {
	t.Parallel()
	set, ds := LoadDir(filepath.Join("..", "blueprints"))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	for _, m := range set.Machines {
		r, err := Rebuild(m.File, m.Sources)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if r.Hash != m.Hash || len(r.States) != len(m.States) {
			t.Errorf("%s: rebuilt hash %s, want %s", m.Name, r.Hash, m.Hash)
		}
	}
	op := set.Lookup("order_processing")
	if len(op.Sources) != 2 {
		t.Errorf("order_processing sources = %d, want the YAML and its script", len(op.Sources))
	}
}

func TestSchemaAcceptsExamples(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("..", "blueprints", "*.yaml"))
	for _, f := range files {
		if IsTestFile(f) {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var n yaml.Node
		if err := yaml.Unmarshal(src, &n); err != nil {
			t.Fatal(err)
		}
		l := &loader{pf: &parsedFile{file: f}}
		if ds := l.schemaCheck(n.Content[0]); len(ds) > 0 {
			t.Errorf("%s: %v", f, ds)
		}
	}
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("name: x\nstart: a\nstates:\n  a: {end: later, task: {type: 3}}\n"), &n)
	l := &loader{pf: &parsedFile{file: "bad.yaml"}}
	if ds := l.schemaCheck(n.Content[0]); len(ds) == 0 {
		t.Error("schema accepted a wrong blueprint")
	} else if ds[0].Rule != "schema" || ds[0].Pos.Line != 4 {
		t.Errorf("schema finding: %v", ds)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "5m": 5 * time.Minute, "2d": 48 * time.Hour, "1d12h": 36 * time.Hour, "90": 90 * time.Second, "1.5": 1500 * time.Millisecond, "300ms": 300 * time.Millisecond} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-5s", "30 seconds", "d", "5x"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	v1 := loadOne(t, "name: a\nendpoint: /jobs/a\nstart: s\nstates:\n  s: {end: success}\n")
	v2 := loadOne(t, "name: a\nendpoint: /jobs/a\nstart: s\nstates:\n  s: {end: failure}\n")
	r.Swap(&Set{Machines: []*Machine{v1}})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				m := r.Current("a")
				if m != v1 && m != v2 {
					t.Error("current is neither version")
					return
				}
				if r.ByEndpoint("/jobs/a") == nil || r.ByHash(v1.Hash) != v1 {
					t.Error("lookup failed")
					return
				}
			}
		}()
	}
	r.Refuse(Diagnostics{{Rule: "x"}})
	r.Swap(&Set{Machines: []*Machine{v2}})
	wg.Wait()
	if r.Current("a") != v2 || r.ByHash(v1.Hash) != v1 || r.ByHash(v2.Hash) != v2 || r.Refused() != nil {
		t.Error("after swap: old version must stay reachable by hash, new one current, refusal cleared")
	}
	r.Refuse(Diagnostics{{Rule: "bad"}})
	if len(r.Refused()) != 1 || r.Current("a") != v2 {
		t.Error("refuse must keep the current set")
	}
}

func TestLintFSPaths(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"a.yaml": {Data: []byte("name: a\nstart: s\nstates:\n  s:\n    blueprint: b\n    transitions: {success: e, failure: e}\n  e: {end: success}\n")},
		"b.yaml": {Data: []byte("name: b\nstart: s\nstates:\n  s: {go_to: nowhere}\n")},
	}
	if ds := LintFS(fsys, "a.yaml"); len(ds) != 0 {
		t.Errorf("a.yaml alone: %v", ds)
	}
	if ds := LintFS(fsys, "b.yaml"); len(ds) == 0 {
		t.Error("b.yaml: want findings")
	}
}

// TestLoadPositions: every compiled part points at where it is written.
func TestLoadPositions(t *testing.T) {
	t.Parallel()
	m := loadOne(t, everyAction)
	files := map[string]string{"bp.yaml": everyAction}
	for _, c := range []struct {
		what string
		got  Pos
		at   string // file:line:TEXT, as in the lint tests
	}{
		{"state first", m.State("first").Pos, "bp.yaml:8:first"},
		{"state bad", m.State("bad").Pos, "bp.yaml:49:bad"},
		{"set n", m.State("first").Set[0].Pos, "bp.yaml:9:n:"},
		{"set label value", m.State("first").Set[1].Value.Pos, "bp.yaml:9:\"${{"},
		{"store key", m.State("first").Store[0].Pos, "bp.yaml:10:\"${{ job"},
		{"choice 1", m.State("pick").Choose[0].Pos, "bp.yaml:14:when"},
		{"choice 1 when", m.State("pick").Choose[0].When.Pos, "bp.yaml:14:input.fast"},
		{"default choice", m.State("pick").Choose[1].Pos, "bp.yaml:16:go_to"},
		{"task", m.State("work").Task.Pos, "bp.yaml:19:type"},
		{"task params", m.State("work").Task.Params.Pos, "bp.yaml:20:{items"},
		{"transition success", m.State("work").Transitions[0].Pos, "bp.yaml:25:many"},
		{"transition failure", m.State("work").Transitions[1].Pos, "bp.yaml:25:bad"},
		{"for_each", m.State("many").Parallel.ForEach.Pos, "bp.yaml:28:${{"},
		{"for_each task", m.State("many").Parallel.Task.Pos, "bp.yaml:30:{type"},
		{"parallel task 2", m.State("fixed").Parallel.Tasks[1].Pos, "bp.yaml:34:{type: b"},
		{"approval message", m.State("ask").Approval.Message.Pos, "bp.yaml:37:\"ok"},
		{"sub-blueprint input", m.State("child").Blueprint.Input.Pos, "bp.yaml:40:{items"},
		{"until", m.State("until").Wait.Until.Pos, "bp.yaml:46:job.created_at"},
	} {
		if want := spot(t, files, c.at); c.got.String() != want {
			t.Errorf("%s at %s, want %s (%s)", c.what, c.got, want, c.at)
		}
	}
}

// TestYAMLErrorAtMistake: a YAML syntax error points at the line that is
// wrong when yaml.v3 names only the block it was reading.
func TestYAMLErrorAtMistake(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, src, at string
	}{
		{"mis-indented key", "name: x\nstart: a\nstates:\n  a:\n    go_to: b\n   b: {end: success}\n", "bp.yaml:6:4"},
		{"comments and blank lines between", "name: x\nstates:\n  a:\n    # note\n\n    go_to: b\n # stray\n   b: {end: success}\n", "bp.yaml:8:4"},
		{"unclosed flow mapping", "name: x\nstates:\n  a: {go_to: \"{b\", x: [1]\n  b: {end: success}\n", "bp.yaml:3:6"},
		{"a quoted brace is not one", "name: x\nstates:\n  a: [\"[\", {b: 1}\n", "bp.yaml:3:6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds := lintFiles(map[string]string{"bp.yaml": c.src})
			if len(ds) != 1 || ds[0].Rule != RuleYAMLSyntax.Name || ds[0].Pos.String() != c.at {
				t.Errorf("findings: %v; want one yaml-syntax at %s", ds, c.at)
			}
		})
	}
}

// Retries and backoff: a task without them takes the blueprint's
// defaults, key by key; a blueprint without defaults leaves them to the
// runtime (nil retries, zero backoff).
func TestLoadRetryDefaults(t *testing.T) {
	t.Parallel()
	m := loadOne(t, `name: r
defaults: {retries: 5, retry_backoff: {base: 2s, max: 30s}}
start: plain
states:
  plain: {task: {type: t}, transitions: {success: own}}
  own: {task: {type: t, retries: 0, retry_backoff: {base: 100ms}}, transitions: {success: done}}
  done: {end: success}
`)
	plain, own := m.State("plain").Task, m.State("own").Task
	if plain.Retries == nil || *plain.Retries != 5 || plain.Backoff != (Backoff{Base: 2 * time.Second, Max: 30 * time.Second}) {
		t.Errorf("plain: retries %v, backoff %+v; want the defaults 5, {2s 30s}", plain.Retries, plain.Backoff)
	}
	if own.Retries == nil || *own.Retries != 0 || own.Backoff != (Backoff{Base: 100 * time.Millisecond, Max: 30 * time.Second}) {
		t.Errorf("own: retries %v, backoff %+v; want 0, {100ms 30s}", own.Retries, own.Backoff)
	}
	bare := loadOne(t, "name: b\nstart: s\nstates:\n  s: {task: {type: t}, transitions: {success: done}}\n  done: {end: success}\n")
	if task := bare.State("s").Task; task.Retries != nil || task.Backoff != (Backoff{}) {
		t.Errorf("no defaults: retries %v, backoff %+v; want nil and zero (the runtime decides)", task.Retries, task.Backoff)
	}
}

// TestSetRefused: a file with errors gives no machine and is listed in
// Set.Refused with its findings; a blueprint that starts a refused one as
// its child is refused too, up the chain, naming the child.
func TestSetRefused(t *testing.T) {
	t.Parallel()
	child := func(name, sub string) string {
		return "name: " + name + "\nstart: s\nstates:\n  s: {blueprint: " + sub + ", transitions: {success: ok, failure: ok}}\n  ok: {end: success}\n"
	}
	set, ds := LoadFS(fstest.MapFS{
		"a.yaml": {Data: []byte("name: a\nstart: s\nstates:\n  s: {end: success}\n")},
		"b.yaml": {Data: []byte(child("b", "c"))},
		"c.yaml": {Data: []byte(child("c", "d"))},
		"d.yaml": {Data: []byte("name: d\nstart: nowhere\nstates:\n  s: {end: success}\n")},
	})
	if !ds.HasErrors() || len(set.Machines) != 1 || set.Machines[0].Name != "a" {
		t.Fatalf("machines %v, findings %v; want a alone", set.Machines, ds)
	}
	want := []struct{ file, name, sub string }{{"b.yaml", "b", "c"}, {"c.yaml", "c", "d"}, {"d.yaml", "d", ""}}
	if len(set.Refused) != len(want) {
		t.Fatalf("refused %+v", set.Refused)
	}
	for i, w := range want {
		r := set.Refused[i]
		if r.File != w.file || r.Name != w.name || r.Sub != w.sub || len(r.Findings) == 0 || r.Findings[0].Pos.File != "d.yaml" {
			t.Errorf("refused[%d] = %+v, want %s (%s) for sub %q with d.yaml's findings", i, r, w.file, w.name, w.sub)
		}
	}
}
