package pace

import (
	"fmt"
	"testing"
	"time"
)

func TestLatencies(t *testing.T) {
	t.Parallel()
	var l Latencies
	t0 := time.Unix(1000, 0)
	if p50, p99, p999 := l.Quantiles(); p50 != 0 || p99 != 0 || p999 != 0 || l.Len() != 0 {
		t.Errorf("empty: %v %v %v, %d", p50, p99, p999, l.Len())
	}
	// Seen after the send returned, and seen before it: both count from
	// the scheduled time.
	l.Sent("a", t0)
	l.Seen("a", t0.Add(2*time.Millisecond))
	l.Seen("b", t0.Add(5*time.Millisecond))
	if l.Len() != 1 {
		t.Fatalf("a delivery seen before its send counted early: %d latencies", l.Len())
	}
	l.Sent("b", t0.Add(time.Millisecond))
	l.Sent("never", t0)
	if l.Len() != 2 {
		t.Fatalf("%d latencies, want 2", l.Len())
	}
	if p50, p99, _ := l.Quantiles(); p50 != 4 || p99 != 4 {
		t.Errorf("p50 %v p99 %v, want 4 ms (the larger of 2 and 4 ms)", p50, p99)
	}
	l.Reset()
	l.Seen("never", t0)
	if l.Len() != 0 {
		t.Errorf("Reset kept a pending send")
	}

	for i := range 1000 { // 1..1000 µs, recorded out of order
		d := time.Duration((i*7919)%1000+1) * time.Microsecond
		id := fmt.Sprint(i)
		l.Sent(id, t0)
		l.Seen(id, t0.Add(d))
	}
	if p50, p99, p999 := l.Quantiles(); p50 != 0.501 || p99 != 0.991 || p999 != 1 {
		t.Errorf("quantiles of 1..1000 µs: %v %v %v, want 0.501 0.991 1", p50, p99, p999)
	}
}
