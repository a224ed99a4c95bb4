package redisstore

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Text fields that begin with a character the line format escapes (its
// separator, the escape sign, a line break) come back as they were.
func TestTimelineEscapesAtTheStart(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, s := range []string{"|w", "%w", "\nw", "%7Cw", "|", "%"} {
		ev := core.TimelineEvent{At: at, Type: "'" + s, State: s, PrevState: s, NextState: s, WorkerID: s, TaskID: s}
		line, err := encodeEvent(ev, at.UnixNano(), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEvent(line, at.UnixNano(), time.Time{})
		if err != nil {
			t.Fatalf("%q: %v (stored %q)", s, err, line)
		}
		if diff := cmp.Diff(ev, got); diff != "" {
			t.Errorf("%q round trip (-want +got):\n%s\nstored: %q", s, diff, line)
		}
	}
}

// The engine's task_enqueued detail is packed when its branch is a whole
// number that fits in 32 bits, and kept as JSON otherwise; either way it
// comes back as the float64 JSON gives.
func TestEnqueuedDetailBranchRange(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		branch float64
		packed bool
	}{
		{-1 << 31, true},
		{1<<31 - 1, true},
		{1 << 31, false},
		{-1<<31 - 1, false},
		{0.5, false},
	} {
		ev := core.TimelineEvent{At: at, Type: "task_enqueued", Detail: map[string]any{"branch": tc.branch, "type": "a"}}
		line, err := encodeEvent(ev, at.UnixNano(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if packed := strings.Contains(line, "|#"); packed != tc.packed {
			t.Errorf("branch %v: packed %v, want %v (stored %q)", tc.branch, packed, tc.packed, line)
		}
		got, err := decodeEvent(line, at.UnixNano(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if b := got.Detail["branch"]; b != tc.branch {
			t.Errorf("branch %v came back as %#v", tc.branch, b)
		}
	}
}

// A stored number one past the known event types or statuses is not read
// as one of them: an event is refused, a status kept by its text.
func TestCodesPastTheTables(t *testing.T) {
	if _, err := decodeEvent(strconv.Itoa(len(eventTypes)), 0, time.Time{}); err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Errorf("event type code %d: err %v, want unknown event type", len(eventTypes), err)
	}
	if _, err := decodeEvent("-1", 0, time.Time{}); err == nil {
		t.Error("event type code -1: no error")
	}
	n := strconv.Itoa(len(statuses))
	if got := statusName(n); got != wire.JobStatus(n) {
		t.Errorf("status code %s came back as %q, want the text itself", n, got)
	}
	if got := statusName("-1"); got != "-1" {
		t.Errorf("status code -1 came back as %q", got)
	}
}
