-- Creates or commits a job with its effects. ARGV[1] is the commit
-- envelope (see commitArgs in store.go). Every check runs before any write,
-- so a refused commit changes nothing.
local a = cjson.decode(ARGV[1])
local jk = k('j', a.id)
local exists = redis.call('EXISTS', jk) == 1
if a.create then
  if exists then return {'EXISTS', 'job', a.id} end
elseif not exists then
  return {'NOTFOUND'}
end
if a.done then
  local t = redis.call('HMGET', k('t', a.done.t), 's', 'w', 'j')
  local s, w = t[1], t[2] or ''
  if not s or t[3] ~= a.id or s == 'w' then return {'STALE'} end
  if s == 'd' then
    if w == a.done.w then return {'DONE'} end
    return {'MISMATCH'}
  end
  if s == 'x' then
    if w == a.done.w then return {'LOST'} end
    return {'MISMATCH'}
  end
  if s == 'q' or w ~= a.done.w then return {'MISMATCH'} end
end
local rev = 1
if not a.create then
  local cur = redis.call('HGET', jk, 'r')
  if cur ~= a.rev then return {'CONFLICT', cur} end
  rev = tonumber(cur) + 1
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
  local seq = redis.call('INCR', k('seq'))
  redis.call('HSET', k('j', id), 'd', d, 'r', 1, 'st', st)
  redis.call('ZADD', k('jobs'), seq, id)
  redis.call('ZADD', k('jc', cl), seq, id)
  redis.call('HINCRBY', k('stc'), st, 1)
end
if a.create then
  newJob(a.id, a.job, a.st, a.cl)
else
  local old = redis.call('HGET', jk, 'st')
  redis.call('HSET', jk, 'd', a.job, 'r', rev, 'st', a.st)
  if old ~= a.st then
    redis.call('HINCRBY', k('stc'), old, -1)
    redis.call('HINCRBY', k('stc'), a.st, 1)
  end
end
if a.done then
  redis.call('HSET', k('t', a.done.t), 's', 'd')
  redis.call('ZREM', k('leases'), a.done.t)
  redis.call('SREM', k('wl', a.done.w), a.done.t)
end
for _, t in ipairs(a.enq or {}) do
  local seq = redis.call('INCR', k('seq'))
  local m = string.format('%016x', seq) .. t.c .. t.id
  local tk = k('t', t.id)
  local assigned = ''
  if t.w and t.w ~= '' and redis.call('EXISTS', k('w', t.w)) == 1 then assigned = t.w end
  redis.call('HSET', tk, 'd', t.d, 's', 'q', 'j', a.id, 'ty', t.ty, 'm', m, 'sc', t.sc)
  if t.to then redis.call('HSET', tk, 'to', t.to) end
  if assigned ~= '' then
    redis.call('HSET', tk, 'a', assigned)
    wake('w:' .. assigned)
  else
    wake('t:' .. t.ty)
  end
  redis.call('ZADD', queue(assigned, t.ty), t.sc, m)
  redis.call('HINCRBY', k('cnt'), 'q', 1)
end
for _, id in ipairs(a.wd or {}) do
  local tk = k('t', id)
  local t = redis.call('HMGET', tk, 's', 'w', 'a', 'ty', 'm')
  if t[1] == 'q' then
    redis.call('ZREM', queue(t[3], t[4]), t[5])
    redis.call('HSET', tk, 's', 'w')
    redis.call('HINCRBY', k('cnt'), 'q', -1)
  elseif t[1] == 'l' then
    redis.call('ZREM', k('leases'), id)
    redis.call('SREM', k('wl', t[2]), id)
    redis.call('HSET', tk, 's', 'w')
    redis.call('RPUSH', k('cr', t[2]), id)
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
for _, e in ipairs(a.tl or {}) do redis.call('RPUSH', k('tl', a.id), e) end
publish()
return {'OK', rev}
