package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

var redisNil = redis.Nil

// RegisterWorker implements store.Store.
func (s *Store) RegisterWorker(ctx context.Context, w store.WorkerRecord) error {
	if w.ID == "" {
		return errors.New("register worker: worker id is required")
	}
	if err := s.check(); err != nil {
		return err
	}
	if w.Reputation == 0 {
		w.Reputation = 1
	}
	if w.Status == "" {
		w.Status = wire.WorkerIdle
	}
	w.Load = 0
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("register worker %q: encode: %w", w.ID, err)
	}
	wk := s.key("w", w.ID)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, wk)
		p.HSet(ctx, wk, "d", string(b))
		p.ZAdd(ctx, s.key("workers"), redis.Z{Score: float64(w.ExpiresAt.UnixMicro()), Member: w.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("register worker %q: redis: %w", w.ID, err)
	}
	return nil
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, p store.HeartbeatParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	var ex, exUS, hs string
	if !p.ExpiresAt.IsZero() {
		ex, exUS = p.ExpiresAt.Format(time.RFC3339Nano), us(p.ExpiresAt)
	}
	if p.HotSkills != nil {
		b, _ := json.Marshal(p.HotSkills)
		hs = string(b)
	}
	n, err := s.sc.heartbeat.Run(ctx, s.rdb, s.keys, p.WorkerID, us(p.Now), string(p.Status),
		p.Now.Format(time.RFC3339Nano), ex, exUS, hs).Int()
	if err != nil {
		return false, fmt.Errorf("heartbeat of worker %q: redis: %w", p.WorkerID, err)
	}
	return n == 1, nil
}

