package pace

import (
	"testing"
	"time"
)

func TestUntilNeverEarly(t *testing.T) {
	start := time.Now()
	for i := 1; i <= 20; i++ {
		at := start.Add(time.Duration(i) * 700 * time.Microsecond)
		Until(at)
		if now := time.Now(); now.Before(at) {
			t.Fatalf("woke %v before the time", at.Sub(now))
		}
	}
	Until(time.Now().Add(-time.Second)) // past: returns at once
}
