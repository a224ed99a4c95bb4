-- Refreshes worker ARGV[1] when it is live at ARGV[2] (microseconds):
-- ARGV[3] status ('' unchanged), ARGV[4] last seen, ARGV[5] expiry text
-- ('' unchanged), ARGV[6] expiry in microseconds, ARGV[7] hot skills JSON
-- ('' unchanged). Returns 1 when found.
local wk = k('w', ARGV[1])
local ex = redis.call('ZSCORE', k('workers'), ARGV[1])
if redis.call('EXISTS', wk) == 0 or not ex or tonumber(ex) <= tonumber(ARGV[2]) then return 0 end
if ARGV[3] ~= '' then redis.call('HSET', wk, 'st', ARGV[3]) end
redis.call('HSET', wk, 'ls', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', wk, 'ex', ARGV[5])
  redis.call('ZADD', k('workers'), ARGV[6], ARGV[1])
end
if ARGV[7] ~= '' then redis.call('HSET', wk, 'hs', ARGV[7]) end
return 1
