package redisstore

import (
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/google/go-cmp/cmp"
)

// Every field of a job and a task survives the compact encoding, including
// zero values inside user data and fields the encoding does not know.
func TestCodecRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 89, time.UTC)
	cost := 0.5
	j := &core.Job{ID: "j", Blueprint: "b", Version: "v", Rev: 7, State: "s", Status: core.StatusRunning,
		Input:   map[string]any{"zero": 0.0, "empty": "", "no": false, "nil": nil, "list": []any{0.0}},
		History: map[string]any{"a": map[string]any{}}, Result: &core.Result{Status: "success", Data: map[string]any{"x": 1.0}},
		Results: []*core.Result{{Status: "failure", Error: &core.ErrorInfo{Code: "E", Message: "m"}}},
		Client:  core.Client{Name: "c", Plan: "p", Fields: map[string]any{"k": "v"}},
		Tasks:   []core.TaskRef{{ID: "t", Attempt: 2}}, Child: "ch", Parent: &core.ParentRef{JobID: "p", State: "st"},
		Timer: "tm", Error: &core.ErrorInfo{Code: "C", Message: "M"}, Steps: 3, WebhookURL: "http://h",
		Metadata: map[string]any{"m": 1.0}, Security: map[string]any{}, DispatchTimeout: time.Second, ResultTimeout: time.Minute,
		Progress: 0.5, ProgressMessage: "half", CreatedAt: at, UpdatedAt: at.Add(time.Second), FinishedAt: at.Add(time.Hour)}
	d, err := encodeJob(j)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeJob(d, "7")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(j, got); diff != "" {
		t.Errorf("job round trip (-want +got):\n%s\nstored: %s", diff, d)
	}
	tk := &core.Task{ID: "t", JobID: "j", Type: "a", Params: map[string]any{"z": 0.0}, Priority: -1.5, Branch: 2, Attempt: 3,
		Timeout: time.Minute, DispatchTimeout: time.Second, Strategy: "cheapest", Requires: map[string]any{"gpu": "a100"},
		MaxCost: &cost, Metadata: map[string]any{"m": "x"}, Security: "s", TracingContext: map[string]any{"traceparent": "00"},
		EnqueuedAt: at}
	d, err = encodeTask(tk)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := decodeTask(d, "t", "j")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tk, gt); diff != "" {
		t.Errorf("task round trip (-want +got):\n%s\nstored: %s", diff, d)
	}
	if _, err := decodeTask(`{"??":1}`, "t", "j"); err == nil {
		t.Error("a stored task with an unknown short field decoded without error")
	}
}
