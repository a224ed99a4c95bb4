package server

import (
	"math"
	"sync"
	"time"
)

// limiter is a set of token buckets, one per key (a client, a worker and
// the kind of its request): each holds up to burst tokens and gains rate
// tokens a second. Buckets that refilled are forgotten when the set has
// doubled since it was last swept, so it holds about the keys seen in the
// last period.
type limiter struct {
	rate  float64 // tokens per second
	burst float64

	mu    sync.Mutex
	m     map[string]*bucket
	swept int
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(limit int, period time.Duration) *limiter {
	return &limiter{rate: float64(limit) / period.Seconds(), burst: float64(limit), m: map[string]*bucket{}}
}

// take takes a token for key at now. When there is none it may go into
// debt for one that comes within maxWait: ok, and wait is how long the
// caller holds the request first. Otherwise !ok, and wait is when a token
// comes (the Retry-After).
func (l *limiter) take(key string, now time.Time, maxWait time.Duration) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= 2*max(l.swept, 1024) {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.m[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	need := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	if need <= maxWait {
		b.tokens--
		return need, true
	}
	return need, false
}

// sweep forgets the buckets that are full again; the caller holds mu.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.m {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.m, k)
		}
	}
	l.swept = len(l.m)
}

// size is how many buckets the limiter holds.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// retryAfter is a wait in whole seconds, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// slots counts what each key holds against a cap (a worker's parked
// connections and held polls).
type slots struct {
	max int
	mu  sync.Mutex
	m   map[string]int
}

// take takes a slot for key; false when key holds max.
func (s *slots) take(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]int{}
	}
	if s.m[key] >= s.max {
		return false
	}
	s.m[key]++
	return true
}

// give gives back a slot of key.
func (s *slots) give(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key]--; s.m[key] <= 0 {
		delete(s.m, key)
	}
}

// held is how many slots key holds.
func (s *slots) held(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}
