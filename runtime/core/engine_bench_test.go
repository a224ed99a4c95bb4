package core

import (
	"context"
	"fmt"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// BenchmarkFanIn runs one parallel of n branches from creation to its end:
// n results, each a step. ns/branch staying flat from 100 to 1,000 shows
// the fan-in grows linearly: a step copies one chunk of 32 task refs and
// the chunk index (TaskRefs), not all n refs.
func BenchmarkFanIn(b *testing.B) {
	m := machine(b, parBP)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint("branches=", n), func(b *testing.B) {
			items := make([]any, n)
			for i := range items {
				items[i] = int64(i)
			}
			ctx := context.Background()
			in := Inputs{Now: t0, Rand: &ctrRand{}}
			ok := &Result{Status: "success", Data: map[string]any{"ok": true}}
			for b.Loop() {
				j, _, err := Step(ctx, m, pending(map[string]any{"items": items}), Event{Kind: EventCreated}, in)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					j, _, err = Step(ctx, m, j, Event{Kind: EventTaskResult, TaskID: j.Tasks.At(i).ID, Branch: i, Result: ok}, in)
					if err != nil {
						b.Fatal(err)
					}
				}
				if j.Status != wire.StatusFinished || len(j.Results) != n {
					b.Fatalf("status %s with %d results", j.Status, len(j.Results))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/branch")
		})
	}
}

// BenchmarkStepTask is one task result on a single-task job, the hot path
// of a simple job.
func BenchmarkStepTask(b *testing.B) {
	m := machine(b, taskBP)
	ctx := context.Background()
	in := Inputs{Now: t0, Rand: &ctrRand{}}
	j := working()
	ev := result("task-A", 0, "success", map[string]any{"ok": true}, "")
	for b.Loop() {
		if _, _, err := Step(ctx, m, j, ev, in); err != nil {
			b.Fatal(err)
		}
	}
}
