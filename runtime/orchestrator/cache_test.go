package orchestrator

import (
	"sync"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
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

// remote is a store that does not declare itself in-process.
type remote struct{ store.Store }

func (remote) Features() store.Features { return store.Features{} }

// The orchestrator keeps copies of jobs for a store over the network only; a
// cache of size 0 keeps nothing.
func TestJobCacheOnlyForRemoteStores(t *testing.T) {
	for _, c := range []struct {
		st   store.Store
		want bool
	}{{memstore.New(memstore.Options{}), false}, {remote{memstore.New(memstore.Options{})}, true}} {
		s, err := New(Options{Store: c.st, Config: config.Config{BlueprintsDir: t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		j := &core.Job{ID: "j1", Status: wire.StatusRunning}
		s.jobs.put(j)
		if got := s.jobs.get("j1") == j; got != c.want {
			t.Errorf("%T: cached %v, want %v", c.st, got, c.want)
		}
	}
}
