-- Returns {job, rev, ...} newest first for client ARGV[1] ('' all) from
-- offset ARGV[2], at most ARGV[3].
local idx = k('jobs')
if ARGV[1] ~= '' then idx = k('jc', ARGV[1]) end
local from = tonumber(ARGV[2])
local ids = redis.call('ZREVRANGE', idx, from, from + tonumber(ARGV[3]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', k('j', id), 'd', 'r')
  if r[1] then
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
  end
end
return out
