-- Creates or commits a job with its effects. ARGV[1] is the commit
-- envelope (see commitArgs in store.go). Every check runs before any write,
-- so a refused commit changes nothing.
local a = cjson.decode(ARGV[1])
local n, cur, j
if a.create then
  if jfind(a.id) then return {'EXISTS', 'job', a.id} end
else
  n, cur = jfind(a.id)
  if not cur then return {'NOTFOUND'} end
end
-- own returns the sequence of the job's task id, or nil.
local byID
local function own(id)
  if not byID then
    byID = {}
    local rec = j or cur
    if rec then
      for q, t in pairs(rec.t) do byID[t.i] = q end
    end
  end
  return byID[id]
end
local done, dq
if a.done then
  dq = own(a.done.t)
  done = dq and cur.t[dq]
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
  if not done.s or w ~= a.done.w then return {'MISMATCH'} end
end
local prevStatus = cur and cur.s
local rev = 1
if not a.create then
  if int(cur.r) ~= a.rev then return {'CONFLICT', int(cur.r)} end
  rev = cur.r + 1
end
local seen = {}
for _, t in ipairs(a.enq or {}) do
  if seen[t.id] or own(t.id) or tfind(t.id) then return {'EXISTS', 'task', t.id} end
  seen[t.id] = true
end
seen = {}
for _, c in ipairs(a.ch or {}) do
  if seen[c.id] or (a.create and c.id == a.id) or jfind(c.id) then
    return {'EXISTS', 'job', c.id}
  end
  seen[c.id] = true
end

-- Writes. The job's own record is written last: withdrawals may touch
-- other jobs' records. A new job's number is taken first (its tasks and
-- queue members name it), its record appended last, and children take
-- their numbers after it (numbers are appended in order).
local function newJob(id, c)
  local num = jnum()
  xadd('j' .. id, num)
  if c.cl and c.cl ~= '' then redis.call('LPUSH', k('jc', c.cl), int(num)) end
  redis.call('HINCRBY', k('stc'), c.st, 1)
  return num, {i = id, r = 1, s = c.st, v = vnum(c.v, c.b), c = c.tb, d = c.job, t = {}}
end
if a.create then
  n, j = newJob(a.id, a)
else
  j = cur
  if cur.s ~= a.st then
    redis.call('HINCRBY', k('stc'), cur.s, -1)
    redis.call('HINCRBY', k('stc'), a.st, 1)
  end
  j.r, j.s, j.v, j.d = rev, a.st, vnum(a.v, a.b), a.job
  if j.c ~= a.tb then
    -- The creation time, the timeline's base, changed: mark the old base
    -- before the first line (when unmarked) and the new one after the last.
    if j.l and j.l ~= '' then
      if string.sub(j.l, 1, 1) ~= '@' then j.l = '@' .. (j.c or '') .. '\n' .. j.l end
      j.l = j.l .. '@' .. (a.tb or '') .. '\n'
    end
    j.c = a.tb
  end
end
if done then
  local m = member(done, dq, n)
  done.s = 'd'
  redis.call('ZREM', k('leases'), m)
  redis.call('SREM', k('wl', a.done.w), m)
end
for _, t in ipairs(a.enq or {}) do
  local q = redis.call('INCR', k('seq'))
  local assigned = nil
  if t.w and t.w ~= '' and redis.call('EXISTS', k('w', t.w)) == 1 then assigned = t.w end
  local r = {i = t.id, y = t.ty, c = t.c, p = t.sc, o = t.to, a = assigned, d = t.d}
  j.t[q] = r
  if byID then byID[t.id] = q end
  xadd('t' .. t.id, n)
  wakeFor(r)
  qpush(r, q, n)
  redis.call('HINCRBY', k('cnt'), 'q', 1)
end
for _, id in ipairs(a.wd or {}) do
  local tn, o, q, t = n, j, own(id), nil
  if q then
    t = j.t[q]
  else
    tn, o, q, t = tfind(id)
  end
  if t and not t.s then
    qremove(t, q, tn)
    t.s = 'w'
    redis.call('HINCRBY', k('cnt'), 'q', -1)
  elseif t and t.s == 'l' then
    local m = member(t, q, tn)
    redis.call('ZREM', k('leases'), m)
    redis.call('SREM', k('wl', t.w), m)
    t.s = 'w'
    redis.call('RPUSH', k('cr', t.w), id)
    wake('c:' .. id .. '\n' .. t.w)
  end
  if t and tn ~= n then jput(tn, o) end
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
for _, w in ipairs(a.sw or {}) do
  redis.call('HSET', k('st', w.b, w.s), w.k, w.v)
  redis.call('SADD', k('sts', w.b), w.s)
end
if a.tl and a.tl ~= '' then j.l = (j.l or '') .. a.tl end
if a.create then jadd(n, j) else jput(n, j) end
-- The outbox (outbox.go): a commit that ends the job records it, by its
-- end time, for the archive.
if a.ob and prevStatus ~= a.st then redis.call('ZADD', k('ob'), 'NX', a.ob, int(n)) end
for _, c in ipairs(a.ch or {}) do jadd(newJob(c.id, c)) end
if a.fin then wake('e:' .. a.fin) end
publish()
return {'OK', rev}
