package orchestrator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Workers that expire leave this instance's cache: 300 large
// registrations hold nothing once gone.
func TestExpiredWorkersLeaveTheCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	x := newOrchestrator(t, memstore.New(memstore.Options{Clock: clock}), Options{Clock: clock})
	ctx := context.Background()
	big := strings.Repeat("x", 64<<10)
	for i := range 300 {
		id := fmt.Sprint("w", i)
		if err := x.Register(ctx, Registration{WorkerID: id, Skills: []string{"a"}, Info: map[string]any{"pad": big}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := x.workerRecs.len(); n != 300 {
		t.Fatalf("%d workers cached after registering, want 300", n)
	}
	now = now.Add(3 * x.cfg.HealthCheckInterval)
	if err := x.reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	if n := x.workerRecs.len(); n != 0 {
		t.Errorf("%d expired workers still cached", n)
	}
	if ws, _ := x.Workers(ctx); len(ws) != 0 {
		t.Errorf("%d expired workers still stored", len(ws))
	}
}

// Records of workers that left through another instance go after the
// cache's life.
func TestWorkerCacheSwept(t *testing.T) {
	var c workerCache
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.put(&store.WorkerRecord{Worker: dispatch.Worker{ID: "w1"}}, now)
	c.sweep(now.Add(workerCacheTTL + time.Second))
	if n := c.len(); n != 0 {
		t.Errorf("%d records after their life, want 0", n)
	}
}

// The job cache holds no more than its bytes: big jobs push others out,
// and one over a quarter of the bound is not kept.
func TestJobCacheBoundedByBytes(t *testing.T) {
	c := jobCache{max: 1000, maxBytes: 100 << 10}
	pad := strings.Repeat("x", 10<<10)
	for i := range 50 {
		c.put(&core.Job{ID: fmt.Sprint("j", i), Status: wire.StatusRunning, Input: map[string]any{"pad": pad}})
		if c.bytes > c.maxBytes {
			t.Fatalf("after %d jobs of 10 KiB: %d bytes held, bound %d", i+1, c.bytes, c.maxBytes)
		}
	}
	if len(c.m) == 0 || len(c.m) > 10 {
		t.Errorf("%d jobs of 10 KiB held under 100 KiB", len(c.m))
	}
	var sum int64
	for _, e := range c.m {
		sum += e.size
	}
	if sum != c.bytes {
		t.Errorf("bytes counted %d, entries hold %d", c.bytes, sum)
	}
	huge := &core.Job{ID: "huge", Status: wire.StatusRunning, Input: map[string]any{"pad": strings.Repeat("x", 30<<10)}}
	c.put(huge)
	if c.get("huge") != nil {
		t.Error("a job over a quarter of the bound was kept")
	}
	c.put(&core.Job{ID: "j49", Status: wire.StatusFinished})
	if c.get("j49") != nil {
		t.Error("an ended job was kept")
	}
}

// A create that did not commit gives its quota back; a refused one
// spends none.
func TestQuotaGivenBack(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	x := newOrchestrator(t, st, Options{})
	m, err := x.Endpoint("/jobs/stock")
	if err != nil {
		t.Fatal(err)
	}
	one := int64(1)
	cl := &config.Client{Name: "acme", MonthlyAttempts: &one}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := x.Create(cctx, cl, m, CreateRequest{Input: map[string]any{"n": int64(1)}}); err == nil {
		t.Fatal("a create whose caller went away succeeded")
	}
	if _, _, err := x.Create(ctx, cl, m, CreateRequest{Input: map[string]any{"n": int64(1)}}); err != nil {
		t.Fatalf("the one create of the quota: %v", err)
	}
	for range 2 {
		if _, _, err := x.Create(ctx, cl, m, CreateRequest{Input: map[string]any{"n": int64(1)}}); err == nil {
			t.Fatal("a create past the quota succeeded")
		}
	}
	name := "quota:" + cl.Name + ":" + time.Now().UTC().Format("2006-01")
	if n, _ := st.Counter(ctx, name); n != 2 {
		t.Errorf("quota counter after one create and refusals, then this read: %d, want 2", n)
	}
}
