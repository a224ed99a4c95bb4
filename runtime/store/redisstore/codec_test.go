package redisstore

import (
	"slices"
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
		Tasks: core.NewTaskRefs([]core.TaskRef{{ID: "t", Attempt: 2}, {ID: "u", Type: "a", Branch: 1, Attempt: 1, Timer: "tm",
			Result: &core.Result{Status: "success"}}}...), BranchesDone: 1, ApprovalMessage: "ok?", Child: "ch", Parent: &core.ParentRef{JobID: "p", State: "st"},
		Timer: "tm", Error: &core.ErrorInfo{Code: "C", Message: "M"}, Steps: 3, WebhookURL: "http://h",
		Metadata: map[string]any{"m": 1.0}, Security: map[string]any{}, DispatchTimeout: time.Second, ResultTimeout: time.Minute,
		Progress: 0.5, ProgressMessage: "half", CreatedAt: at, UpdatedAt: at.Add(time.Second), FinishedAt: at.Add(time.Hour)}
	d, err := encodeJob(j)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeJob("j", d, "7", statusCode(j.Status), "v", base(j.CreatedAt))
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
	gt, err := decodeTask(d, "t", "j", "a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tk, gt); diff != "" {
		t.Errorf("task round trip (-want +got):\n%s\nstored: %s", diff, d)
	}
	if _, err := decodeTask(`{"??":1}`, "t", "j", "a"); err == nil {
		t.Error("a stored task with an unknown short field decoded without error")
	}
}

// Timeline times are offsets from the job's creation time; a "@" line
// sets the base for the lines after it, and a zero base keeps absolute
// times.
func TestTimelineRoundTrip(t *testing.T) {
	c0 := time.Date(2026, 3, 4, 5, 6, 7, 89, time.UTC)
	c1 := c0.Add(-time.Hour)
	evs := []core.TimelineEvent{
		{At: c0, Type: "created"},
		{At: c0.Add(-time.Nanosecond), Type: "state_entered", State: "s", NextState: "s"},
		{At: c0.Add(-time.Nanosecond), Type: "task_enqueued", TaskID: "t", Attempt: 1, Detail: map[string]any{"type": "a"}},
		{At: c0.Add(time.Second), Type: "custom_type", WorkerID: "w"},
		{Type: "no_time"},
	}
	// line encodes event i as the first of its commit when first is set,
	// else after event i-1.
	line := func(i int, b time.Time, first bool) string {
		var n int64
		if !b.IsZero() {
			n = b.UnixNano()
		}
		var prev *time.Time
		if !first {
			prev = &evs[i-1].At
		}
		s, err := encodeEvent(evs[i], n, prev)
		if err != nil {
			t.Fatal(err)
		}
		return s + "\n"
	}
	for _, tc := range []struct {
		name, created, lines string
	}{
		{"one commit", base(c0), line(0, c0, true) + line(1, c0, false) + line(2, c0, false) + line(3, c0, false) + line(4, c0, false)},
		{"commit each", base(c0), line(0, c0, true) + line(1, c0, true) + line(2, c0, true) + line(3, c0, true) + line(4, c0, true)},
		{"base changed", base(c1), "@" + base(c0) + "\n" + line(0, c0, true) + line(1, c0, false) + line(2, c0, false) +
			"@" + base(c1) + "\n" + line(3, c1, true) + line(4, c1, false)},
		{"zero base", "", line(0, time.Time{}, true) + line(1, time.Time{}, false) + line(2, time.Time{}, false) +
			line(3, time.Time{}, false) + line(4, time.Time{}, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeTimeline(tc.created, tc.lines)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(evs, got); diff != "" {
				t.Errorf("timeline round trip (-want +got):\n%s\nstored: %s", diff, tc.lines)
			}
		})
	}
}

// Known statuses are stored as numbers, others by name; both come back.
func TestStatusCodes(t *testing.T) {
	for _, st := range append(slices.Clone(statuses), "custom", "7", "~x") {
		if got := statusName(statusCode(st)); got != st {
			t.Errorf("status %q stored as %q came back as %q", st, statusCode(st), got)
		}
	}
}
