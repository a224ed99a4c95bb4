-- Returns {job JSON, rev, status, version and blueprint, created} of job
-- ARGV[1], or nil.
local _, j = jfind(ARGV[1])
if not j then return false end
return jview(j)