func (s *Store) getWorkers(ctx context.Context, id string) ([]store.WorkerRecord, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	res, err := s.sc.getWorkers.Run(ctx, s.rdb, s.keys, id).Slice()
	if err != nil {
		return nil, fmt.Errorf("read workers: redis: %w", err)
	}
	var out []store.WorkerRecord
	for i := 0; i+6 < len(res); i += 7 {
		str := func(j int) string { v, _ := res[i+j].(string); return v }
		var w store.WorkerRecord
		if err := json.Unmarshal([]byte(str(1)), &w); err != nil {
			return nil, fmt.Errorf("worker %q: decode: %w", str(0), err)
		}
		if st := str(2); st != "" {
			w.Status = wire.WorkerStatus(st)
		}
		if ls := str(3); ls != "" {
			w.LastSeen, _ = time.Parse(time.RFC3339Nano, ls)
		}
		if ex := str(4); ex != "" {
			w.ExpiresAt, _ = time.Parse(time.RFC3339Nano, ex)
		}
		if hs := str(5); hs != "" {
			w.HotSkills = nil
			_ = json.Unmarshal([]byte(hs), &w.HotSkills)
		}
		load, _ := res[i+6].(int64)
		w.Load = int(load)
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b store.WorkerRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Worker implements store.Store.
func (s *Store) Worker(ctx context.Context, id string) (*store.WorkerRecord, error) {
	if id == "" {
		return nil, fmt.Errorf("worker %q: %w", id, store.ErrNotFound)
	}
	ws, err := s.getWorkers(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("worker %q: %w", id, store.ErrNotFound)
	}
	return &ws[0], nil
}

// Workers implements store.Store.
func (s *Store) Workers(ctx context.Context) ([]store.WorkerRecord, error) {
	return s.getWorkers(ctx, "")
}

// Candidates implements store.Store.
func (s *Store) Candidates(ctx context.Context, taskType string) ([]dispatch.Worker, error) {
	ws, err := s.getWorkers(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []dispatch.Worker
	for _, w := range ws {
		if w.HasSkill(taskType) {
			out = append(out, w.Worker)
		}
	}
	return out, nil
}

// ExpireWorkers implements store.Store.
func (s *Store) ExpireWorkers(ctx context.Context, now time.Time) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ids, err := s.sc.workers.Run(ctx, s.rdb, s.keys, "due", us(now)).StringSlice()
	if err != nil && err != redisNil {
		return nil, fmt.Errorf("expire workers: redis: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// RemoveWorker implements store.Store.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if err := s.check(); err != nil {
		return err
	}
	ids, err := s.sc.workers.Run(ctx, s.rdb, s.keys, "one", id).StringSlice()
	if err == redisNil || (err == nil && len(ids) == 0) {
		return fmt.Errorf("remove worker %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove worker %q: redis: %w", id, err)
	}
	return nil
}

// CancelRequests implements store.Store.
func (s *Store) CancelRequests(ctx context.Context, workerID string) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	k := s.key("cr", workerID)
	var lr *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		lr = p.LRange(ctx, k, 0, -1)
		p.Del(ctx, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel requests of worker %q: redis: %w", workerID, err)
	}
	if len(lr.Val()) == 0 {
		return nil, nil
	}
	ids := lr.Val()
	for i, id := range ids {
		ids[i] = unpackTask(id)
	}
	return ids, nil
}

// Counter implements store.Store.
func (s *Store) Counter(ctx context.Context, name string) (uint64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	n, err := s.rdb.Incr(ctx, s.key("ctr", name)).Uint64()
	if err != nil {
		return 0, fmt.Errorf("counter %q: redis: %w", name, err)
	}
	return n, nil
}

// ---- named stores, versions, stats ----

// SeedStores implements store.Store.
func (s *Store) SeedStores(ctx context.Context, blueprint string, initial map[string]map[string]any) error {
	if err := s.check(); err != nil {
		return err
	}
	var arg [][]string
	for name, kv := range initial {
		row := []string{name}
		for k, v := range kv {
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("seed store %s.%s key %q: %w", blueprint, name, k, err)
			}
			row = append(row, k, string(b))
		}
		arg = append(arg, row)
	}
	if len(arg) == 0 {
		return nil
	}
	b, _ := json.Marshal(arg)
	if err := s.sc.seed.Run(ctx, s.rdb, s.keys, blueprint, string(b)).Err(); err != nil {
		return fmt.Errorf("seed stores of %q: redis: %w", blueprint, err)
	}
	return nil
}

// Stores implements store.Store.
func (s *Store) Stores(ctx context.Context, blueprint string) (map[string]map[string]any, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	res, err := s.sc.stores.Run(ctx, s.rdb, s.keys, blueprint).Slice()
	if err != nil {
		return nil, fmt.Errorf("stores of %q: redis: %w", blueprint, err)
	}
	out := map[string]map[string]any{}
	for i := 0; i+1 < len(res); i += 2 {
		name, _ := res[i].(string)
		m := map[string]any{}
		kv, _ := res[i+1].([]any)
		for j := 0; j+1 < len(kv); j += 2 {
			k, _ := kv[j].(string)
			v, _ := kv[j+1].(string)
			var val any
			if err := json.Unmarshal([]byte(v), &val); err != nil {
				return nil, fmt.Errorf("store %s.%s key %q: decode: %w", blueprint, name, k, err)
			}
			m[k] = val
		}
		out[name] = m
	}
	return out, nil
}

// PutVersion implements store.Store.
func (s *Store) PutVersion(ctx context.Context, v store.Version) error {
	if v.Hash == "" {
		return errors.New("put version: hash is required")
	}
	if err := s.check(); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("put version %q: encode: %w", v.Hash, err)
	}
	if err := s.rdb.SetNX(ctx, s.key("v", v.Hash), b, 0).Err(); err != nil {
		return fmt.Errorf("put version %q: redis: %w", v.Hash, err)
	}
	return nil
}

// Version implements store.Store.
func (s *Store) Version(ctx context.Context, hash string) (*store.Version, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	b, err := s.rdb.Get(ctx, s.key("v", hash)).Bytes()
	if err == redisNil {
		return nil, fmt.Errorf("version %q: %w", hash, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("version %q: redis: %w", hash, err)
	}
	var v store.Version
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("version %q: decode: %w", hash, err)
	}
	return &v, nil
}

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	if err := s.check(); err != nil {
		return store.Stats{}, err
	}
	res, err := s.sc.stats.Run(ctx, s.rdb, s.keys).Slice()
	if err != nil || len(res) < 6 {
		return store.Stats{}, fmt.Errorf("stats: redis: %v", err)
	}
	n := func(i int) int { v, _ := res[i].(int64); return int(v) }
	st := store.Stats{Jobs: n(0), Queued: n(1), Leased: n(2), Timers: n(3), Workers: n(4), JobsByStatus: map[wire.JobStatus]int{}}
	kv, _ := res[5].([]any)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		v, _ := kv[i+1].(string)
		c, _ := strconv.Atoi(v)
		if c != 0 {
			st.JobsByStatus[statusName(k)] += c
		}
	}
	s.mu.Lock()
	st.Waiting = s.waiters.n
	s.mu.Unlock()
	return st, nil
}
