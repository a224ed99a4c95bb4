package worker_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

func TestCode(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{base, wire.CodeTransientError},
		{worker.Transient(base), wire.CodeTransientError},
		{worker.Permanent(base), wire.CodePermanentError},
		{worker.InvalidInput(base), wire.CodeInvalidInputError},
		{fmt.Errorf("while checking: %w", worker.Permanent(base)), wire.CodePermanentError},
		{worker.WithDetails(worker.InvalidInput(base), "x"), wire.CodeInvalidInputError},
		{worker.WithCode(wire.CodeResourceExhaustedError, base), wire.CodeResourceExhaustedError},
	} {
		if got := worker.Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %s, want %s", tc.err, got, tc.want)
		}
		if !errors.Is(tc.err, base) {
			t.Errorf("%v does not wrap the original error", tc.err)
		}
	}
}

// TestErrorsOnTheWire: Decode, error details and custom events reach the
// orchestrator as the protocol says.
func TestErrorsOnTheWire(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	f, proxied := newNetFault(t, url)
	w := newWorker(t, "errors-1", []string{proxied}, nil)
	type params struct {
		ItemID   string `json:"item_id"`
		Quantity int    `json:"quantity"`
	}
	decoded := make(chan params, 4)
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		var p params
		if err := task.Decode(&p); err != nil {
			return worker.Result{}, err
		}
		decoded <- p
		if err := task.Event(ctx, "inventory_looked_up", map[string]any{"item": p.ItemID}); err != nil {
			return worker.Result{}, err
		}
		if p.ItemID == "bad" {
			return worker.Result{}, worker.WithDetails(worker.InvalidInput(errors.New("unknown item")), map[string]any{"field": "item_id"})
		}
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	ctx := context.Background()
	ok, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "sku-1", "quantity": 4}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, ok); j.Status != wire.StatusFinished {
		t.Fatalf("job %s (error %+v)", j.Status, j.Error)
	}
	if p := <-decoded; p != (params{"sku-1", 4}) {
		t.Errorf("Decode gave %+v", p)
	}
	bad, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "bad"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, bad); j.Status != wire.StatusFailed {
		t.Fatalf("job %s (error %+v), want failed", j.Status, j.Error)
	}
	results, _, _ := f.snapshot()
	var got *wire.Error
	for _, r := range results {
		if r.JobID == bad {
			got = r.Error
		}
	}
	want := &wire.Error{Code: wire.CodeInvalidInputError, Message: "unknown item", Details: map[string]any{"field": "item_id"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("error on the wire %+v, want %+v", got, want)
	}
	f.mu.Lock()
	events := f.events
	f.mu.Unlock()
	if len(events) != 2 {
		t.Fatalf("%d events sent, want 2", len(events))
	}
	for _, e := range events {
		var ev wire.Event
		if err := jsonUnmarshal(e, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.EventType != "inventory_looked_up" || ev.WorkerID != "errors-1" || ev.TargetJobID == "" || ev.OriginTaskID == "" ||
			ev.Security == nil || !wire.Verify(token, e, wire.KindEvent, ev.Security.Signature) {
			t.Errorf("event %s: want a signed inventory_looked_up event naming its job and task", e)
		}
	}
}
