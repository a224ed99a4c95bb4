package bptest

import (
	"fmt"
	"sort"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

// Lint checks a test file against the blueprint it tests (and the
// blueprints it starts as children, found in set): replies for task
// types nothing dispatches, expected or scripted states that do not
// exist, and scripted statuses no state that runs the task handles (a
// warning: a case may test an unhandled status on purpose).
func Lint(f *File, m *lang.Machine, set *lang.Set) lang.Diagnostics {
	var ds lang.Diagnostics
	machines := reachable(m, set)
	types := map[string]bool{}
	for _, mm := range machines {
		for _, t := range machineTasks(mm) {
			types[t.Type] = true
		}
	}
	typeList := keys(types)
	var states []string
	approvals := map[string]bool{}
	for _, s := range m.States {
		states = append(states, s.Name)
		if s.Approval != nil {
			approvals[s.Name] = true
		}
	}
	for _, mm := range machines[1:] {
		for _, s := range mm.States {
			if s.Approval != nil {
				approvals[s.Name] = true
			}
		}
	}
	errAt := func(r *lang.Rule, pos lang.Pos, sev lang.Severity, msg string, name string, cands []string) {
		if s := nearest(name, cands); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		ds = append(ds, lang.Diagnostic{Pos: pos, Severity: sev, Rule: r.Name, Message: msg})
	}
	for _, c := range f.Cases {
		for _, typ := range keys(c.ReplyTypePos) {
			if !types[typ] {
				errAt(RuleTestUnknownTask, c.ReplyTypePos[typ], lang.SeverityError,
					fmt.Sprintf("reply for task type %q, which blueprint %q never dispatches", typ, m.Name), typ, typeList)
				continue
			}
			for _, rp := range c.Replies[typ] {
				if rp.Status == "" || rp.Status == "failure" || rp.Timeout {
					continue
				}
				if handled, where := handles(machines, typ, rp.Status); !handled && where != "" {
					errAt(RuleTestUnhandled, rp.Pos, lang.SeverityWarning,
						fmt.Sprintf("status %q is not handled by state %q, which runs task %q", rp.Status, where, typ), "", nil)
				}
			}
		}
		for _, st := range keys(c.ApprovalsPos) {
			if !approvals[st] {
				errAt(RuleTestUnknownState, c.ApprovalsPos[st], lang.SeverityError,
					fmt.Sprintf("no approval state %q in blueprint %q", st, m.Name), st, keys(approvals))
			}
		}
		for _, e := range c.Expect {
			var names []any
			switch e.Kind {
			case ExpectState:
				names = []any{e.Value}
			case ExpectPath, ExpectPathIncludes:
				names, _ = e.Value.([]any)
			}
			for _, n := range names {
				s, _ := n.(string)
				if m.State(s) == nil {
					errAt(RuleTestUnknownState, e.Pos, lang.SeverityError, fmt.Sprintf("no state %q in blueprint %q", s, m.Name), s, states)
				}
			}
			if e.Kind == ExpectAttempts || e.Kind == ExpectDispatched {
				if e.Key != "" && !types[e.Key] {
					errAt(RuleTestUnknownTask, e.Pos, lang.SeverityError,
						fmt.Sprintf("%s of task type %q, which blueprint %q never dispatches", e.Kind, e.Key, m.Name), e.Key, typeList)
				}
			}
		}
	}
	return ds
}

// reachable is m and every blueprint it may start as a child, m first.
func reachable(m *lang.Machine, set *lang.Set) []*lang.Machine {
	out := []*lang.Machine{m}
	seen := map[string]bool{m.Name: true}
	for i := 0; i < len(out); i++ {
		for _, s := range out[i].States {
			if s.Blueprint != nil && !seen[s.Blueprint.Name] {
				seen[s.Blueprint.Name] = true
				if c := set.Lookup(s.Blueprint.Name); c != nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// handles reports whether some task state that runs typ handles status;
// where names one that does not ("" when no task state runs typ: a
// parallel fails on any status but success).
func handles(ms []*lang.Machine, typ, status string) (bool, string) {
	where := ""
	for _, m := range ms {
		for _, s := range m.States {
			if s.Task == nil || s.Task.Type != typ {
				continue
			}
			if _, ok := s.Next(status); ok || status == "cancelled" {
				return true, ""
			}
			if where == "" {
				where = s.Name
			}
		}
	}
	return false, where
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Lint checks a loaded test file against its blueprint: Resolve's
// findings, then Lint's.
func (rn *Runner) Lint(f *File) lang.Diagnostics {
	m, fo, ds := rn.Resolve(f)
	if m == nil {
		return ds
	}
	return Lint(f, m, fo.set)
}
