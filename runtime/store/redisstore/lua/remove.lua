-- Removes up to ARGV[2] retained jobs (rt) that ended at or before ARGV[1]
-- (µs) and returns how many. A removed job's element of its jl list
-- becomes empty (numbers stay in place); a full list of empty elements
-- is deleted (jlt counts the empty elements of each list). Its index
-- entries and its status count go too, and its client's list is trimmed.
local function xdel(s, n)
  local f, h = xhash(s)
  local key = xbucket(h)
  local v = redis.call('HGET', key, f)
  if not v then return end
  local keep = {}
  for x in string.gmatch(v, '%d+') do
    if tonumber(x) ~= n then keep[#keep + 1] = x end
  end
  if #keep == 0 then
    redis.call('HDEL', key, f)
  else
    redis.call('HSET', key, f, table.concat(keep, ' '))
  end
  redis.call('HINCRBY', k('cnt'), 'xe', -1)
end
local removed = 0
local clients = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', k('rt'), '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))) do
  redis.call('ZREM', k('rt'), m)
  local n = tonumber(m)
  local j = jget(n)
  if j then
    xdel('j' .. j.i, n)
    for q, t in pairs(j.t) do
      xdel('t' .. t.i, n)
      if t.s == 'l' then
        local mm = member(t, q, n)
        redis.call('ZREM', k('leases'), mm)
        if t.w then redis.call('SREM', k('wl', t.w), mm) end
      end
    end
    local ok, d = pcall(cjson.decode, j.d)
    local cl = ok and type(d) == 'table' and type(d.c) == 'table' and d.c.name
    if type(cl) == 'string' and cl ~= '' then clients[cl] = true end
    redis.call('HINCRBY', k('stc'), j.s, -1)
    if tonumber(redis.call('HGET', k('stc'), j.s)) <= 0 then redis.call('HDEL', k('stc'), j.s) end
    redis.call('LSET', jkey(n), n % JB, '')
    redis.call('HINCRBY', k('cnt'), 'jr', 1)
    local chunk = int(math.floor(n / JB))
    if redis.call('HINCRBY', k('jlt'), chunk, 1) >= JB then
      redis.call('DEL', jkey(n))
      redis.call('HDEL', k('jlt'), chunk)
    end
    removed = removed + 1
  end
end
-- A client's list (jc, newest first) loses its removed jobs from its
-- tail, where the oldest are: bounded work per removal. A removed job
-- further in (one that ended before older ones) stays until the tail
-- reaches it; readers skip it.
for cl in pairs(clients) do
  local key = k('jc', cl)
  while true do
    local n = redis.call('LINDEX', key, -1)
    if not n or jget(tonumber(n)) then break end
    redis.call('RPOP', key)
  end
end
return removed
