package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

var (
	endLeasesOnce   sync.Once
	endLeasesScript *redis.Script
	endLeasesErr    error
)

// endLeases is lua/endleases.lua with lib.lua prepended.
func endLeases() (*redis.Script, error) {
	endLeasesOnce.Do(func() {
		lib, err := luaFS.ReadFile("lua/lib.lua")
		if err != nil {
			endLeasesErr = err
			return
		}
		src, err := luaFS.ReadFile("lua/endleases.lua")
		if err != nil {
			endLeasesErr = err
			return
		}
		endLeasesScript = redis.NewScript(string(lib) + "\n" + string(src))
	})
	return endLeasesScript, endLeasesErr
}

// EndLeases implements store.Store.
func (s *Store) EndLeases(ctx context.Context, p store.EndLeasesParams) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	sc, err := endLeases()
	if err != nil {
		return 0, err
	}
	args := []any{p.WorkerID, us(p.LeasedBefore)}
	for _, id := range packTasks(p.Keep) {
		args = append(args, id)
	}
	n, err := sc.Run(ctx, s.rdb, s.keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("end leases of worker %q: redis: %w", p.WorkerID, err)
	}
	return n, nil
}

// reserveScript sets a key that is not set, else returns its value.
var reserveScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, ''} end
return {0, redis.call('GET', KEYS[1]) or ''}`)

// uncountScript takes one from a counter above zero.
var uncountScript = redis.NewScript(`
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1`)

// Reserve implements store.Store.
func (s *Store) Reserve(ctx context.Context, key, value string, ttl time.Duration) (string, bool, error) {
	if err := s.check(); err != nil {
		return "", false, err
	}
	res, err := reserveScript.Run(ctx, s.rdb, []string{s.key("rsv", key)}, value, max(ttl.Milliseconds(), 1)).Slice()
	if err != nil || len(res) != 2 {
		return "", false, fmt.Errorf("reserve %q: redis: %v", key, err)
	}
	first, _ := res[0].(int64)
	held, _ := res[1].(string)
	return held, first == 1, nil
}

// Uncount implements store.Store.
func (s *Store) Uncount(ctx context.Context, name string) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := uncountScript.Run(ctx, s.rdb, []string{s.key("ctr", name)}).Err(); err != nil {
		return fmt.Errorf("uncount %q: redis: %w", name, err)
	}
	return nil
}
