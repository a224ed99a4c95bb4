-- Returns {state, assigned, holder, leased at, lease until, task JSON, job,
-- type} of task ARGV[1], or nil.
local jid, _, t = tfind(ARGV[1])
if not t then return false end
return {t.s, t.a or '', t.w or '', t.la or '', t.lu or '', t.d, jid, t.ty}
