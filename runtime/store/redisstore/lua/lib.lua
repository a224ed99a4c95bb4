-- Shared helpers, prepended to every script. KEYS[1] is "{prefix}": every
-- key of the store starts with it, so all keys share one hash slot. Ids
-- arrive packed (ids.go) and are opaque here.
local P = KEYS[1]
local function k(...) return P .. ':' .. table.concat({...}, ':') end
local function set(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end
-- int is an integer as Redis arguments want it (tostring would write
-- large numbers in exponent form).
local function int(n) return string.format('%d', n) end
-- Wake messages, published once per script: 't:<n>:<type>' (n tasks of
-- a type queued: n polls wake), 'T:<type>' (a task only some workers fit:
-- every poll of the type looks), 'w:<worker>', 'timer', 'c:<task>\n<worker>'
-- (a task withdrawn while leased: the worker should stop it).
local wakes = {}
local function wake(msg) wakes[msg] = (wakes[msg] or 0) + 1 end
local function publish()
  for msg, n in pairs(wakes) do
    if string.sub(msg, 1, 2) == 't:' then msg = 't:' .. n .. ':' .. string.sub(msg, 3) end
    redis.call('PUBLISH', P .. ':wake', msg)
  end
end

-- Jobs are numbered from 0 in creation order (cnt field j counts them).
-- Job n is element n % 1024 of the list jl:<n // 1024>: a MessagePack map
-- {i=id, r=rev, s=status code (codec.go), v=version number (vh), c=created
-- at (ns, base 36), d=job JSON, l=timeline lines, t=tasks by enqueue
-- sequence}. A task is {i=id, y=type, s=state (none: queued; l d w x),
-- c='1' when constrained, p=queue score (none: 0), o=timeout (µs),
-- a=assigned worker, w=lease holder, la/lu=lease start/end (µs), d=task
-- JSON}.
local JB = 1024
local function jkey(n) return k('jl', int(math.floor(n / JB))) end
-- A removed job (remove.lua) leaves an empty element: no record.
local function jget(n)
  local v = redis.call('LINDEX', jkey(n), n % JB)
  if not v or v == '' then return nil end
  return cmsgpack.unpack(v)
end
local function jput(n, j) redis.call('LSET', jkey(n), n % JB, cmsgpack.pack(j)) end
-- jnum allocates the next job number and jadd appends that job's record:
-- numbers must be appended in the order they were allocated.
local function jnum() return redis.call('HINCRBY', k('cnt'), 'j', 1) - 1 end
local function jadd(n, j)
  if redis.call('RPUSH', jkey(n), cmsgpack.pack(j)) ~= n % JB + 1 then
    error('job record ' .. int(n) .. ' appended out of place')
  end
end

-- The index maps a 48-bit hash of 'j' .. job id and of 't' .. task id,
-- kept as 6 bytes, to the number of the job (numbers separated by spaces
-- when hashes collide; readers check the record). It is a hash table of
-- small hashes ix:<bucket> grown by linear hashing: cnt field xb counts
-- the buckets (64 at first), xe the entries, and the next bucket splits in
-- two whenever there are more than 40 entries a bucket, so every bucket
-- stays a small listpack.
local X0, XLOAD = 64, 40
local xn
local function xcount()
  if not xn then xn = tonumber(redis.call('HGET', k('cnt'), 'xb') or X0) end
  return xn
end
-- xlevel is the bucket count at the start of the current round.
local function xlevel(nb)
  local m = X0
  while m * 2 <= nb do m = m * 2 end
  return m
end
local function xbucket(h)
  local nb = xcount()
  local m = xlevel(nb)
  local b = h % (2 * m)
  if b >= nb then b = h % m end
  return k('ix', int(b))
end
local xmemo = {}
local function xhash(s)
  local m = xmemo[s]
  if m then return m[1], m[2] end
  local h = tonumber(string.sub(redis.sha1hex(s), 1, 12), 16)
  local hi, lo = math.floor(h / 16777216), h % 16777216
  local f = string.char(math.floor(hi / 65536), math.floor(hi / 256) % 256, hi % 256,
    math.floor(lo / 65536), math.floor(lo / 256) % 256, lo % 256)
  xmemo[s] = {f, h}
  return f, h
end
local function xget(s)
  local f, h = xhash(s)
  local v = redis.call('HGET', xbucket(h), f)
  local out = {}
  if v then
    for n in string.gmatch(v, '%d+') do out[#out + 1] = tonumber(n) end
  end
  return out
end
local function xsplit()
  local nb = xcount()
  local m = xlevel(nb)
  local s = nb - m
  local from, to = k('ix', int(s)), k('ix', int(s + m))
  local all = redis.call('HGETALL', from)
  local moved, gone = {}, {}
  for i = 1, #all, 2 do
    local f, h = all[i], 0
    for c = 1, 6 do h = h * 256 + string.byte(f, c) end
    if h % (2 * m) ~= s then
      moved[#moved + 1], moved[#moved + 2] = f, all[i + 1]
      gone[#gone + 1] = f
    end
  end
  if #gone > 0 then
    redis.call('HSET', to, unpack(moved))
    redis.call('HDEL', from, unpack(gone))
  end
  xn = nb + 1
  redis.call('HSET', k('cnt'), 'xb', int(xn))
end
local function xadd(s, n)
  local f, h = xhash(s)
  local key = xbucket(h)
  if redis.call('HSETNX', key, f, int(n)) == 0 then
    redis.call('HSET', key, f, redis.call('HGET', key, f) .. ' ' .. int(n))
  end
  if redis.call('HINCRBY', k('cnt'), 'xe', 1) > XLOAD * xcount() then xsplit() end
end
-- jfind returns the number and record of job id, or nil.
local function jfind(id)
  for _, n in ipairs(xget('j' .. id)) do
    local j = jget(n)
    if j and j.i == id then return n, j end
  end
  return nil
end
-- tfind returns the job number, the job, the sequence and the task of
-- task id, or nil.
local function tfind(id)
  for _, n in ipairs(xget('t' .. id)) do
    local j = jget(n)
    if j then
      for q, t in pairs(j.t) do
        if t.i == id then return n, j, q, t end
      end
    end
  end
  return nil
end

-- Queues: a task waits on its assigned worker's own queue, else on the
-- shared queue of its type. A queue is a list per queue score (-priority),
-- ql:<type>:<score> or wql:<worker>:<score>, in enqueue order, and a zset
-- qp:<type> or wqp:<worker> of the scores that have a list (member the
-- score's text). A member is "<sequence, 12 hex digits><flag><job
-- number, hex>"; flag 1 marks a task with requires or max_cost.
-- Leases and a worker's lease set hold the same member.
local function qkeys(t)
  local sc = t.p or '0'
  if t.a and t.a ~= '' then return k('wqp', t.a), k('wql', t.a, sc), sc end
  return k('qp', t.y), k('ql', t.y, sc), sc
end
local function member(t, q, n) return string.format('%012x%s%x', q, t.c or '0', n) end
-- parse returns the sequence, the flag and the job number of a member.
local function parse(m)
  return tonumber(string.sub(m, 1, 12), 16), string.sub(m, 13, 13), tonumber(string.sub(m, 14), 16)
end
-- qpush appends a task just enqueued (the highest sequence).
local function qpush(t, q, n)
  local idx, key, sc = qkeys(t)
  if redis.call('RPUSH', key, member(t, q, n)) == 1 then redis.call('ZADD', idx, sc, sc) end
end
-- qinsert puts a task back in sequence order (a lease undone, a dead
-- worker's queue moved): the place is found from the head, where old
-- tasks are.
local function qinsert(t, q, n)
  local idx, key, sc = qkeys(t)
  local m = member(t, q, n)
  local last = redis.call('LINDEX', key, -1)
  if not last then
    redis.call('RPUSH', key, m)
    redis.call('ZADD', idx, sc, sc)
    return
  end
  if tonumber(string.sub(last, 1, 12), 16) < q then
    redis.call('RPUSH', key, m)
    return
  end
  local off = 0
  while true do
    local r = redis.call('LRANGE', key, off, off + 63)
    for _, x in ipairs(r) do
      if tonumber(string.sub(x, 1, 12), 16) > q then
        redis.call('LINSERT', key, 'BEFORE', x, m)
        return
      end
    end
    if #r < 64 then break end
    off = off + 64
  end
  redis.call('RPUSH', key, m)
end
-- qdrop removes member m from list key of zset idx (score sc), dropping
-- the score when the list is gone.
local function qdrop(idx, key, sc, m, count)
  redis.call('LREM', key, count, m)
  if redis.call('EXISTS', key) == 0 then redis.call('ZREM', idx, sc) end
end
-- qremove takes a queued task off its queue. It looks for the member near
-- both ends only (bounded work however long the queue); one deeper stays
-- until a lease reaches it and drops it (its task is no longer queued).
local function qremove(t, q, n)
  local idx, key, sc = qkeys(t)
  local m = member(t, q, n)
  if redis.call('LPOS', key, m, 'MAXLEN', 1000) then
    qdrop(idx, key, sc, m, 1)
  elseif redis.call('LPOS', key, m, 'RANK', -1, 'MAXLEN', 1000) then
    qdrop(idx, key, sc, m, -1)
  end
end
local function wakeFor(t)
  if t.a then wake('w:' .. t.a) elseif t.c == '1' then wake('T:' .. t.y) else wake('t:' .. t.y) end
end

-- vnum maps a version hash and blueprint name to a short number (vn,
-- vh: "<length of the hash>:<hash><blueprint>"), allocating one.
local function vnum(h, b)
  h, b = h or '', b or ''
  if h == '' and b == '' then return nil end
  local key = #h .. ':' .. h .. b
  local n = redis.call('HGET', k('vn'), key)
  if n then return tonumber(n) end
  n = redis.call('HINCRBY', k('cnt'), 'v', 1)
  redis.call('HSET', k('vn'), key, n)
  redis.call('HSET', k('vh'), n, key)
  return n
end
local function vpair(n)
  if not n then return '' end
  return redis.call('HGET', k('vh'), int(n)) or ''
end
-- jview is what the job readers return: {d, rev, status, version and
-- blueprint (vh), created}.
local function jview(j)
  return {j.d, int(j.r), j.s, vpair(j.v), j.c or ''}
end
