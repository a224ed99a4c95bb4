package main

import (
	"context"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// TestEveryBlueprintRuns: each blueprint of blueprints/ with an endpoint
// runs to "finished" with this worker, started with the first example of
// its input schema (approvals approved); the blueprints without an
// endpoint must have run to their end as children on the way. A task
// type no worker here serves shows as the job's waiting reason and fails
// the test at once.
func TestEveryBlueprintRuns(t *testing.T) {
	url := serve(t)
	a := testApp()
	a.step = time.Millisecond
	startWorker(t, url, a)
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bps, err := c.Blueprints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bps.Blueprints) < 4 {
		t.Fatalf("%d blueprints served, want every file of blueprints/", len(bps.Blueprints))
	}
	finished := map[string]bool{}
	for _, bp := range bps.Blueprints {
		if bp.Endpoint == "" {
			continue
		}
		schema, _ := bp.InputSchema.(map[string]any)
		examples, _ := schema["examples"].([]any)
		if len(examples) == 0 {
			t.Errorf("%s: its input schema has no examples to start a job with", bp.Name)
			continue
		}
		id, err := c.Start(ctx, bp.Endpoint, examples[0], client.StartOptions{})
		if err != nil {
			t.Errorf("%s: start with %v: %v", bp.Name, examples[0], err)
			continue
		}
		j := follow(ctx, t, c, bp.Name, id)
		if j == nil {
			continue
		}
		if j.Status != wire.StatusFinished {
			t.Errorf("%s: job ended %s in state %q (error %+v), want finished", bp.Name, j.Status, j.State, j.Error)
			continue
		}
		finished[bp.Name] = true
		evs, err := c.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type != "child_started" {
				continue
			}
			child, _ := ev.Detail["child_id"].(string)
			if cj := follow(ctx, t, c, bp.Name+"'s child", child); cj != nil && cj.Status == wire.StatusFinished {
				finished[cj.Blueprint] = true
			}
		}
	}
	for _, bp := range bps.Blueprints {
		if !finished[bp.Name] {
			t.Errorf("blueprint %s never ran to finished with the example worker", bp.Name)
		}
	}
}

// follow reads job id until it ends, approving what waits for a human;
// nil (and an error reported) when it waits for a task type nobody
// serves, or the test's time runs out.
func follow(ctx context.Context, t *testing.T, c *client.Client, what, id string) *client.Job {
	t.Helper()
	for {
		j, err := c.Get(ctx, id)
		if err != nil {
			t.Errorf("%s: job %s: %v", what, id, err)
			return nil
		}
		switch {
		case j.Status.Terminal():
			return j
		case j.WaitingReason != "":
			t.Errorf("%s: job waits in state %q: %s", what, j.State, j.WaitingReason)
			return nil
		case j.Status == wire.StatusWaitingForHuman:
			if err := c.Approve(ctx, id, "approved"); err != nil {
				t.Errorf("%s: approve: %v", what, err)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			t.Errorf("%s: job %s still %s in state %q", what, id, j.Status, j.State)
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}
