package bptest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runDir writes files into a temporary folder and runs its test file.
func runDir(t *testing.T, files map[string]string) *Report {
	t.Helper()
	dir := t.TempDir()
	var test string
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if IsTestFile(name) {
			test = filepath.Join(dir, name)
		}
	}
	src, _ := os.ReadFile(test)
	f, ds := Load(test, src)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	rep, ds := NewRunner().Run(context.Background(), []*File{f}, Options{Coverage: true})
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	return rep
}

const fanBP = `name: fan
start: split
states:
  split:
    parallel:
      for_each: ${{ input.items }}
      as: item
      task: {type: work, params: {n: "${{ item }}"}, retries: 2}
    transitions: {success: later, failure: failed}
  later: {wait: 3d, go_to: notify}
  notify:
    blueprint: {name: tell, input: {total: "${{ len(results) }}"}}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

const tellBP = `name: tell
start: send
states:
  send:
    task: {type: send, params: {total: "${{ input.total }}"}}
    transitions: {success: sent}
  sent: {set: {told: "${{ input.total }}"}, go_to: fin}
  fin: {end: success}
`

// A three-day wait, retries per item and a child run for real cost no
// real time, and every expectation kind holds.
func TestFanOutWaitAndChild(t *testing.T) {
	rep := runDir(t, map[string]string{"fan.yaml": fanBP, "tell.yaml": tellBP, "fan_test.yaml": `
blueprint: fan
cases:
  all:
    input: {items: [1, 2, 3]}
    replies:
      work:
        - {when: params.n == 2 and attempt < 3, error: TRANSIENT_ERROR}
        - {data: {ok: true}, after: 1h}
      send: success
    expect:
      status: finished
      path: [split, later, notify, done]
      attempts: {work: 3}
      dispatched: {work: 5, send: 1}
      assert:
        - job.finished_at.startswith("2026-01-04T01:")
        - tasks[-1].params.total == 3
  stubbed:
    input: {items: []}
    children:
      tell: {end: failure, data: {why: "${{ nope }}"}}
    expect:
      status: failed
      result: {status: failure, data: {why: "${{ nope }}"}}
`})
	for _, o := range rep.Outcomes {
		if !o.Passed() {
			t.Errorf("%s: %v\n%s", o.Case.Name, o.Failures, strings.Join(o.Trace, "\n"))
		}
	}
	cov := rep.Coverage()
	if len(cov) != 1 || cov[0].Blueprint != "fan" || len(cov[0].Missed()) != 1 {
		t.Fatalf("coverage: %+v", cov)
	}
	if m := cov[0].Missed()[0]; m.State != "split" || m.Label != "failure" {
		t.Errorf("missed %v, want split --failure-->", m)
	}
}

// A task without a scripted reply stops the case with a failure at the
// case, not a hang.
func TestMissingReply(t *testing.T) {
	rep := runDir(t, map[string]string{"tell.yaml": tellBP, "tell_test.yaml": `
cases:
  silent:
    input: {total: 1}
`})
	o := rep.Outcomes[0]
	if o.Passed() || !strings.Contains(o.Failures[0].Message, `no reply for task "send"`) || o.Failures[0].Pos.Line != 3 {
		t.Fatalf("failures = %+v", o.Failures)
	}
}

func FuzzLoad(f *testing.F) {
	for _, p := range []string{"../../blueprints/order_processing_test.yaml", "../../blueprints/long_running_test.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("cases: {a: {replies: {x: [{when: '(', attempt: -1}]}, expect: {assert: [1], attempts: {x: y}}}}"))
	f.Add([]byte("- 1\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, ds := Load("x_test.yaml", src)
		if file == nil && len(ds) == 0 {
			t.Fatal("no file and no findings")
		}
		for _, d := range ds {
			if d.Rule == "internal-error" {
				t.Fatalf("internal error: %v", d)
			}
		}
	})
}
