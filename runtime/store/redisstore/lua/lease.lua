-- Leases the best task for a worker. ARGV[1]: {w, now, ty, ok, no}; now in
-- microseconds. Candidates come in order (score = -priority, then the
-- member, which starts with the enqueue sequence in 12 hex digits) from the worker's own
-- queue and the shared queues of its types. A shared task with requires or
-- max_cost (member flag '1') is claimed only when listed in ok (it fits
-- the worker); one in neither ok nor no is returned for the caller to
-- check ({'CHECK', id, task, ...}) before anything after it is claimed.
-- A claim replies {'OK', task, now, lease end, id, job id, type, n}: n is
-- how many tasks the shared queue it came from still holds (0 for the
-- worker's own queue).
local a = cjson.decode(ARGV[1])
local ok, no = set(a.ok), set(a.no)
local qs = {k('wq', a.w)}
for _, ty in ipairs(a.ty or {}) do qs[#qs + 1] = k('q', ty) end
local N = 32
local heads = {}
local function fill(i)
  local h = heads[i]
  local r = redis.call('ZRANGE', qs[i], h.off, h.off + N - 1, 'WITHSCORES')
  h.off = h.off + N
  h.items = {}
  h.pos = 1
  for j = 1, #r, 2 do h.items[#h.items + 1] = {r[j], tonumber(r[j + 1])} end
  h.done = #r < 2 * N
end
for i = 1, #qs do
  heads[i] = {off = 0}
  fill(i)
end
local function head(i)
  local h = heads[i]
  if h.pos > #h.items then
    if h.done then return nil end
    fill(i)
    if h.pos > #h.items then return nil end
  end
  return h.items[h.pos]
end
local check = {}
local scanned = 0
while scanned < 2000 do
  local bi, best = nil, nil
  for i = 1, #qs do
    local e = head(i)
    if e and (not best or e[2] < best[2] or (e[2] == best[2] and e[1] < best[1])) then bi, best = i, e end
  end
  if not bi then break end
  heads[bi].pos = heads[bi].pos + 1
  scanned = scanned + 1
  local m = best[1]
  local id = string.sub(m, 14)
  if bi == 1 or string.sub(m, 13, 13) == '0' or ok[id] then
    if #check > 0 then break end
    redis.call('ZREM', qs[bi], m)
    local jid, j, t = tfind(id)
    local lu = ''
    if t.to then lu = string.format('%d', tonumber(a.now) + tonumber(t.to)) end
    t.s, t.w, t.la, t.lu = 'l', a.w, a.now, lu
    jput(jid, j)
    if lu == '' then
      redis.call('ZADD', k('leases'), '+inf', id)
    else
      redis.call('ZADD', k('leases'), lu, id)
    end
    redis.call('SADD', k('wl', a.w), id)
    redis.call('HINCRBY', k('cnt'), 'q', -1)
    local more = 0
    if bi > 1 then more = redis.call('ZCARD', qs[bi]) end
    return {'OK', t.d, a.now, lu, id, jid, t.ty, tostring(more)}
  elseif not no[id] then
    local _, _, t = tfind(id)
    check[#check + 1] = id
    check[#check + 1] = t.d
    check[#check + 1] = t.ty
  end
end
if #check > 0 then
  table.insert(check, 1, 'CHECK')
  return check
end
return {'EMPTY'}
