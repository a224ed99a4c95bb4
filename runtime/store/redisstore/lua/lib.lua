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
local wakes = {}
local function wake(msg) wakes[msg] = true end
local function publish()
  for msg in pairs(wakes) do redis.call('PUBLISH', P .. ':wake', msg) end
end
-- A task is one string key t:<id> holding a MessagePack map: s=state
-- (q l d w x), j=job, ty=type, m=queue member, sc=queue score, to=timeout
-- (µs), a=assigned worker, w=lease holder, la/lu=lease start/end (µs),
-- d=task JSON. One compact value per task instead of a hash, whose JSON
-- field would exceed hash-max-listpack-value and cost a hash table.
local function tget(id)
  local v = redis.call('GET', k('t', id))
  if not v then return nil end
  return cmsgpack.unpack(v)
end
local function tput(id, t) redis.call('SET', k('t', id), cmsgpack.pack(t)) end
-- A job is one string key j:<id>: a MessagePack map r=rev, st=status,
-- d=job JSON (without rev).
local function jget(id)
  local v = redis.call('GET', k('j', id))
  if not v then return nil end
  return cmsgpack.unpack(v)
end
local function jput(id, j) redis.call('SET', k('j', id), cmsgpack.pack(j)) end
