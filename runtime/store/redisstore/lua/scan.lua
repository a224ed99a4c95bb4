-- Reads jobs for a search. Positions count newest first: for client
-- ARGV[1] ('' all) the positions ARGV[2] to ARGV[3] (inclusive, ARGV[2] <=
-- ARGV[3]) of its jc list, or of all jobs by number. Returns {total,
-- id, job JSON, rev, status, version and blueprint, created, timeline
-- lines ('' unless ARGV[4] is '1'), ...}, newest first, removed jobs left
-- out.
local from, to, tl = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local out = {0}
local function emit(j)
  out[#out + 1] = j.i
  for _, v in ipairs(jview(j)) do out[#out + 1] = v end
  if tl then out[#out + 1] = j.l or '' else out[#out + 1] = '' end
end
if ARGV[1] ~= '' then
  out[1] = redis.call('LLEN', k('jc', ARGV[1]))
  if to < from then return out end
  for _, n in ipairs(redis.call('LRANGE', k('jc', ARGV[1]), from, to)) do
    local j = jget(tonumber(n))
    if j then emit(j) end
  end
  return out
end
local total = tonumber(redis.call('HGET', k('cnt'), 'j') or '0')
out[1] = total
local hi, lo = total - 1 - from, math.max(0, total - 1 - to)
while hi >= lo do
  local first = math.max(lo, math.floor(hi / JB) * JB)
  local r = redis.call('LRANGE', jkey(hi), first % JB, hi % JB)
  for i = #r, 1, -1 do
    if r[i] ~= '' then emit(cmsgpack.unpack(r[i])) end
  end
  hi = first - 1
end
return out
