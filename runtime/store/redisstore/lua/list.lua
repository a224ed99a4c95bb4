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
  -- A removed job may linger in the list until its tail reaches it
  -- (remove.lua): skipped, and not counted in the offset.
  local key, pos, skip = k('jc', ARGV[1]), 0, from
  if not redis.call('HGET', k('cnt'), 'jr') then pos, skip = from, 0 end
  while #out < limit * 6 do
    local r = redis.call('LRANGE', key, pos, pos + limit - 1)
    if #r == 0 then break end
    for _, n in ipairs(r) do
      local j = jget(tonumber(n))
      if j and #out < limit * 6 then
        if skip > 0 then skip = skip - 1 else emit(j) end
      end
    end
    pos = pos + #r
  end
  return out
end
local hi = tonumber(redis.call('HGET', k('cnt'), 'j') or '0') - 1
if not redis.call('HGET', k('cnt'), 'jr') then
  -- No job was removed: the offset is a number of records.
  hi = hi - from
  from = 0
end
-- Removed jobs (remove.lua) are skipped and not counted in the offset.
while hi >= 0 and #out < limit * 6 do
  local first = math.max(0, math.floor(hi / JB) * JB)
  local r = redis.call('LRANGE', jkey(hi), first % JB, hi % JB)
  for i = #r, 1, -1 do
    if r[i] ~= '' and #out < limit * 6 then
      if from > 0 then from = from - 1 else emit(cmsgpack.unpack(r[i])) end
    end
  end
  hi = first - 1
end
return out
