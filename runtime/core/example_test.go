package core_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing/fstest"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// A job is stepped from its creation to its end: each step returns the
// new job and the effects the runtime commits with it.
func ExampleStep() {
	set, diags := lang.LoadFS(fstest.MapFS{"check.yaml": {Data: []byte(`name: check
start: check
states:
  check:
    task: {type: check_inventory, params: {item: "${{ input.item }}"}}
    transitions: {success: done, out_of_stock: none}
  done: {end: success}
  none: {end: failure}
`)}})
	if len(diags) > 0 {
		fmt.Println(diags)
		return
	}
	m := set.Lookup("check")
	ctx := context.Background()
	in := core.Inputs{Now: time.Now(), Rand: rand.Reader}

	job := &core.Job{ID: "j1", Status: wire.StatusPending, Input: map[string]any{"item": "sku-1"}}
	job, fx, err := core.Step(ctx, m, job, core.Event{Kind: core.EventCreated}, in)
	if err != nil {
		fmt.Println(err)
		return
	}
	task := fx.Enqueue[0]
	fmt.Println(job.State, job.Status, task.Type, task.Params["item"])

	// A worker answers with a custom status.
	job, fx, err = core.Step(ctx, m, job, core.Event{Kind: core.EventTaskResult, TaskID: task.ID,
		Result: &core.Result{Status: "out_of_stock", Data: map[string]any{"left": 0}}}, in)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(job.State, job.Status, fx.Notify.Event, job.History["left"])
	// Output:
	// check waiting_for_worker check_inventory sku-1
	// none failed job_failed 0
}
