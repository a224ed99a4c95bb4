package redisstore

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Tests of the key layout (lib.lua) that the conformance suite does not
// reach: the index growing and colliding, withdrawals deep in a queue,
// tasks put back in order, the layout check.

var lt0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// layoutStore returns a store on a fresh prefix, a plain client on the
// same Redis, and the prefix.
func layoutStore(t *testing.T) (*Store, *redis.Client, string) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), redis.NewClient(opt), Options{Prefix: prefix, OwnsClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return s, c, prefix
}

func ltJob(id string) *core.Job {
	return &core.Job{ID: id, Blueprint: "bp", Version: "h", State: "s", Status: wire.StatusRunning, CreatedAt: lt0, UpdatedAt: lt0}
}

func ltTask(id, jobID string) *core.Task {
	return &core.Task{ID: id, JobID: jobID, Type: "a", Attempt: 1, Timeout: time.Minute, EnqueuedAt: lt0}
}

func createWith(t *testing.T, s *Store, id string, tasks ...*core.Task) {
	t.Helper()
	if err := s.CreateJob(context.Background(), store.CommitParams{Job: ltJob(id), Effects: &core.Effects{Enqueue: tasks}}); err != nil {
		t.Fatal(err)
	}
}

func leaseIDs(t *testing.T, s *Store, worker string, n int) []string {
	t.Helper()
	var out []string
	for range n + 1 {
		tk, err := s.Lease(context.Background(), store.LeaseParams{WorkerID: worker, Types: []string{"a"}, Now: lt0})
		if err != nil {
			t.Fatal(err)
		}
		if tk == nil {
			break
		}
		out = append(out, tk.ID)
	}
	return out
}

// ixEntry is where lib.lua keeps the index entry of s ('j' or 't' and a
// packed id): its bucket key and field.
func ixEntry(t *testing.T, c *redis.Client, prefix, s string) (key, field string) {
	t.Helper()
	xb, err := c.HGet(context.Background(), "{"+prefix+"}:cnt", "xb").Int64()
	if err == redis.Nil {
		xb, err = 64, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(s))
	var h uint64
	for _, b := range sum[:6] {
		h = h<<8 | uint64(b)
	}
	m := uint64(64)
	for m*2 <= uint64(xb) {
		m *= 2
	}
	b := h % (2 * m)
	if b >= uint64(xb) {
		b = h % m
	}
	return fmt.Sprintf("{%s}:ix:%d", prefix, b), string(sum[:6])
}

// The index splits its buckets as it grows; every job and task stays
// found and every bucket a small listpack.
func TestLayoutIndexGrows(t *testing.T) {
	s, c, prefix := layoutStore(t)
	ctx := context.Background()
	const jobs = 3000 // 6,000 entries: 64 buckets split to 150
	for i := range jobs {
		id := fmt.Sprint("j", i)
		createWith(t, s, id, ltTask("t"+id, id))
	}
	xb, err := c.HGet(ctx, "{"+prefix+"}:cnt", "xb").Int()
	if err != nil || xb != 2*jobs/40 {
		t.Errorf("%d buckets (%v), want %d", xb, err, 2*jobs/40)
	}
	for b := range xb {
		k := fmt.Sprintf("{%s}:ix:%d", prefix, b)
		n, _ := c.HLen(ctx, k).Result()
		enc, _ := c.ObjectEncoding(ctx, k).Result()
		if n == 0 || n > 128 || enc != "listpack" {
			t.Errorf("bucket %d: %d entries, %s", b, n, enc)
		}
	}
	for i := range jobs {
		id := fmt.Sprint("j", i)
		if j, err := s.GetJob(ctx, id); err != nil || j.ID != id {
			t.Fatalf("job %s: %v, %v", id, j, err)
		}
		if info, err := s.Task(ctx, "t"+id); err != nil || info.Task.JobID != id || info.State != store.TaskQueued {
			t.Fatalf("task t%s: %+v, %v", id, info, err)
		}
	}
	if _, err := s.GetJob(ctx, "j-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown job: %v", err)
	}
}

