-- Returns {id, job JSON, rev, status, version, created, ...} newest first
-- for client ARGV[1] ('' all) from offset ARGV[2], at most ARGV[3]. The
-- indexes are lists, newest at the head (jobs are never deleted); jc:<client>
-- is kept for named clients only ('' asks for every client).
local idx = k('jobs')
if ARGV[1] ~= '' then idx = k('jc', ARGV[1]) end
local from = tonumber(ARGV[2])
local ids = redis.call('LRANGE', idx, from, from + tonumber(ARGV[3]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local j = jget(id)
  if j then
    out[#out + 1] = id
    for _, v in ipairs(jview(j)) do out[#out + 1] = v end
  end
end
return out
