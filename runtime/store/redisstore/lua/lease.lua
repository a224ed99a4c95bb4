-- Leases the best task for a worker. ARGV[1]: {w, now, ty, ok, no}; now in
-- microseconds. Candidates come in order (score = -priority, then the
-- enqueue sequence) from the lists of the worker's own queue and of the
-- shared queues of its types. A shared task with requires or max_cost
-- (member flag '1') is claimed only when listed in ok (it fits the
-- worker); one in neither ok nor no is returned for the caller to check
-- ({'CHECK', id, task, type, created, timeout, ...}) before anything after
-- it is claimed. A claim replies {'OK', task, now, lease end, id, job id,
-- type, more, created, timeout}: more is 1 when the shared queue it came
-- from still holds tasks (0 for the worker's own queue).
local a = cjson.decode(ARGV[1])
local ok, no = set(a.ok), set(a.no)
local srcs = {}
local function addq(idx, lists, own)
  local r = redis.call('ZRANGE', idx, 0, -1, 'WITHSCORES')
  for i = 1, #r, 2 do
    srcs[#srcs + 1] = {idx = idx, key = lists .. ':' .. r[i], sc = r[i], score = tonumber(r[i + 1]), own = own, off = 0}
  end
end
addq(k('wqp', a.w), k('wql', a.w), true)
for _, ty in ipairs(a.ty or {}) do addq(k('qp', ty), k('ql', ty), false) end
-- Lists are read in pages of 4, then 16, then 64 members: the head is
-- usually taken.
local function fill(s)
  local n = s.n or 4
  s.items = redis.call('LRANGE', s.key, s.off, s.off + n - 1)
  s.off, s.pos, s.done, s.n = s.off + n, 1, #s.items < n, math.min(n * 4, 64)
end
for _, s in ipairs(srcs) do fill(s) end
-- head returns the next member of s and its sequence.
local function head(s)
  if s.pos > #s.items then
    if s.done then return nil end
    fill(s)
    if s.pos > #s.items then return nil end
  end
  local m = s.items[s.pos]
  return m, tonumber(string.sub(m, 1, 12), 16)
end
-- Members of tasks no longer queued (withdrawn deep in a list) are
-- dropped once the scan is over: removing them now would shift the
-- offsets being read.
local stale = {}
local function sweep()
  for _, x in ipairs(stale) do qdrop(x[1].idx, x[1].key, x[1].sc, x[2], 1) end
end
local check = {}
local scanned = 0
while scanned < 2000 do
  local bs, m, q = nil, nil, nil
  for _, s in ipairs(srcs) do
    local sm, sq = head(s)
    if sm and (not bs or s.score < bs.score or (s.score == bs.score and sq < q)) then bs, m, q = s, sm, sq end
  end
  if not bs then break end
  bs.pos = bs.pos + 1
  scanned = scanned + 1
  local _, flag, n = parse(m)
  local j = jget(n)
  local t = j and j.t[q]
  if not t or t.s or select(2, qkeys(t)) ~= bs.key then
    stale[#stale + 1] = {bs, m}
  elseif bs.own or flag == '0' or ok[t.i] then
    if #check > 0 then break end
    qdrop(bs.idx, bs.key, bs.sc, m, 1)
    local lu = ''
    if t.o then lu = int(tonumber(a.now) + t.o) end
    t.s, t.w, t.la, t.lu = 'l', a.w, a.now, lu
    jput(n, j)
    if lu == '' then
      redis.call('ZADD', k('leases'), '+inf', m)
    else
      redis.call('ZADD', k('leases'), lu, m)
    end
    redis.call('SADD', k('wl', a.w), m)
    redis.call('HINCRBY', k('cnt'), 'q', -1)
    local more = '0'
    if not bs.own and redis.call('EXISTS', bs.idx) == 1 then more = '1' end
    sweep()
    return {'OK', t.d, a.now, lu, t.i, j.i, t.y, more, j.c or '', int(t.o or 0)}
  elseif not no[t.i] then
    for _, v in ipairs({t.i, t.d, t.y, j.c or '', int(t.o or 0)}) do check[#check + 1] = v end
  end
end
sweep()
if #check > 0 then
  table.insert(check, 1, 'CHECK')
  return check
end
return {'EMPTY'}
