package redisstore

import (
	"slices"
	"testing"
)

func woken(ws []*waiter) []int {
	var out []int
	for i, w := range ws {
		select {
		case <-w.ch:
			out = append(out, i)
		default:
		}
	}
	return out
}

// registered is a registry holding ws, each with its wake channel.
func registered(ws []*waiter) waiters {
	reg := newWaiters()
	for _, w := range ws {
		w.ch = make(chan struct{}, 1)
		reg.add(w)
	}
	return reg
}

func TestWaitersDeliver(t *testing.T) {
	ws := []*waiter{
		{worker: "w0", types: []string{"a"}},
		{worker: "w1", types: []string{"a", "b"}},
		{worker: "w2", types: []string{"b"}},
		{worker: "w3", types: []string{"a"}},
	}
	reg := registered(ws)
	for _, c := range []struct {
		msg  string
		want []int
	}{
		{"t:1:a", []int{0}},        // the longest waiting poll of the type
		{"t:2:a", []int{0, 1}},     // as many as tasks
		{"t:9:b", []int{1, 2}},     // no more than wait
		{"T:a", []int{0, 1, 3}},    // a constrained task: all of the type
		{"w:w2", []int{2}},         // a worker's own queue
		{"t:a", []int{0, 1, 3}},    // no count: all of the type
		{"t:0:a", []int{0, 1, 3}},  // a bad count: all of the type
		{"t:1:c", nil},             // nobody waits for c
		{"timer-ish:x", nil},       // unknown kinds are ignored
		{"t:1:a:with:colons", nil}, // types may hold colons
		{"*", []int{0, 1, 2, 3}},   // the subscription came back: all
	} {
		reg.deliver(c.msg)
		if got := woken(ws); !slices.Equal(got, c.want) {
			t.Errorf("%s woke %v, want %v", c.msg, got, c.want)
		}
	}
	// A recheck wakes the longest-waiting poll of each type; one that
	// holds a wake is passed over.
	reg.recheck()
	if got := woken(ws); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("recheck woke %v, want [0 1]", got)
	}
	ws[0].ch <- struct{}{}
	reg.recheck()
	if got := woken(ws); len(got) != 3 || got[0] != 0 {
		t.Errorf("recheck beside a held wake: %v hold one, want 0 (its own) and one more of each type", got)
	}
	// A poll that holds a wake is skipped: two messages of one task each
	// wake two polls.
	reg.deliver("t:1:a")
	reg.deliver("t:1:a")
	if got := woken(ws); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("two single wakes woke %v, want [0 1]", got)
	}
	// Removing a poll that holds a wake reports it, so it can be handed on.
	reg.deliver("t:1:a")
	if !reg.remove(ws[0]) {
		t.Error("remove of a woken poll did not report its wake")
	}
	if reg.remove(ws[3]) {
		t.Error("remove of a poll without a wake reported one")
	}
	reg.deliver("t:1:a")
	if got := woken(ws); !slices.Equal(got, []int{1}) {
		t.Errorf("after removals t:1:a woke %v, want [1]", got)
	}
	if reg.n != 2 || len(reg.byType["a"].Front().Value.(*waiter).types) != 2 {
		t.Errorf("registry holds %d polls, want 2", reg.n)
	}
	// When the last polls end, nothing of them is kept: the indexes do
	// not grow with every worker and type ever seen.
	reg.remove(ws[1])
	reg.remove(ws[2])
	if reg.n != 0 || len(reg.byType) != 0 || len(reg.byWorker) != 0 {
		t.Errorf("after the last poll ended: %d polls, %d types, %d workers kept", reg.n, len(reg.byType), len(reg.byWorker))
	}
}

// TestWaitersWakeAllReachesEveryPoll: "*" wakes every poll, several of
// one worker and several of one type among them.
func TestWaitersWakeAllReachesEveryPoll(t *testing.T) {
	ws := []*waiter{
		{worker: "w0", types: []string{"a"}},
		{worker: "w0", types: []string{"a", "b"}},
		{worker: "w1", types: []string{"a"}},
		{worker: "w2", types: []string{"b"}},
	}
	reg := registered(ws)
	reg.deliver("*")
	if got := woken(ws); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("* woke %v, want every poll", got)
	}
}
