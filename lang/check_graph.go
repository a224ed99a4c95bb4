package lang

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/avtomatika-ai/avtomatika-go/lang/internal/spell"
)

// The graph checks are passes over a compiled machine: its states and the
// edges go_to, choose and transitions draw between them. Each pass reports
// every finding it has; none depends on another's silence, so a misspelt
// transition target and the state it leaves unreachable are both reported.

// graph is what the passes read: the machine, and the states whose edges
// could not all be read (a misspelt or missing key, an action that is not
// one): such a state may lead anywhere, so no state is called unreachable
// while one of them is reachable, and it counts as able to finish.
type graph struct {
	m      *Machine
	opaque map[string]bool
	// startKnown is set when start names a state, so reachability has a root.
	startKnown bool
}

// edge is one arrow of the machine as the file writes it.
type edge struct {
	from  *State
	to    string
	pos   Pos    // of the target name
	where string // what names the target, for messages
}

// graphPasses run in order over one machine; each returns its findings.
var graphPasses = []func(g *graph) Diagnostics{
	checkTargets,
	checkEndStates,
	checkReachable,
	checkPathToEnd,
}

// checkGraph runs every graph pass over m.
func checkGraph(m *Machine, opaque map[string]bool) Diagnostics {
	g := &graph{m: m, opaque: opaque, startKnown: m.Start != "" && m.index[m.Start] != nil}
	var ds Diagnostics
	for _, pass := range graphPasses {
		ds = append(ds, pass(g)...)
	}
	return ds
}

// edges returns the arrows leaving s, in file order.
func (g *graph) edges(s *State) []edge {
	var out []edge
	if s.GoTo != "" {
		out = append(out, edge{s, s.GoTo, s.GoToPos, fmt.Sprintf("state %q go_to", s.Name)})
	}
	for _, c := range s.Choose {
		if c.GoTo != "" {
			out = append(out, edge{s, c.GoTo, c.GoToPos, fmt.Sprintf("state %q choose", s.Name)})
		}
	}
	for _, t := range s.Transitions {
		out = append(out, edge{s, t.Target, t.Pos, fmt.Sprintf("state %q transition %q", s.Name, t.Status)})
	}
	return out
}

// known reports whether name is a state of the machine.
func (g *graph) known(name string) bool { return g.m.index[name] != nil }

// checkTargets: every edge names a state of the machine.
func checkTargets(g *graph) Diagnostics {
	var ds Diagnostics
	for _, s := range g.m.States {
		for _, e := range g.edges(s) {
			if !g.known(e.to) {
				d := unknownStateDiag(g.m, e.pos, e.to, e.where)
				d.EndCol = spanEnd(g.m.Sources[g.m.File], e.pos, e.to)
				ds = append(ds, d)
			}
		}
	}
	return ds
}

// unknownStateDiag says that where names a state the machine lacks,
// suggesting the nearest state name.
func unknownStateDiag(m *Machine, pos Pos, name, where string) Diagnostic {
	names := make([]string, 0, len(m.States))
	for _, s := range m.States {
		names = append(names, s.Name)
	}
	msg := fmt.Sprintf("%s names unknown state %q", where, name)
	if s := spell.Nearest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return RuleUnknownState.at(pos, msg)
}

// checkEndStates: a machine with a start has at least one end state (a
// state whose edges are unknown may be one).
func checkEndStates(g *graph) Diagnostics {
	if !g.startKnown {
		return nil
	}
	for _, s := range g.m.States {
		if s.Action == ActionEnd || g.opaque[s.Name] {
			return nil
		}
	}
	return Diagnostics{RuleNoEndState.at(g.m.index[g.m.Start].Pos, "the blueprint has no end state (end: success or end: failure)")}
}

// reachable returns the states a job can enter from start.
func (g *graph) reachable() map[string]bool {
	seen := map[string]bool{g.m.Start: true}
	queue := []string{g.m.Start}
	for len(queue) > 0 {
		s := g.m.index[queue[0]]
		queue = queue[1:]
		for _, e := range g.edges(s) {
			if !seen[e.to] && g.known(e.to) {
				seen[e.to] = true
				queue = append(queue, e.to)
			}
		}
	}
	return seen
}

// checkReachable: every state is reachable from start, unless a reachable
// state's edges are unknown (it may well lead there).
func checkReachable(g *graph) Diagnostics {
	if !g.startKnown {
		return nil
	}
	seen := g.reachable()
	for name := range g.opaque {
		if seen[name] {
			return nil
		}
	}
	var ds Diagnostics
	for _, s := range g.m.States {
		if !seen[s.Name] {
			ds = append(ds, RuleUnreachableState.atf(s.Pos, "state %q is not reachable from start %q", s.Name, g.m.Start))
		}
	}
	return ds
}

// checkPathToEnd: every reachable state with an action can reach an end
// state. States whose edges are unknown, or that name an unknown state
// (reported already), count as able to: the mistake is reported once.
func checkPathToEnd(g *graph) Diagnostics {
	if !g.startKnown {
		return nil
	}
	prev := map[string][]string{}
	canEnd := map[string]bool{}
	var queue []string
	hasEnd := false
	for _, s := range g.m.States {
		stray := false
		for _, e := range g.edges(s) {
			prev[e.to] = append(prev[e.to], s.Name)
			stray = stray || !g.known(e.to)
		}
		if s.Action == ActionEnd || g.opaque[s.Name] {
			hasEnd = true
		}
		if s.Action == ActionEnd || g.opaque[s.Name] || stray {
			canEnd[s.Name] = true
			queue = append(queue, s.Name)
		}
	}
	if !hasEnd {
		return nil // checkEndStates said so
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, p := range prev[n] {
			if !canEnd[p] {
				canEnd[p] = true
				queue = append(queue, p)
			}
		}
	}
	seen := g.reachable()
	var ds Diagnostics
	for _, s := range g.m.States {
		if seen[s.Name] && !canEnd[s.Name] && s.Action != "" {
			ds = append(ds, RuleNoPathToEnd.atf(s.Pos, "state %q can never reach an end state", s.Name))
		}
	}
	return ds
}

// spanEnd is the last column (inclusive, in runes) of text written plainly
// at p in src, or 0 when the source there is not text itself (quoted, say).
func spanEnd(src []byte, p Pos, text string) int {
	if p.Line < 1 || p.Col < 1 || text == "" || strings.ContainsAny(text, "\r\n") {
		return 0
	}
	lines := strings.SplitN(string(src), "\n", p.Line+1)
	if p.Line > len(lines) {
		return 0
	}
	rs := []rune(lines[p.Line-1])
	if p.Col-1 > len(rs) || !strings.HasPrefix(string(rs[p.Col-1:]), text) {
		return 0
	}
	return p.Col + utf8.RuneCountInString(text) - 1
}
