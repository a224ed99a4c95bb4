package core

import (
	"math"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	const half = uint64(1) << 63
	cases := []struct {
		name    string
		attempt int
		u       uint64
		want    time.Duration
	}{
		{"lowest draw is no delay", 1, 0, 0},
		{"highest draw is the bound", 1, math.MaxUint64, time.Second},
		{"half draw, attempt 1", 1, half, 500 * time.Millisecond},
		{"the bound doubles per attempt", 2, math.MaxUint64, 2 * time.Second},
		{"attempt 4", 4, half, 4 * time.Second},
		{"capped", 7, math.MaxUint64, time.Minute},
		{"capped far out without overflow", 200, math.MaxUint64, time.Minute},
		{"attempt 0 counts as 1", 0, math.MaxUint64, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := Backoff(c.attempt, time.Second, time.Minute, c.u); got != c.want {
				t.Errorf("Backoff(%d, 1s, 1m, %#x) = %v, want %v", c.attempt, c.u, got, c.want)
			}
		})
	}
	if got := Backoff(1, 0, time.Minute, math.MaxUint64); got != 0 {
		t.Errorf("no base: %v, want 0", got)
	}
}
