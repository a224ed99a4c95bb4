-- Ends now the leases of worker ARGV[1] that began at or before ARGV[2]
-- (microseconds), except those of the packed task ids ARGV[3..]: their
-- scores become -inf, so the next reclaim returns them. Returns how many.
local keep = {}
for i = 3, #ARGV do keep[ARGV[i]] = true end
local before = tonumber(ARGV[2])
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', k('wl', ARGV[1]))) do
  local q, _, jn = parse(m)
  local j = jget(jn)
  local t = j and j.t[q]
  if t and t.s == 'l' and t.w == ARGV[1] and not keep[t.i] and tonumber(t.la or '0') <= before then
    local sc = redis.call('ZSCORE', k('leases'), m)
    if sc and sc ~= '-inf' then
      redis.call('ZADD', k('leases'), 'XX', '-inf', m)
      n = n + 1
    end
  end
end
return n
