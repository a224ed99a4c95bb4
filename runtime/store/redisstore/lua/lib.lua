-- Shared helpers, prepended to every script. KEYS[1] is "{prefix}": every
-- key of the store starts with it, so all keys share one hash slot.
local P = KEYS[1]
local function k(...) return P .. ':' .. table.concat({...}, ':') end
local function set(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end
-- queue returns the queue key a queued task waits on: its assigned
-- worker's own queue, else the shared queue of its type.
local function queue(a, ty)
  if a and a ~= '' then return k('wq', a) end
  return k('q', ty)
end
-- Wake messages, published once per script: 't:<n>:<type>' (n tasks of
-- a type queued: n polls wake), 'T:<type>' (a task only some workers fit:
-- every poll of the type looks), 'w:<worker>', 'timer'.
local wakes = {}
local function wake(msg) wakes[msg] = (wakes[msg] or 0) + 1 end
local function publish()
  for msg, n in pairs(wakes) do
    if string.sub(msg, 1, 2) == 't:' then msg = 't:' .. n .. ':' .. string.sub(msg, 3) end
    redis.call('PUBLISH', P .. ':wake', msg)
  end
end
-- A job is one string key j:<id> holding a MessagePack map: r=rev,
-- st=status code (codec.go), v=version number (vh), c=created at (ns, text), d=job JSON
-- (without id, rev, status, version, created at), tl=timeline lines,
-- tk=task id -> task. A task is a map: s=state (q l d w x), ty=type,
-- q=enqueue sequence, c=constrained flag ('1' or none), sc=queue score (none: 0),
-- to=timeout (µs), a=assigned worker, w=lease holder, la/lu=lease
-- start/end (µs), d=task JSON.
local function jget(id)
  local v = redis.call('GET', k('j', id))
  if not v then return nil end
  return cmsgpack.unpack(v)
end
local function jput(id, j) redis.call('SET', k('j', id), cmsgpack.pack(j)) end
-- The task index ti:<bucket> maps task id -> job id; the bucket is the
-- first three hex digits of the id's SHA-1 (4,096 small hashes).
local function tindex(id) return k('ti', string.sub(redis.sha1hex(id), 1, 3)) end
-- tfind returns the job id, the job and the task of task id, or nil.
local function tfind(id)
  local jid = redis.call('HGET', tindex(id), id)
  if not jid then return nil end
  local j = jget(jid)
  if not j or not j.tk or not j.tk[id] then return nil end
  return jid, j, j.tk[id]
end
-- member is a task's queue member: the enqueue sequence in 12 hex digits,
-- the constrained flag, the task id.
local function member(t, id) return string.format('%012x', t.q) .. (t.c or '0') .. id end
-- vnum maps a version hash to its short number (vn, vh), allocating one.
local function vnum(h)
  if not h or h == '' then return nil end
  local n = redis.call('HGET', k('vn'), h)
  if n then return tonumber(n) end
  n = redis.call('HINCRBY', k('cnt'), 'v', 1)
  redis.call('HSET', k('vn'), h, n)
  redis.call('HSET', k('vh'), n, h)
  return n
end
local function vhash(n)
  if not n then return '' end
  return redis.call('HGET', k('vh'), n) or ''
end
-- jview is what the job readers return: {d, rev, status, version, created}.
local function jview(j)
  return {j.d, tostring(j.r), j.st, vhash(j.v), j.c or ''}
end
