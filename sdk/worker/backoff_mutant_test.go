package worker

import (
	"testing"
	"time"
)

// Each wait lies in [d/2, d] where d starts at initial, doubles, and stops
// at max; reset starts over.
func TestBackoffDoublesToTheCap(t *testing.T) {
	t.Parallel()
	var b backoff
	b.init(10*time.Millisecond, 80*time.Millisecond)
	bounds := []time.Duration{10, 20, 40, 80, 80, 80}
	for round := range 2 {
		for i, d := range bounds {
			d *= time.Millisecond
			got := b.next()
			if got < d/2 || got > d {
				t.Fatalf("round %d, wait %d: %v outside [%v, %v]", round, i+1, got, d/2, d)
			}
			if b.cur != d {
				t.Fatalf("round %d, wait %d: bound %v, want %v", round, i+1, b.cur, d)
			}
		}
		b.reset()
	}
}

// The jitter reaches both ends of [d/2, d] and nothing outside.
func TestBackoffJitterRange(t *testing.T) {
	t.Parallel()
	var b backoff
	b.init(4*time.Nanosecond, 4*time.Nanosecond)
	seen := map[time.Duration]bool{}
	for range 2000 {
		b.reset()
		got := b.next()
		if got < 2 || got > 4 {
			t.Fatalf("wait %v outside [2ns, 4ns]", got)
		}
		seen[got] = true
	}
	for _, d := range []time.Duration{2, 3, 4} {
		if !seen[d] {
			t.Errorf("a wait of %v never drawn in 2000 tries (seen %v)", d, seen)
		}
	}
}

// A zero or negative setting is read as 1 ms, never as a busy loop.
func TestBackoffFloor(t *testing.T) {
	t.Parallel()
	var b backoff
	b.init(0, -time.Second)
	if b.initial != time.Millisecond || b.max != time.Millisecond {
		t.Errorf("init(0, -1s): initial %v max %v, want 1ms both", b.initial, b.max)
	}
	for range 3 {
		if got := b.next(); got < time.Millisecond/2 || got > time.Millisecond {
			t.Errorf("wait %v outside [0.5ms, 1ms]", got)
		}
	}
	if got := max1(time.Nanosecond); got != time.Nanosecond {
		t.Errorf("max1(1ns) = %v, want 1ns kept", got)
	}
}
