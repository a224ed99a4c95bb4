-- Returns {id, record, status, last seen, expiry, hot skills, load} for
-- worker ARGV[1], or for every worker when ARGV[1] is ''. The load counts
-- its leases and its own queue.
local ids
if ARGV[1] ~= '' then ids = {ARGV[1]} else ids = redis.call('ZRANGE', k('workers'), 0, -1) end
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', k('w', id), 'd', 'st', 'ls', 'ex', 'hs')
  if r[1] then
    out[#out + 1] = id
    for i = 1, 5 do out[#out + 1] = r[i] or '' end
    local load = redis.call('SCARD', k('wl', id))
    for _, sc in ipairs(redis.call('ZRANGE', k('wqp', id), 0, -1)) do
      load = load + redis.call('LLEN', k('wql', id, sc))
    end
    out[#out + 1] = load
  end
end
return out
