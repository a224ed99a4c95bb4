package lang

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// graphBlueprint uses every action and labels that need escaping.
const graphBlueprint = `name: every_action
description: "Say \"hi\"\nthen <stop>"
start: route
states:
  route:
    choose:
      - when: 'input.name == "a|b" and input.n < 3 # odd'
        go_to: pause
      - when: input.s == "x\\y"
        go_to: later
      - go_to: hop
  pause:
    wait: 90s
    go_to: pick
  later:
    until: ${{ input.at }}
    go_to: pick
  hop:
    go_to: pick
  pick:
    parallel:
      tasks:
        - {type: a}
        - {type: b}
    transitions: {success: ask, failure: lost}
  ask:
    approval: {message: "ok?"}
    transitions: {approved: child, rejected: lost, timeout: lost}
  child:
    blueprint: other
    transitions: {success: won, failure: lost}
  won: {end: success}
  lost: {end: failure}
`

func graphMachine(t *testing.T) *Machine {
	t.Helper()
	set, ds := LoadFS(fstest.MapFS{
		"every.yaml": {Data: []byte(graphBlueprint)},
		"other.yaml": {Data: []byte("name: other\nstart: s\nstates:\n  s: {end: success}\n")},
	})
	if len(ds) > 0 {
		t.Fatalf("blueprint does not lint clean:\n%v", ds)
	}
	m := set.Lookup("every_action")
	if m == nil {
		t.Fatal("every_action not loaded")
	}
	return m
}

func TestDOT(t *testing.T) {
	t.Parallel()
	want := `digraph "every_action" {
  rankdir=TB;
  label="every_action: Say \"hi\"\nthen <stop>";
  labelloc=t;
  node [fontname="Helvetica", fontsize=11];
  edge [fontname="Helvetica", fontsize=10];
  "(start)" [shape=point, width=0.2, label=""];
  "route" [shape=diamond, label="route"];
  "pause" [shape=octagon, label="pause\nwait: 1m30s"];
  "later" [shape=octagon, label="later\nwait until"];
  "hop" [shape=ellipse, label="hop"];
  "pick" [shape=box3d, label="pick\nparallel: a, b"];
  "ask" [shape=hexagon, label="ask\napproval"];
  "child" [shape=component, label="child\nblueprint: other"];
  "won" [shape=doublecircle, label="won\nend: success", style=filled, fillcolor="#c8e6c9", color="#2e7d32"];
  "lost" [shape=doublecircle, label="lost\nend: failure", style=filled, fillcolor="#ffcdd2", color="#c62828"];
  "(start)" -> "route" [label="start"];
  "route" -> "pause" [label="input.name == \"a|b\" and input.n < 3 # odd"];
  "route" -> "later" [label="input.s == \"x\\\\y\""];
  "route" -> "hop" [label="default", style=dashed];
  "pause" -> "pick" [label="after 1m30s"];
  "later" -> "pick" [label="until input.at"];
  "hop" -> "pick";
  "pick" -> "ask" [label="success"];
  "pick" -> "lost" [label="failure"];
  "ask" -> "child" [label="approved"];
  "ask" -> "lost" [label="rejected"];
  "ask" -> "lost" [label="timeout"];
  "child" -> "won" [label="success"];
  "child" -> "lost" [label="failure"];
}
`
	if diff := cmp.Diff(want, graphMachine(t).DOT()); diff != "" {
		t.Errorf("DOT (-want +got):\n%s", diff)
	}
}

func TestMermaid(t *testing.T) {
	t.Parallel()
	want := `flowchart TD
  %% every_action: Say "hi" then <stop>
  start((start))
  s0{"route"}
  s1[("pause<br/>wait: 1m30s")]
  s2[("later<br/>wait until")]
  s3(["hop"])
  s4[["pick<br/>parallel: a, b"]]
  s5{{"ask<br/>approval"}}
  s6[/"child<br/>blueprint: other"/]
  s7((("won<br/>end: success")))
  s8((("lost<br/>end: failure")))
  start --> s0
  s0 -->|"input.name == #quot;a#124;b#quot; and input.n #lt; 3 #35; odd"| s1
  s0 -->|"input.s == #quot;x\\y#quot;"| s2
  s0 -.->|"default"| s3
  s1 -->|"after 1m30s"| s4
  s2 -->|"until input.at"| s4
  s3 --> s4
  s4 -->|"success"| s5
  s4 -->|"failure"| s8
  s5 -->|"approved"| s6
  s5 -->|"rejected"| s8
  s5 -->|"timeout"| s8
  s6 -->|"success"| s7
  s6 -->|"failure"| s8
  classDef success fill:#c8e6c9,stroke:#2e7d32
  classDef failure fill:#ffcdd2,stroke:#c62828
  class s7 success
  class s8 failure
`
	if diff := cmp.Diff(want, graphMachine(t).Mermaid()); diff != "" {
		t.Errorf("Mermaid (-want +got):\n%s", diff)
	}
}

// TestGraphHandBuilt draws a machine built without the loader, as the
// runtime's tests do: names that need quoting stay inside their quotes.
func TestGraphHandBuilt(t *testing.T) {
	t.Parallel()
	m := &Machine{Name: `we"ird`, Start: "a b", States: []*State{
		{Name: "a b", Action: ActionTask, Task: &Task{Type: `t\"x`}, Transitions: []Transition{{Status: "ok", Target: "end;"}}},
		{Name: "end;", Action: ActionEnd, End: OutcomeSuccess},
	}}
	dot := m.DOT()
	for _, want := range []string{`digraph "we\"ird" {`, `"a b" [shape=box, label="a b\ntask: t\\\"x", style=rounded];`, `"a b" -> "end;" [label="ok"];`, `"(start)" -> "a b"`} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
	mmd := m.Mermaid()
	for _, want := range []string{`s0("a b<br/>task: t\#quot;x")`, `s0 -->|"ok"| s1`, "class s1 success"} {
		if !strings.Contains(mmd, want) {
			t.Errorf("Mermaid lacks %s:\n%s", want, mmd)
		}
	}
}

func TestDOTEntryNodeAvoidsStateNames(t *testing.T) {
	t.Parallel()
	m := &Machine{Name: "x", Start: "(start)", States: []*State{
		{Name: "(start)", Action: ActionGoTo, GoTo: "((start))"},
		{Name: "((start))", Action: ActionEnd, End: OutcomeFailure},
	}}
	dot := m.DOT()
	if !strings.Contains(dot, `"(((start)))" -> "(start)" [label="start"];`) {
		t.Errorf("entry node collides with a state:\n%s", dot)
	}
}
