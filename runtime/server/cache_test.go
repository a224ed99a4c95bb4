package server

import (
	"sync"
	"testing"
)

// jobLocks let one holder per job id at a time, leave other ids free and
// forget an id once nobody holds or waits for it.
func TestJobLocks(t *testing.T) {
	var l jobLocks
	var wg sync.WaitGroup
	in := map[string]int{}
	var mu sync.Mutex
	for i := range 200 {
		id := []string{"a", "b"}[i%2]
		wg.Go(func() {
			unlock := l.lock(id)
			mu.Lock()
			in[id]++
			n := in[id]
			mu.Unlock()
			if n != 1 {
				t.Errorf("%d holders of %s at once", n, id)
			}
			mu.Lock()
			in[id]--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	ua := l.lock("a")
	ub := l.lock("b") // another id is not blocked by a
	ub()
	ua()
	if len(l.m) != 0 {
		t.Fatalf("%d ids still held after every unlock", len(l.m))
	}
}
