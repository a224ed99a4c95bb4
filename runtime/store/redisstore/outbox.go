package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// The outbox (store.Outbox) and the live search (store.Searcher).
//
//	ob    zset   ended jobs waiting for the archive: job number by end time (µs)
//	rt    zset   archived jobs kept until their retention passes: the same
//	jlt   hash   jl list number -> how many of its elements are removed jobs
//	cnt   hash   field jr: how many jobs were removed
//
// A commit that ends a job adds it to ob in the same script (commit.lua)
// once KeepOutbox was called. MarkArchived moves jobs from ob to rt;
// RemoveArchived (remove.lua) empties a removed job's element of its jl
// list, so the numbers of the others stay in place, and deletes a list
// once all 1,024 of its jobs are removed: the memory of a removed job
// comes back but for a few bytes while its list lives.

var (
	_ store.Outbox   = (*Store)(nil)
	_ store.Searcher = (*Store)(nil)
)

var outboxScripts = func() (sc struct{ pending, archived, remove, scan *redis.Script }) {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		panic(err)
	}
	load := func(name string) *redis.Script {
		src, err := luaFS.ReadFile("lua/" + name + ".lua")
		if err != nil {
			panic(err)
		}
		return redis.NewScript(string(lib) + "\n" + string(src))
	}
	sc.pending, sc.archived, sc.remove, sc.scan = load("pending"), load("archived"), load("remove"), load("scan")
	return sc
}()

// KeepOutbox implements store.Outbox.
func (s *Store) KeepOutbox() { s.outbox.Store(true) }

func endTime(j *core.Job) time.Time {
	if !j.FinishedAt.IsZero() {
		return j.FinishedAt
	}
	return j.UpdatedAt
}

// PendingArchive implements store.Outbox.
func (s *Store) PendingArchive(ctx context.Context, limit int) ([]store.EndedJob, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	res, err := outboxScripts.pending.Run(ctx, s.rdb, s.keys, limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("read outbox: redis: %w", err)
	}
	var out []store.EndedJob
	for i := 0; i+6 < len(res); i += 7 {
		id := unpackJob(res[i])
		j, err := decodeJob(id, res[i+1], res[i+2], res[i+3], res[i+4], res[i+5])
		if err != nil {
			return nil, err
		}
		tl, err := decodeTimeline(res[i+5], res[i+6])
		if err != nil {
			return nil, fmt.Errorf("timeline of job %q: decode: %w", id, err)
		}
		out = append(out, store.EndedJob{Job: j, Timeline: tl})
	}
	return out, nil
}

// MarkArchived implements store.Outbox.
func (s *Store) MarkArchived(ctx context.Context, ids []string) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = packJob(id)
	}
	if err := outboxScripts.archived.Run(ctx, s.rdb, s.keys, args...).Err(); err != nil {
		return fmt.Errorf("mark jobs archived: redis: %w", err)
	}
	return nil
}

// RemoveArchived implements store.Outbox.
func (s *Store) RemoveArchived(ctx context.Context, endedBefore time.Time, limit int) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	n, err := outboxScripts.remove.Run(ctx, s.rdb, s.keys, strconv.FormatInt(endedBefore.UnixMicro(), 10), limit).Int()
	if err != nil {
		return 0, fmt.Errorf("remove archived jobs: redis: %w", err)
	}
	return n, nil
}

// OutboxLen implements store.Outbox.
func (s *Store) OutboxLen(ctx context.Context) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	n, err := s.rdb.ZCard(ctx, s.prefix+":ob").Result()
	if err != nil {
		return 0, fmt.Errorf("outbox length: redis: %w", err)
	}
	return int(n), nil
}

// scanBatch is how many job positions one search read covers.
const scanBatch = 512

// SearchJobs implements store.Searcher: it reads the jobs in batches of
// positions, newest first (oldest first for an ascending search), and
// matches them in Go. A search by creation time stops once its page is
// full and the jobs it reaches are older than its last by more than the
// clocks of instances creating at once could disagree.
func (s *Store) SearchJobs(ctx context.Context, q store.JobQuery) ([]*core.Job, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	q.Normalize()
	top := store.NewTop(&q)
	withTL := "0"
	if q.Worker != "" {
		withTL = "1"
	}
	read := func(from, to int) (int, []*core.Job, map[string][]core.TimelineEvent, error) {
		res, err := outboxScripts.scan.Run(ctx, s.rdb, s.keys, q.Client, from, to, withTL).Slice()
		if err != nil {
			return 0, nil, nil, fmt.Errorf("search jobs: redis: %w", err)
		}
		total, _ := res[0].(int64)
		var js []*core.Job
		tls := map[string][]core.TimelineEvent{}
		str := func(v any) string { x, _ := v.(string); return x }
		for i := 1; i+6 < len(res); i += 7 {
			id := unpackJob(str(res[i]))
			j, err := decodeJob(id, str(res[i+1]), str(res[i+2]), str(res[i+3]), str(res[i+4]), str(res[i+5]))
			if err != nil {
				return 0, nil, nil, err
			}
			if withTL == "1" {
				tl, err := decodeTimeline(str(res[i+5]), str(res[i+6]))
				if err != nil {
					return 0, nil, nil, fmt.Errorf("timeline of job %q: decode: %w", id, err)
				}
				tls[id] = tl
			}
			js = append(js, j)
		}
		return int(total), js, tls, nil
	}
	// visit offers the jobs of one batch (in scan order); false: stop.
	visit := func(js []*core.Job, tls map[string][]core.TimelineEvent) bool {
		for _, j := range js {
			k, ok := q.Key(j)
			if ok && q.Sort == store.SortCreated && top.Full(k) {
				kept := top.Jobs()
				lk, _ := q.Key(kept[len(kept)-1])
				if (!q.Asc && k.At < lk.At-creationSlack) || (q.Asc && k.At > lk.At+creationSlack) {
					return false
				}
			}
			if q.Match(j, func() []core.TimelineEvent { return tls[j.ID] }) {
				top.Offer(j)
			}
		}
		return true
	}
	if !q.Asc {
		for from := 0; ; from += scanBatch {
			total, js, tls, err := read(from, from+scanBatch-1)
			if err != nil {
				return nil, err
			}
			if !visit(js, tls) || from+scanBatch >= total {
				break
			}
		}
		return top.Jobs(), nil
	}
	total, _, _, err := read(0, -1)
	if err != nil {
		return nil, err
	}
	for to := total - 1; to >= 0; to -= scanBatch {
		_, js, tls, err := read(max(0, to-scanBatch+1), to)
		if err != nil {
			return nil, err
		}
		for i, k := 0, len(js)-1; i < k; i, k = i+1, k-1 {
			js[i], js[k] = js[k], js[i]
		}
		if !visit(js, tls) {
			break
		}
	}
	return top.Jobs(), nil
}

// creationSlack (µs) is how far apart the creation times of jobs created
// at once may be out of their creation order.
const creationSlack = int64(time.Second / time.Microsecond)
