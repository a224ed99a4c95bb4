package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

var _ store.QueueStats = (*Store)(nil)

// queueStatsScript answers, for each type in ARGV, its depth and the
// member at the head of each of its score lists (the oldest of each list:
// members start with the enqueue sequence).
var queueStatsScript = redis.NewScript(`
local P = KEYS[1]
local out = {}
for _, ty in ipairs(ARGV) do
  local n, oldest = 0, false
  for _, sc in ipairs(redis.call('ZRANGE', P .. ':qp:' .. ty, 0, -1)) do
    local key = P .. ':ql:' .. ty .. ':' .. sc
    n = n + redis.call('LLEN', key)
    local head = redis.call('LINDEX', key, 0)
    if head and (not oldest or head < oldest) then oldest = head end
  end
  table.insert(out, n)
  table.insert(out, oldest or '')
end
return out
`)

// QueueStats implements store.QueueStats. The oldest task's queue time is
// read from its record.
func (s *Store) QueueStats(ctx context.Context, types []string) (map[string]store.QueueStat, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := make(map[string]store.QueueStat, len(types))
	if len(types) == 0 {
		return out, nil
	}
	args := make([]any, len(types))
	for i, t := range types {
		args[i] = t
	}
	res, err := queueStatsScript.Run(ctx, s.rdb, s.keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("queue stats: redis: %w", err)
	}
	for i, t := range types {
		if 2*i+1 >= len(res) {
			break
		}
		n, _ := res[2*i].(int64)
		st := store.QueueStat{Depth: int(n)}
		if head, _ := res[2*i+1].(string); head != "" {
			if at, ok := s.memberQueuedAt(ctx, head); ok {
				st.Oldest = at
			}
		}
		out[t] = st
	}
	return out, nil
}

// memberQueuedAt is the enqueue time of the task a queue member names.
func (s *Store) memberQueuedAt(ctx context.Context, member string) (time.Time, bool) {
	var seq, job uint64
	var flag byte
	if len(member) < 14 {
		return time.Time{}, false
	}
	if _, err := fmt.Sscanf(member[:12], "%x", &seq); err != nil {
		return time.Time{}, false
	}
	flag = member[12]
	_ = flag
	if _, err := fmt.Sscanf(member[13:], "%x", &job); err != nil {
		return time.Time{}, false
	}
	return s.taskQueuedAt(ctx, job, seq)
}

// taskIDScript returns the packed id of the task with sequence ARGV[2]
// in job record ARGV[1] (see lib.lua: job n is element n % 1024 of
// jl:<n // 1024>).
var taskIDScript = redis.NewScript(`
local n = tonumber(ARGV[1])
local v = redis.call('LINDEX', KEYS[1] .. ':jl:' .. string.format('%d', math.floor(n / 1024)), n % 1024)
if not v then return false end
local j = cmsgpack.unpack(v)
local t = j.t and j.t[tonumber(ARGV[2])]
if not t then return false end
return t.i
`)

func (s *Store) taskQueuedAt(ctx context.Context, job, seq uint64) (time.Time, bool) {
	id, err := taskIDScript.Run(ctx, s.rdb, s.keys, job, seq).Text()
	if err != nil || id == "" {
		return time.Time{}, false
	}
	info, err := s.Task(ctx, unpack(id, taskPrefix))
	if err != nil {
		return time.Time{}, false
	}
	return info.Task.EnqueuedAt, true
}
