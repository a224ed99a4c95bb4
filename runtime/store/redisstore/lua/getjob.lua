-- Returns {job JSON, rev, status, version, created} of job ARGV[1], or nil.
local j = jget(ARGV[1])
if not j then return false end
return jview(j)
