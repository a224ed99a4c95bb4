-- Returns {id, job JSON, rev, status, version and blueprint, created, ...}
-- newest first for client ARGV[1] ('' all) from offset ARGV[2], at most
-- ARGV[3]. Job numbers are in creation order (jobs are never deleted);
-- jc:<client> lists a named client's job numbers, newest first ('' asks
-- for every client).
local from, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local function emit(j)
  out[#out + 1] = j.i
  for _, v in ipairs(jview(j)) do out[#out + 1] = v end
end
if ARGV[1] ~= '' then
  for _, n in ipairs(redis.call('LRANGE', k('jc', ARGV[1]), from, from + limit - 1)) do
    local j = jget(tonumber(n))
    if j then emit(j) end
  end
  return out
end
local hi = tonumber(redis.call('HGET', k('cnt'), 'j') or '0') - 1 - from
local lo = math.max(0, hi - limit + 1)
while hi >= lo do
  local first = math.max(lo, math.floor(hi / JB) * JB)
  local r = redis.call('LRANGE', jkey(hi), first % JB, hi % JB)
  for i = #r, 1, -1 do emit(cmsgpack.unpack(r[i])) end
  hi = first - 1
end
return out
