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
// write). Bounded by count (max) and by an estimate of the bytes the jobs
// hold (maxBytes): past either, arbitrary entries are dropped until the
// new one fits with room to spare; a max of 0 keeps nothing.
type jobCache struct {
	mu       sync.Mutex
	m        map[string]cachedJob
	max      int
	maxBytes int64
	bytes    int64
}

type cachedJob struct {
	j    *core.Job
	size int64
}

func (c *jobCache) get(id string) *core.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id].j
}

func (c *jobCache) put(j *core.Job) {
	if c.max <= 0 {
		return
	}
	size := int64(0)
	if !j.Status.Terminal() {
		size = jobSize(j)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedJob{}
	}
	c.remove(j.ID)
	if j.Status.Terminal() || (c.maxBytes > 0 && size > c.maxBytes/4) {
		return // ended, or too big to be worth a quarter of the cache
	}
	if len(c.m) >= c.max || (c.maxBytes > 0 && c.bytes+size > c.maxBytes) {
		// Drop about half, by count and by bytes.
		for k := range c.m {
			c.remove(k)
			if len(c.m) <= c.max/2 && (c.maxBytes <= 0 || c.bytes+size <= c.maxBytes/2) {
				break
			}
		}
	}
	c.m[j.ID] = cachedJob{j, size}
	c.bytes += size
}

// remove drops id; the caller holds mu.
func (c *jobCache) remove(id string) {
	if e, ok := c.m[id]; ok {
		c.bytes -= e.size
		delete(c.m, id)
	}
}

func (c *jobCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(id)
}

// jobSize estimates the bytes a job holds: its strings and the values of
// its input, history, results and metadata, with a word or two of
// overhead for each. Parts shared with other versions of the job are
// counted in each, so it errs on the high side.
func jobSize(j *core.Job) int64 {
	n := int64(512 + len(j.ID) + len(j.Blueprint) + len(j.Version) + len(j.State) + len(j.WebhookURL) + len(j.ApprovalMessage))
	n += valueSize(j.Input) + valueSize(j.History) + valueSize(j.Metadata) + valueSize(j.Security)
	n += resultSize(j.Result) + int64(64*j.Tasks.Len()) + int64(56*len(j.Children))
	for _, r := range j.Results {
		n += resultSize(r)
	}
	if j.Error != nil {
		n += int64(32+len(j.Error.Code)+len(j.Error.Message)) + valueSize(j.Error.Details)
	}
	return n
}

func resultSize(r *core.Result) int64 {
	if r == nil {
		return 0
	}
	n := int64(32+len(r.Status)) + valueSize(r.Data)
	if r.Error != nil {
		n += int64(32+len(r.Error.Code)+len(r.Error.Message)) + valueSize(r.Error.Details)
	}
	return n
}

// valueSize estimates the bytes of a decoded JSON or language value.
func valueSize(v any) int64 {
	switch v := v.(type) {
	case nil:
		return 0
	case string:
		return int64(16 + len(v))
	case map[string]any:
		n := int64(48)
		for k, e := range v {
			n += int64(16+len(k)) + 16 + valueSize(e)
		}
		return n
	case []any:
		n := int64(24)
		for _, e := range v {
			n += 16 + valueSize(e)
		}
		return n
	case []string:
		n := int64(24)
		for _, e := range v {
			n += int64(16 + len(e))
		}
		return n
	default:
		return 16
	}
}

// workerCache keeps worker records for a few seconds so a long poll does
// not read the record each time; a registration here refreshes it.
type workerCache struct {
	mu    sync.Mutex
	m     map[string]cachedWorker
	swept time.Time
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

// sweep drops the records older than the cache's life, so a worker that
// expired or left through another instance is not held here.
func (c *workerCache) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.swept) < workerCacheTTL && !now.Before(c.swept) {
		return
	}
	c.swept = now
	for id, e := range c.m {
		if now.Sub(e.at) > workerCacheTTL || now.Before(e.at) {
			delete(c.m, id)
		}
	}
}

// len is how many records the cache holds.
func (c *workerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
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
