package core_test

import (
	"math"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// The bound of every retry, drawn at the top (u = MaxUint64): it doubles
// from the base for the 2nd, 3rd and later delays and stops at the cap.
func TestBackoffBoundPerAttempt(t *testing.T) {
	t.Parallel()
	base, capD := 100*time.Millisecond, time.Second
	want := []time.Duration{
		100 * time.Millisecond, // 1st retry
		200 * time.Millisecond, // 2nd
		400 * time.Millisecond, // 3rd
		800 * time.Millisecond, // 4th
		time.Second,            // 5th: 1.6 s capped
		time.Second,            // 6th
	}
	for i, w := range want {
		if got := core.Backoff(i+1, base, capD, math.MaxUint64); got != w {
			t.Errorf("Backoff(%d, %v, %v, max) = %v, want %v", i+1, base, capD, got, w)
		}
	}
}

// The cap is exact: a doubling that lands on it, and one that would pass
// it by less than a step, both give the cap; a doubling just under it is
// not rounded up to it.
func TestBackoffCapBoundary(t *testing.T) {
	t.Parallel()
	top := uint64(math.MaxUint64)
	for _, tc := range []struct {
		name    string
		attempt int
		base    time.Duration
		max     time.Duration
		want    time.Duration
	}{
		{"doubling lands on the cap", 3, time.Second, 4 * time.Second, 4 * time.Second},
		{"cap a few ns over a doubling", 3, time.Second, 4*time.Second + 3, 4 * time.Second},
		{"cap a few ns under a doubling", 3, time.Second, 4*time.Second - 3, 4*time.Second - 3},
		{"base above the cap", 1, 5 * time.Second, 2 * time.Second, 2 * time.Second},
		{"base equal to the cap", 1, 2 * time.Second, 2 * time.Second, 2 * time.Second},
		{"negative attempt counts as 1", -3, time.Second, time.Minute, time.Second},
		{"shift 61 still doubles", 62, 1, math.MaxInt64, 1 << 61},
	} {
		if got := core.Backoff(tc.attempt, tc.base, tc.max, top); got != tc.want {
			t.Errorf("%s: Backoff(%d, %d, %d, max) = %d, want %d", tc.name, tc.attempt, tc.base, tc.max, got, tc.want)
		}
	}
}

// No base or no cap (zero or negative) means no delay, whatever the draw.
func TestBackoffDisabled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ base, max time.Duration }{
		{0, time.Minute}, {-time.Second, time.Minute}, {time.Second, 0}, {time.Second, -time.Minute}, {-1, -1},
	} {
		for _, u := range []uint64{0, 1 << 63, math.MaxUint64} {
			if got := core.Backoff(3, tc.base, tc.max, u); got != 0 {
				t.Errorf("Backoff(3, %v, %v, %#x) = %v, want 0", tc.base, tc.max, u, got)
			}
		}
	}
}

// Full jitter: every draw lies in [0, bound], the draw is monotone in u,
// and a quarter draw gives a quarter of the bound (to the nanosecond, as
// the bound+1 scaling rounds down).
func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	base, capD := 250*time.Millisecond, 3*time.Second
	for attempt := 1; attempt <= 8; attempt++ {
		bound := min(base<<(attempt-1), capD)
		prev := time.Duration(-1)
		for i := range uint64(65) {
			u := i * (math.MaxUint64 / 64)
			d := core.Backoff(attempt, base, capD, u)
			if d < 0 || d > bound {
				t.Fatalf("attempt %d, u %#x: %v outside [0, %v]", attempt, u, d, bound)
			}
			if d < prev {
				t.Fatalf("attempt %d: u %#x gives %v, less than %v for a smaller u", attempt, u, d, prev)
			}
			prev = d
		}
		if got, want := core.Backoff(attempt, base, capD, 1<<62), (bound+1)/4; got != want {
			t.Errorf("attempt %d, quarter draw: %v, want %v", attempt, got, want)
		}
		if got := core.Backoff(attempt, base, capD, 1); got != 0 {
			t.Errorf("attempt %d, draw 1: %v, want 0", attempt, got)
		}
	}
}
