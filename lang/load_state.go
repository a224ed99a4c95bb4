package lang

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/avtomatika-ai/avtomatika-go/lang/internal/spell"
)

// statuses an action's transitions may name; nil: any word (task).
var actionStatuses = map[ActionKind][]string{
	ActionParallel:  {"failure", "success"},
	ActionApproval:  {"approved", "rejected", "timeout"},
	ActionBlueprint: {"failure", "success"},
}

func (l *loader) state(st *State, n *yaml.Node) {
	what := fmt.Sprintf("state %q", st.Name)
	kv := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	before := len(l.diags)
	for _, p := range l.pairs(n, what, stateKeys) {
		kv[p[0].Value] = p[1]
		keys[p[0].Value] = p[0]
	}
	if len(l.diags) > before {
		// A misspelt, repeated or unreadable key may be an edge.
		l.opaque[st.Name] = true
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	// Exactly one action. `wait` or `until` go with `go_to`.
	var actions []string
	for _, a := range actionKeys {
		if kv[a] == nil {
			continue
		}
		if a == "go_to" && (kv["wait"] != nil || kv["until"] != nil) {
			continue
		}
		actions = append(actions, a)
	}
	if kv["wait"] != nil && kv["until"] != nil {
		l.errf(keys["until"], RuleActionCount, "state %q has both wait and until; use one", st.Name)
		actions = remove(actions, "until")
	}
	// In the order written, so the finding points at the extra one.
	sort.SliceStable(actions, func(i, j int) bool {
		a, b := keys[actions[i]], keys[actions[j]]
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	if len(actions) != 1 {
		l.opaque[st.Name] = true
	}
	switch {
	case len(actions) == 0 && len(l.diags) > before:
		// An unknown key (a misspelt action, most likely) says enough.
	case len(actions) == 0:
		l.errf(n, RuleActionCount, "state %q has no action; want one of %s", st.Name, strings.Join(actionKeys, ", "))
	case len(actions) > 1:
		l.errf(keys[actions[1]], RuleActionCount, "state %q has %d actions (%s); a state has exactly one", st.Name, len(actions), strings.Join(actions, ", "))
	}
	if len(actions) > 0 {
		a := actions[0]
		if a == "until" {
			a = "wait"
		}
		st.Action = ActionKind(a)
	}
	sc := l.scope(st.Name, "")
	if v := kv["set"]; v != nil {
		for _, p := range l.pairs(v, "set", nil) {
			val, ds := compileValue(p[1], sc)
			l.add(ds)
			st.Set = append(st.Set, Assign{Key: p[0].Value, Value: val, Pos: l.pos(p[0])})
		}
	}
	if v := kv["store"]; v != nil {
		for _, p := range l.pairs(v, "store", nil) {
			name := p[0].Value
			if _, ok := l.m.Stores[name]; !ok {
				names := make([]string, 0, len(l.m.Stores))
				for k := range l.m.Stores {
					names = append(names, k)
				}
				sort.Strings(names)
				l.errf(p[0], RuleUnknownStore, "store %q is not declared under stores%s", name, didYouMean(name, names))
			}
			for _, e := range l.pairs(p[1], fmt.Sprintf("store %q", name), nil) {
				key, ds := compileValue(e[0], sc)
				l.add(ds)
				val, ds := compileValue(e[1], sc)
				l.add(ds)
				st.Store = append(st.Store, StoreWrite{Store: name, Key: key, Value: val, Pos: l.pos(e[0])})
			}
		}
	}
	switch st.Action {
	case ActionGoTo:
		if s, ok := l.str(kv["go_to"], "go_to"); ok {
			st.GoTo, st.GoToPos = s, l.pos(kv["go_to"])
		} else {
			l.opaque[st.Name] = true
		}
	case ActionChoose:
		l.choose(st, kv["choose"], sc)
	case ActionTask:
		st.Task = l.task(kv["task"], st.Name, "")
	case ActionParallel:
		l.parallel(st, kv["parallel"])
	case ActionApproval:
		ap := &Approval{}
		for _, p := range l.pairs(kv["approval"], "approval", []string{"message", "timeout"}) {
			switch p[0].Value {
			case "message":
				ap.Message, _ = l.value(p[1], sc)
			case "timeout":
				ap.Timeout = l.duration(p[1], "approval.timeout")
			}
		}
		st.Approval = ap
	case ActionBlueprint:
		sb := &SubBlueprint{}
		bp := kv["blueprint"]
		if bp.Kind == yaml.ScalarNode {
			if s, ok := l.str(bp, "blueprint"); ok {
				sb.Name = s
				l.pf.subs = append(l.pf.subs, subRef{s, l.pos(bp)})
			}
		} else {
			seen := false
			for _, p := range l.pairs(bp, "blueprint", []string{"input", "name"}) {
				switch p[0].Value {
				case "name":
					seen = true
					if s, ok := l.str(p[1], "blueprint.name"); ok {
						sb.Name = s
						l.pf.subs = append(l.pf.subs, subRef{s, l.pos(p[1])})
					}
				case "input":
					sb.Input, _ = l.value(p[1], sc)
				}
			}
			if !seen && bp.Kind == yaml.MappingNode && !l.wasSuggested(bp, "name") {
				l.errf(bp, RuleMissingKey, "blueprint needs a name")
			}
		}
		st.Blueprint = sb
	case ActionWait:
		w := &Wait{}
		if v := kv["wait"]; v != nil {
			if v.Kind == yaml.MappingNode {
				for _, p := range l.pairs(v, "wait", []string{"until"}) {
					w.Until = l.untilValue(p[1], sc)
				}
			} else {
				w.Duration = l.duration(v, "wait")
			}
		}
		if v := kv["until"]; v != nil {
			w.Until = l.untilValue(v, sc)
		}
		st.Wait = w
		if g := kv["go_to"]; g == nil {
			l.opaque[st.Name] = true
			if !l.wasSuggested(n, "go_to") {
				l.errf(n, RuleMissingKey, "state %q waits but has no go_to for when the time comes", st.Name)
			}
		} else if s, ok := l.str(g, "go_to"); ok {
			st.GoTo, st.GoToPos = s, l.pos(g)
		} else {
			l.opaque[st.Name] = true
		}
	case ActionEnd:
		v := kv["end"]
		s, ok := l.str(v, "end")
		if outcomes := []string{string(OutcomeFailure), string(OutcomeSuccess)}; ok && !contains(outcomes, s) {
			l.errf(v, RuleWrongType, "end must be success or failure, not %q%s", s, didYouMean(s, outcomes))
		}
		st.End = Outcome(s)
	}
	l.transitions(st, n, kv["transitions"], keys["transitions"])
}

func remove(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func didYouMean(name string, cands []string) string {
	if s := spell.Nearest(name, cands); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

func (l *loader) value(n *yaml.Node, sc *exprScope) (*Value, bool) {
	v, ds := compileValue(n, sc)
	l.add(ds)
	return v, len(ds) == 0
}

// untilValue compiles an `until` time: a bare expression or a template.
func (l *loader) untilValue(n *yaml.Node, sc *exprScope) *Value {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && !strings.Contains(n.Value, "${{") {
		e, ds := compileWhen(n, sc)
		l.add(ds)
		if e == nil {
			return nil
		}
		return &Value{Pos: e.Pos, node: exprNode{e.ex}}
	}
	v, _ := l.value(n, sc)
	return v
}

func (l *loader) choose(st *State, n *yaml.Node, sc *exprScope) {
	if n.Kind != yaml.SequenceNode {
		l.opaque[st.Name] = true
		l.errf(n, RuleWrongType, "choose must be a list of {when, go_to} entries, not %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		l.errf(n, RuleMissingKey, "choose has no entries")
	}
	defaultAt := -1
	for i, e := range n.Content {
		e = deref(e)
		c := Choice{Pos: l.pos(e)}
		var whenNode, gotoNode *yaml.Node
		before := len(l.diags)
		for _, p := range l.pairs(e, "a choose entry", []string{"go_to", "when"}) {
			switch p[0].Value {
			case "when":
				whenNode = p[1]
			case "go_to":
				gotoNode = p[1]
			}
		}
		if len(l.diags) > before {
			l.opaque[st.Name] = true
		}
		if e.Kind != yaml.MappingNode {
			continue
		}
		if defaultAt >= 0 {
			l.errf(e, RuleUnreachableChoice, "this entry of choose comes after the default entry (entry %d) and is never taken", defaultAt+1)
		}
		if whenNode != nil {
			w, ds := compileWhen(whenNode, sc)
			l.add(ds)
			c.When = w
			if w == nil {
				c.When = &Expr{Src: whenNode.Value, Pos: l.pos(whenNode)}
			}
		} else if defaultAt < 0 {
			defaultAt = i
		}
		if gotoNode == nil {
			l.opaque[st.Name] = true
			if !l.wasSuggested(e, "go_to") {
				l.errf(e, RuleMissingKey, "a choose entry needs go_to")
			}
		} else if s, ok := l.str(gotoNode, "go_to"); ok {
			c.GoTo, c.GoToPos = s, l.pos(gotoNode)
		} else {
			l.opaque[st.Name] = true
		}
		st.Choose = append(st.Choose, c)
	}
}

func (l *loader) task(n *yaml.Node, state, local string) *Task {
	t := &Task{Pos: l.pos(n)}
	d := l.m.Defaults
	t.Timeout, t.DispatchTimeout, t.Strategy = d.Timeout, d.DispatchTimeout, d.Strategy
	if d.Retries != nil {
		r := *d.Retries
		t.Retries = &r
	}
	t.Backoff = d.Backoff
	if d.Priority != nil {
		t.Priority = *d.Priority
	}
	sc := l.scope(state, local)
	seenType := false
	for _, p := range l.pairs(n, "task", taskKeys) {
		k, v := p[0].Value, p[1]
		switch k {
		case "type":
			seenType = true
			if s, ok := l.str(v, "task type"); ok {
				if s == "" {
					l.errf(v, RuleWrongType, "task type is empty")
				}
				t.Type = s
			}
		case "params":
			if v.Kind != yaml.MappingNode && !(v.Kind == yaml.ScalarNode && strings.Contains(v.Value, "${{")) {
				l.errf(v, RuleWrongType, "params must be a mapping, not %s", kindName(v))
				continue
			}
			t.Params, _ = l.value(v, sc)
		case "priority":
			t.Priority, _ = l.number(v, "priority")
		case "timeout":
			t.Timeout = l.duration(v, "timeout")
		case "dispatch_timeout":
			t.DispatchTimeout = l.duration(v, "dispatch_timeout")
		case "retries":
			if r, ok := l.retries(v, "retries"); ok {
				t.Retries = &r
			}
		case "retry_backoff":
			l.backoff(v, "retry_backoff", &t.Backoff)
		case "strategy":
			t.Strategy = l.strategy(v)
		case "max_cost":
			if f, ok := l.number(v, "max_cost"); ok {
				t.MaxCost = &f
			}
		case "requires":
			if v.Kind != yaml.MappingNode {
				l.errf(v, RuleWrongType, "requires must be a mapping of resource requirements, not %s", kindName(v))
				continue
			}
			var r map[string]any
			if err := v.Decode(&r); err != nil {
				l.errf(v, RuleWrongType, "requires: %v", err)
				continue
			}
			t.Requires, _ = FromJSON(jsonify(r)).(map[string]any)
		case "output_schema":
			t.OutputSchema = l.schema(v, "output_schema")
		}
	}
	if n.Kind == yaml.MappingNode && !seenType && !l.wasSuggested(n, "type") {
		l.errf(n, RuleMissingKey, "task needs a type")
	}
	return t
}

func (l *loader) parallel(st *State, n *yaml.Node) {
	p := &Parallel{}
	st.Parallel = p
	kv := map[string]*yaml.Node{}
	for _, e := range l.pairs(n, "parallel", []string{"as", "for_each", "task", "tasks"}) {
		kv[e[0].Value] = e[1]
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	switch {
	case kv["tasks"] != nil && (kv["for_each"] != nil || kv["task"] != nil):
		l.errf(n, RuleActionCount, "parallel takes either tasks or for_each with task, not both")
	case kv["tasks"] != nil:
		ts := kv["tasks"]
		if ts.Kind != yaml.SequenceNode {
			l.errf(ts, RuleWrongType, "parallel tasks must be a list of tasks, not %s", kindName(ts))
			return
		}
		if len(ts.Content) == 0 {
			l.errf(ts, RuleMissingKey, "parallel tasks is empty")
		}
		for _, t := range ts.Content {
			p.Tasks = append(p.Tasks, l.task(deref(t), st.Name, ""))
		}
	case kv["for_each"] != nil:
		if kv["as"] == nil {
			if !l.wasSuggested(n, "as") {
				l.errf(n, RuleMissingKey, "parallel for_each needs as: NAME for the item")
			}
		} else if s, ok := l.str(kv["as"], "as"); ok {
			if !identRE.MatchString(s) || contains(scopeNames[:], s) {
				l.errf(kv["as"], RuleInvalidName, "as %q must be an identifier other than %s", s, strings.Join(scopeNames[:], ", "))
			} else {
				p.As = s
			}
		}
		p.ForEach = l.untilValue(kv["for_each"], l.scope(st.Name, ""))
		if kv["task"] == nil {
			if !l.wasSuggested(n, "task") {
				l.errf(n, RuleMissingKey, "parallel for_each needs a task")
			}
		} else {
			p.Task = l.task(kv["task"], st.Name, p.As)
		}
	case l.wasSuggested(n, "tasks", "for_each", "task"):
	default:
		l.errf(n, RuleMissingKey, "parallel needs tasks, or for_each with as and task")
	}
}

// transitions reads the transitions n (nil when absent, key its key) of
// state st, written in the mapping stateNode.
func (l *loader) transitions(st *State, stateNode, n, key *yaml.Node) {
	needs := st.Action == ActionTask || st.Action == ActionParallel || st.Action == ActionApproval || st.Action == ActionBlueprint
	if n == nil {
		if needs {
			l.opaque[st.Name] = true
			if l.wasSuggested(stateNode, "transitions") {
				return // the misspelt key is reported
			}
			l.errf(l.nodeAt(st), RuleMissingTransitions, "state %q (%s) needs transitions", st.Name, st.Action)
		}
		return
	}
	if st.Action == ActionEnd {
		l.errf(key, RuleEndWithTransitions, "end state %q has transitions; an end state never leaves", st.Name)
		return
	}
	if !needs && st.Action != "" {
		l.errf(key, RuleUnusedTransitions, "state %q (%s) does not use transitions; it leaves by %s", st.Name, st.Action, leavesBy(st.Action))
		return
	}
	allowed := actionStatuses[st.Action]
	before := len(l.diags)
	pairs := l.pairs(n, "transitions", nil)
	if len(l.diags) > before {
		l.opaque[st.Name] = true
	}
	for _, p := range pairs {
		status := p[0].Value
		if allowed != nil && !contains(allowed, status) {
			l.opaque[st.Name] = true // the edge is dropped
			l.errf(p[0], RuleUnknownStatus, "%s never leaves with status %q%s; valid: %s", st.Action, status, didYouMean(status, allowed), strings.Join(allowed, ", "))
			continue
		}
		target, ok := l.str(p[1], "transition target")
		if !ok {
			l.opaque[st.Name] = true
			continue
		}
		st.Transitions = append(st.Transitions, Transition{Status: status, Target: target, Pos: l.pos(p[1])})
	}
}

func leavesBy(a ActionKind) string {
	switch a {
	case ActionGoTo, ActionWait:
		return "go_to"
	case ActionChoose:
		return "its entries' go_to"
	}
	return "its action"
}

func (l *loader) nodeAt(st *State) *yaml.Node {
	return &yaml.Node{Line: st.Pos.Line, Column: st.Pos.Col}
}

// crossCheck finds duplicate names and endpoints and unknown
// sub-blueprints across the files of a folder.
func crossCheck(files []*parsedFile) Diagnostics {
	var ds Diagnostics
	names := map[string]*parsedFile{}
	endpoints := map[string]*parsedFile{}
	var all []string
	for _, pf := range files {
		if pf.machine == nil || pf.machine.Name == "" {
			continue
		}
		m := pf.machine
		if first, ok := names[m.Name]; ok {
			ds = append(ds, RuleDuplicateName.at(pf.namePos, fmt.Sprintf("blueprint name %q is already used by %s", m.Name, first.namePos)))
			pf.failed = true
		} else {
			names[m.Name] = pf
			all = append(all, m.Name)
		}
		if m.Endpoint != "" {
			if first, ok := endpoints[m.Endpoint]; ok {
				ds = append(ds, RuleDuplicateEndpoint.at(pf.endpointPos, fmt.Sprintf("endpoint %q is already used by blueprint %q at %s", m.Endpoint, first.machine.Name, first.endpointPos)))
				pf.failed = true
			} else {
				endpoints[m.Endpoint] = pf
			}
		}
	}
	sort.Strings(all)
	for _, pf := range files {
		for _, s := range pf.subs {
			if names[s.name] == nil {
				msg := fmt.Sprintf("blueprint %q does not exist in this folder%s", s.name, didYouMean(s.name, all))
				ds = append(ds, RuleUnknownBlueprint.at(s.pos, msg))
				pf.failed = true
			}
		}
	}
	return ds
}