// Index entries whose hashes collide hold several job numbers; readers
// take the one whose record has the id.
func TestLayoutIndexCollisions(t *testing.T) {
	s, c, prefix := layoutStore(t)
	ctx := context.Background()
	createWith(t, s, "ja", ltTask("ta", "ja"))
	createWith(t, s, "jb", ltTask("tb", "jb"))
	set := func(s, v string) {
		k, f := ixEntry(t, c, prefix, s)
		if err := c.HSet(ctx, k, f, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	get := func(s string) string {
		k, f := ixEntry(t, c, prefix, s)
		v, _ := c.HGet(ctx, k, f).Result()
		return v
	}
	// ja is job 0 and jb job 1: make each entry name the other first.
	set("jja", "1 0")
	set("tta", "1 0")
	set("jjc", "0") // jc does not exist; its entry names ja
	set("ttc", "1")
	if j, err := s.GetJob(ctx, "ja"); err != nil || j.ID != "ja" {
		t.Errorf("job ja: %v, %v", j, err)
	}
	if info, err := s.Task(ctx, "ta"); err != nil || info.Task.JobID != "ja" {
		t.Errorf("task ta: %+v, %v", info, err)
	}
	if _, err := s.GetJob(ctx, "jc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("job jc through a colliding entry: %v", err)
	}
	if _, err := s.Task(ctx, "tc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("task tc through a colliding entry: %v", err)
	}
	createWith(t, s, "jc", ltTask("tc", "jc"))
	if got := get("jjc"); got != "0 2" {
		t.Errorf("entry of jc after creating it: %q, want \"0 2\"", got)
	}
	if j, err := s.GetJob(ctx, "jc"); err != nil || j.ID != "jc" {
		t.Errorf("job jc: %v, %v", j, err)
	}
	if info, err := s.Task(ctx, "tc"); err != nil || info.Task.JobID != "jc" {
		t.Errorf("task tc: %+v, %v", info, err)
	}
	if got := leaseIDs(t, s, "w", 3); !cmp.Equal(got, []string{"ta", "tb", "tc"}) {
		t.Errorf("leased %v", got)
	}
}

// A task withdrawn near either end of a queue leaves it at once; one
// deeper stays until a lease reaches it and drops it, never leased.
func TestLayoutWithdrawDeep(t *testing.T) {
	s, c, prefix := layoutStore(t)
	ctx := context.Background()
	const n = 2100 // t1050 is more than 1,000 members from either end
	for i := range n {
		id := fmt.Sprint("j", i)
		createWith(t, s, id, ltTask(fmt.Sprint("t", i), id))
	}
	for _, i := range []int{10, 1050, 2050} {
		if ok, err := s.WithdrawIfQueued(ctx, fmt.Sprint("t", i)); !ok || err != nil {
			t.Fatalf("withdraw t%d: %v, %v", i, ok, err)
		}
	}
	list := "{" + prefix + "}:ql:a:0"
	if l, _ := c.LLen(ctx, list).Result(); l != n-2 {
		t.Errorf("queue holds %d members, want %d (t1050 left in place)", l, n-2)
	}
	if st, _ := s.Stats(ctx); st.Queued != n-3 {
		t.Errorf("%d queued, want %d", st.Queued, n-3)
	}
	var want []string
	for i := range n {
		if i != 10 && i != 1050 && i != 2050 {
			want = append(want, fmt.Sprint("t", i))
		}
	}
	if got := leaseIDs(t, s, "w", n); !cmp.Equal(got, want) {
		t.Errorf("lease order differs: %d leased, want %d", len(got), len(want))
	}
	if ex, _ := c.Exists(ctx, list, "{"+prefix+"}:qp:a").Result(); ex != 0 {
		t.Errorf("%d queue keys left after draining", ex)
	}
}

// Tasks put back on a queue keep their enqueue order: a lease undone,
// and a dead worker's own queue moving to the shared one.
func TestLayoutPutBackInOrder(t *testing.T) {
	s, _, _ := layoutStore(t)
	ctx := context.Background()
	for _, w := range []string{"w1", "w2"} {
		if err := s.RegisterWorker(ctx, store.WorkerRecord{Worker: dispatch.Worker{ID: w, Skills: []string{"a"}},
			ExpiresAt: lt0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 { // t1, t3, t5 on w1's own queue
		id := fmt.Sprint("j", i)
		tk := ltTask(fmt.Sprint("t", i), id)
		if i%2 == 1 {
			tk.Worker = "w1"
		}
		createWith(t, s, id, tk)
	}
	for _, want := range []string{"t0", "t2"} {
		if tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w2", Types: []string{"a"}, Now: lt0}); err != nil || tk == nil || tk.ID != want {
			t.Fatalf("w2 leased %v (%v), want %s", tk, err, want)
		}
	}
	// t2's poll ended before it could answer: t2 goes back before t4.
	if n, err := s.sc.unlease.Run(ctx, s.rdb, s.keys, packTask("t2"), "w2").Int(); n != 1 || err != nil {
		t.Fatalf("unlease: %d, %v", n, err)
	}
	if err := s.RemoveWorker(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if got, want := leaseIDs(t, s, "w2", 6), []string{"t1", "t2", "t3", "t4", "t5"}; !cmp.Equal(got, want) {
		t.Errorf("leased %v, want %v", got, want)
	}
}

// A prefix holding data of another key layout is refused, not misread.
func TestLayoutChecked(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		key   string
		val   string
		ok    bool
		found string // the layout the refusal names
	}{
		{"first layout", "jobs", "", false, "1"},
		{"another layout", "layout", "9", false, "9"},
		{"this layout", "layout", layout, true, ""},
		{"empty", "", "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := srv.Fresh(t)
			if tc.key != "" {
				if err := c.Set(ctx, "{"+prefix+"}:"+tc.key, tc.val, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			s, err := New(ctx, redis.NewClient(opt), Options{Prefix: prefix, OwnsClient: true})
			if tc.ok != (err == nil) {
				t.Fatalf("New: %v", err)
			}
			if want := "holds data of key layout " + tc.found + ","; !tc.ok && !strings.Contains(err.Error(), want) {
				t.Errorf("New: %v; want it to say %q", err, want)
			}
			if s != nil {
				s.Close()
			}
			if tc.ok {
				if v, _ := c.Get(ctx, "{"+prefix+"}:layout").Result(); v != layout {
					t.Errorf("layout %q, want %q", v, layout)
				}
			}
		})
	}
}
