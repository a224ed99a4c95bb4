package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

var _ store.Schedules = (*Store)(nil)

// A schedule's state is the hash sch:<name>: l = Last (Unix ns), j =
// LastJob, p = "1" when paused.

// advanceScript moves l from ARGV[1] ("" when the state must not exist
// yet) to ARGV[2], and sets j to ARGV[3] when not empty.
var advanceScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'l')
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'l', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'j', ARGV[3]) end
return 1
`)

// ScheduleState implements store.Schedules.
func (s *Store) ScheduleState(ctx context.Context, name string) (store.ScheduleState, bool, error) {
	if err := s.check(); err != nil {
		return store.ScheduleState{}, false, err
	}
	h, err := s.rdb.HGetAll(ctx, s.key("sch", name)).Result()
	if err != nil {
		return store.ScheduleState{}, false, fmt.Errorf("schedule %q: redis: %w", name, err)
	}
	if len(h) == 0 {
		return store.ScheduleState{}, false, nil
	}
	var st store.ScheduleState
	if l := h["l"]; l != "" {
		ns, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			return st, false, fmt.Errorf("schedule %q: bad time %q", name, l)
		}
		st.Last = time.Unix(0, ns).UTC()
	}
	st.LastJob, st.Paused = h["j"], h["p"] == "1"
	return st, true, nil
}

// AdvanceSchedule implements store.Schedules.
func (s *Store) AdvanceSchedule(ctx context.Context, name string, from, to time.Time, job string) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	f := ""
	if !from.IsZero() {
		f = strconv.FormatInt(from.UnixNano(), 10)
	}
	n, err := advanceScript.Run(ctx, s.rdb, []string{s.key("sch", name)}, f, strconv.FormatInt(to.UnixNano(), 10), job).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("schedule %q: redis: %w", name, err)
	}
	return n == 1, nil
}

// PauseSchedule implements store.Schedules.
func (s *Store) PauseSchedule(ctx context.Context, name string, paused bool, now time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	p := "0"
	if paused {
		p = "1"
	}
	k := s.key("sch", name)
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSetNX(ctx, k, "l", strconv.FormatInt(now.UnixNano(), 10))
		pipe.HSet(ctx, k, "p", p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("schedule %q: redis: %w", name, err)
	}
	return nil
}
