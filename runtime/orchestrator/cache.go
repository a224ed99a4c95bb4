package orchestrator

import (
	"sync"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// jobCache keeps the jobs this instance committed last, so the next event
// of a job usually needs no read from the store: the commit's version
// check catches a copy another instance made stale, and the caller then
// reads the job again. Jobs in it are never changed (the engine copies on
// write). Bounded: past max entries an arbitrary half is dropped; a max
// of 0 keeps nothing.
type jobCache struct {
	mu  sync.Mutex
	m   map[string]*core.Job
	max int
}

func (c *jobCache) get(id string) *core.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *jobCache) put(j *core.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 {
		return
	}
	if c.m == nil {
		c.m = map[string]*core.Job{}
	}
	if j.Status.Terminal() {
		delete(c.m, j.ID)
		return
	}
	if len(c.m) >= c.max {
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n >= c.max/2 {
				break
			}
		}
	}
	c.m[j.ID] = j
}

func (c *jobCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// workerCache keeps worker records for a few seconds so a long poll does
// not read the record each time; a registration here refreshes it.
type workerCache struct {
	mu sync.Mutex
	m  map[string]cachedWorker
}

type cachedWorker struct {
	rec *store.WorkerRecord
	at  time.Time
}

const workerCacheTTL = 5 * time.Second

func (c *workerCache) get(id string, now time.Time) *store.WorkerRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.at) > workerCacheTTL || now.Before(e.at) {
		return nil
	}
	return e.rec
}

func (c *workerCache) put(rec *store.WorkerRecord, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedWorker{}
	}
	c.m[rec.ID] = cachedWorker{rec, now}
}

func (c *workerCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// jobLocks serialize the events of one job on this instance: results of a
// job's parallel branches that arrive together are applied one after the
// other on the cached copy, instead of racing to commit and re-reading on
// every lost version check (which makes fan-in quadratic). Instances
// still race, and the store's version check settles that.
type jobLocks struct {
	mu sync.Mutex
	m  map[string]*jobLock
}

type jobLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks job id and returns its unlock.
func (l *jobLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*jobLock{}
	}
	e := l.m[id]
	if e == nil {
		e = &jobLock{}
		l.m[id] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
