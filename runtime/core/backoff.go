package core

import (
	"math/bits"
	"time"
)

// Backoff returns the delay before retry number attempt (1 for the retry
// after the first failed attempt): exponential, base*2^(attempt-1) capped at
// max, with full jitter: the delay is drawn uniformly from [0, that bound]
// by u, a uniformly random 64-bit number. The same arguments give the same
// delay.
func Backoff(attempt int, base, max time.Duration, u uint64) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	bound := max
	if attempt < 1 {
		attempt = 1
	}
	if shift := attempt - 1; shift < 62 && base <= max>>shift {
		bound = base << shift
	}
	// Scale u into [0, bound]: the high word of (bound+1) * u / 2^64.
	hi, _ := bits.Mul64(uint64(bound)+1, u)
	return time.Duration(hi)
}
