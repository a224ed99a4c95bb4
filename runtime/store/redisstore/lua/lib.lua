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
