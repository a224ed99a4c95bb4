-- Returns {created, timeline lines} of job ARGV[1], or nil.
local _, j = jfind(ARGV[1])
if not j then return false end
return {j.c or '', j.l or ''}
