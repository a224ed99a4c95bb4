package pace

import (
	"slices"
	"sync"
	"time"
)

// Latencies measures an open loop: each send's latency runs from its
// scheduled time to the moment the system under test delivered it. The
// delivery may be seen before the send's call returns (the id is known
// only then), so whichever of Sent and Seen comes second records the
// latency. The zero value is ready; it is safe for concurrent use.
type Latencies struct {
	mu    sync.Mutex
	sent  map[string]time.Time // scheduled times of sends not seen yet
	early map[string]time.Time // deliveries seen before their send returned
	lat   []time.Duration
}

// Sent records that the send scheduled at at returned id.
func (l *Latencies) Sent(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if got, ok := l.early[id]; ok {
		l.lat = append(l.lat, got.Sub(at))
		delete(l.early, id)
		return
	}
	if l.sent == nil {
		l.sent = map[string]time.Time{}
	}
	l.sent[id] = at
}

// Seen records that id was delivered at now.
func (l *Latencies) Seen(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.sent[id]; ok {
		l.lat = append(l.lat, now.Sub(at))
		delete(l.sent, id)
		return
	}
	if l.early == nil {
		l.early = map[string]time.Time{}
	}
	l.early[id] = now
}

// Len is the number of latencies recorded.
func (l *Latencies) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lat)
}

// Quantiles returns the p50, p99 and p999 of the latencies recorded, in
// milliseconds (zeros when there are none).
func (l *Latencies) Quantiles() (p50, p99, p999 float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l.lat)
	q := func(p float64) float64 {
		return float64(l.lat[min(len(l.lat)-1, int(float64(len(l.lat))*p))].Microseconds()) / 1000
	}
	return q(0.5), q(0.99), q(0.999)
}

// Reset forgets everything recorded.
func (l *Latencies) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent, l.early, l.lat = nil, nil, nil
}
