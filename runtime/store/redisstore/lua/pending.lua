-- Returns {id, job JSON, rev, status, version and blueprint, created,
-- timeline lines, ...} of up to ARGV[1] jobs of the outbox (ob: job
-- numbers by end time), earliest ended first. Removes nothing.
local out = {}
for _, n in ipairs(redis.call('ZRANGE', k('ob'), 0, tonumber(ARGV[1]) - 1)) do
  local j = jget(tonumber(n))
  if j then
    out[#out + 1] = j.i
    for _, v in ipairs(jview(j)) do out[#out + 1] = v end
    out[#out + 1] = j.l or ''
  else
    redis.call('ZREM', k('ob'), n)
  end
end
return out
