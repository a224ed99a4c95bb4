-- Returns {state, assigned, holder, leased at, lease until, task JSON, job,
-- type, created, timeout} of task ARGV[1], or nil.
local _, j, _, t = tfind(ARGV[1])
if not t then return false end
return {t.s or 'q', t.a or '', t.w or '', t.la or '', t.lu or '', t.d, j.i, t.y, j.c or '', int(t.o or 0)}
