-- Returns the earliest armed timer, or nil.
local first = redis.call('ZRANGE', k('tm'), 0, 0)
if #first == 0 then return false end
return redis.call('HGET', k('tmd'), first[1])
