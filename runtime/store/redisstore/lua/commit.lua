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
  done = cur.tk and cur.tk[a.done.t]
  if not done or done.s == 'w' then return {'STALE'} end
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
  if seen[t.id] or redis.call('HEXISTS', tindex(t.id), t.id) == 1 then return {'EXISTS', 'task', t.id} end
  seen[t.id] = true
end
seen = {}
for _, c in ipairs(a.ch or {}) do
  if seen[c.id] or (a.create and c.id == a.id) or redis.call('EXISTS', k('j', c.id)) == 1 then
    return {'EXISTS', 'job', c.id}
  end
  seen[c.id] = true
end

-- Writes. The job's own record is written last: withdrawals may touch it.
local function newJob(id, c)
  redis.call('LPUSH', k('jobs'), id)
  if c.cl and c.cl ~= '' then redis.call('LPUSH', k('jc', c.cl), id) end
  redis.call('HINCRBY', k('stc'), c.st, 1)
  return {r = 1, st = c.st, v = vnum(c.v), c = c.tb, d = c.job, tk = {}}
end
local j
if a.create then
  j = newJob(a.id, a)
else
  j = cur
  if cur.st ~= a.st then
    redis.call('HINCRBY', k('stc'), cur.st, -1)
    redis.call('HINCRBY', k('stc'), a.st, 1)
  end
  j.r, j.st, j.v, j.d = rev, a.st, vnum(a.v), a.job
  if j.c ~= a.tb then
    -- The creation time, the timeline's base, changed: mark the old base
    -- before the first line (when unmarked) and the new one after the last.
    if j.tl and j.tl ~= '' then
      if string.sub(j.tl, 1, 1) ~= '@' then j.tl = '@' .. (j.c or '') .. '\n' .. j.tl end
      j.tl = j.tl .. '@' .. (a.tb or '') .. '\n'
    end
    j.c = a.tb
  end
end
if not j.tk then j.tk = {} end
if done then
  done.s = 'd'
  redis.call('ZREM', k('leases'), a.done.t)
  redis.call('SREM', k('wl', a.done.w), a.done.t)
end
for _, t in ipairs(a.enq or {}) do
  local seq = redis.call('INCR', k('seq'))
  local assigned = nil
  if t.w and t.w ~= '' and redis.call('EXISTS', k('w', t.w)) == 1 then assigned = t.w end
  local r = {s = 'q', ty = t.ty, q = seq, c = t.c, sc = t.sc, to = t.to, a = assigned, d = t.d}
  j.tk[t.id] = r
  redis.call('HSET', tindex(t.id), t.id, a.id)
  if assigned then wake('w:' .. assigned) elseif t.c == '1' then wake('T:' .. t.ty) else wake('t:' .. t.ty) end
  redis.call('ZADD', queue(assigned, t.ty), t.sc or '0', member(r, t.id))
  redis.call('HINCRBY', k('cnt'), 'q', 1)
end
for _, id in ipairs(a.wd or {}) do
  local jid, o, t
  if j.tk[id] then
    jid, o, t = a.id, j, j.tk[id]
  else
    jid, o, t = tfind(id)
  end
  if t and t.s == 'q' then
    redis.call('ZREM', queue(t.a, t.ty), member(t, id))
    t.s = 'w'
    redis.call('HINCRBY', k('cnt'), 'q', -1)
  elseif t and t.s == 'l' then
    redis.call('ZREM', k('leases'), id)
    redis.call('SREM', k('wl', t.w), id)
    t.s = 'w'
    redis.call('RPUSH', k('cr', t.w), id)
  end
  if t and jid ~= a.id then jput(jid, o) end
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
for _, c in ipairs(a.ch or {}) do jput(c.id, newJob(c.id, c)) end
for _, w in ipairs(a.sw or {}) do
  redis.call('HSET', k('st', w.b, w.s), w.k, w.v)
  redis.call('SADD', k('sts', w.b), w.s)
end
if a.tl and a.tl ~= '' then j.tl = (j.tl or '') .. a.tl end
jput(a.id, j)
publish()
return {'OK', rev}
