-- Creates or commits a job with its effects. ARGV[1] is the commit
-- envelope (see commitArgs in store.go). Every check runs before any write,
-- so a refused commit changes nothing.
local a = cjson.decode(ARGV[1])
local cur = jget(a.id)
if a.create then
  if cur then return {'EXISTS', 'job', a.id} end
elseif not cur then
  return {'NOTFOUND'}
end
local done
if a.done then
  done = tget(a.done.t)
  if not done or done.j ~= a.id or done.s == 'w' then return {'STALE'} end
  local w = done.w or ''
  if done.s == 'd' then
    if w == a.done.w then return {'DONE'} end
    return {'MISMATCH'}
  end
  if done.s == 'x' then
    if w == a.done.w then return {'LOST'} end
    return {'MISMATCH'}
  end
  if done.s == 'q' or w ~= a.done.w then return {'MISMATCH'} end
end
local rev = 1
if not a.create then
  if tostring(cur.r) ~= a.rev then return {'CONFLICT', tostring(cur.r)} end
  rev = cur.r + 1
end
local seen = {}
for _, t in ipairs(a.enq or {}) do
  if seen[t.id] or redis.call('EXISTS', k('t', t.id)) == 1 then return {'EXISTS', 'task', t.id} end
  seen[t.id] = true
end
seen = {}
for _, c in ipairs(a.ch or {}) do
  if seen[c.id] or (a.create and c.id == a.id) or redis.call('EXISTS', k('j', c.id)) == 1 then
    return {'EXISTS', 'job', c.id}
  end
  seen[c.id] = true
end

-- Writes.
local function newJob(id, d, st, cl)
  jput(id, {r = 1, st = st, d = d})
  redis.call('LPUSH', k('jobs'), id)
  redis.call('LPUSH', k('jc', cl), id)
  redis.call('HINCRBY', k('stc'), st, 1)
end
if a.create then
  newJob(a.id, a.job, a.st, a.cl)
else
  jput(a.id, {r = rev, st = a.st, d = a.job})
  if cur.st ~= a.st then
    redis.call('HINCRBY', k('stc'), cur.st, -1)
    redis.call('HINCRBY', k('stc'), a.st, 1)
  end
end
if done then
  done.s = 'd'
  tput(a.done.t, done)
  redis.call('ZREM', k('leases'), a.done.t)
  redis.call('SREM', k('wl', a.done.w), a.done.t)
end
for _, t in ipairs(a.enq or {}) do
  local seq = redis.call('INCR', k('seq'))
  local m = string.format('%012x', seq) .. t.c .. t.id
  local assigned = nil
  if t.w and t.w ~= '' and redis.call('EXISTS', k('w', t.w)) == 1 then assigned = t.w end
  tput(t.id, {s = 'q', j = a.id, ty = t.ty, m = m, sc = t.sc, to = t.to, a = assigned, d = t.d})
  if assigned then wake('w:' .. assigned) else wake('t:' .. t.ty) end
  redis.call('ZADD', queue(assigned, t.ty), t.sc, m)
  redis.call('HINCRBY', k('cnt'), 'q', 1)
end
for _, id in ipairs(a.wd or {}) do
  local t = tget(id)
  if t and t.s == 'q' then
    redis.call('ZREM', queue(t.a, t.ty), t.m)
    t.s = 'w'
    tput(id, t)
    redis.call('HINCRBY', k('cnt'), 'q', -1)
  elseif t and t.s == 'l' then
    redis.call('ZREM', k('leases'), id)
    redis.call('SREM', k('wl', t.w), id)
    t.s = 'w'
    tput(id, t)
    redis.call('RPUSH', k('cr', t.w), id)
  end
end
for _, id in ipairs(a.ctm or {}) do
  redis.call('ZREM', k('tm'), id)
  redis.call('HDEL', k('tmd'), id)
end
for _, tm in ipairs(a.tm or {}) do
  redis.call('ZADD', k('tm'), tm.at, tm.id)
  redis.call('HSET', k('tmd'), tm.id, tm.d)
  wake('timer')
end
for _, c in ipairs(a.ch or {}) do newJob(c.id, c.d, c.st, c.cl) end
for _, w in ipairs(a.sw or {}) do
  redis.call('HSET', k('st', w.b, w.s), w.k, w.v)
  redis.call('SADD', k('sts', w.b), w.s)
end
if a.tl and a.tl ~= '' then redis.call('APPEND', k('tl', a.id), a.tl) end
publish()
return {'OK', rev}
