package bptest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// benchBP has ten states: a task, a choose, a parallel of ten, a
// one-hour wait and ends.
const benchBP = `name: bench
start: check
states:
  check:
    task: {type: check, params: {n: "${{ input.n }}"}}
    transitions: {success: route, failure: failed}
  route:
    choose:
      - {when: history.big, go_to: fan}
      - go_to: small
  small: {go_to: fan}
  fan:
    parallel:
      for_each: ${{ list(range(10)) }}
      as: i
      task: {type: part, params: {i: "${{ i }}"}}
    transitions: {success: pause, failure: failed}
  pause: {wait: 1h, go_to: tally}
  tally: {set: {parts: "${{ len(results) }}"}, go_to: verdict}
  verdict:
    choose:
      - {when: history.parts == 10, go_to: done}
      - go_to: failed
  done: {end: success}
  failed: {end: failure}
`

// BenchmarkCases runs 1,000 cases of benchBP per iteration, in parallel
// and with the collector's target as avtomatika test sets them, and
// reports cases per second.
//
//	go test -run '^$' -bench Cases -count 3 ./runtime/bptest/
func BenchmarkCases(b *testing.B) {
	dir := b.TempDir()
	var src strings.Builder
	src.WriteString("blueprint: bench\ncases:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  c%d:\n    input: {n: %d}\n    replies:\n      check: {data: {big: %t}}\n      part: success\n    expect: {status: finished, state: done, dispatched: 11}\n", i, i, i%2 == 0)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.yaml"), []byte(benchBP), 0o644); err != nil {
		b.Fatal(err)
	}
	f, ds := Load(filepath.Join(dir, "bench_test.yaml"), []byte(src.String()))
	if len(ds) > 0 {
		b.Fatal(ds)
	}
	rn := NewRunner()
	if os.Getenv("GOGC") == "" { // as avtomatika test runs
		defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	}
	b.ResetTimer()
	for b.Loop() {
		rep, ds := rn.Run(context.Background(), []*File{f}, Options{})
		if len(ds) > 0 || rep.Failed() > 0 || len(rep.Outcomes) != 1000 {
			b.Fatalf("ds %v, failed %d of %d: %v", ds, rep.Failed(), len(rep.Outcomes), rep.Outcomes[0].Failures)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "cases/s")
}
