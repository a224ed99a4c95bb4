package lang

import (
	"fmt"
	"strings"
)

// graphEdge is one arrow of the drawing.
type graphEdge struct {
	from, to, label string
	dashed          bool
}

func (m *Machine) edges() []graphEdge {
	var out []graphEdge
	for _, s := range m.States {
		switch s.Action {
		case ActionGoTo:
			out = append(out, graphEdge{s.Name, s.GoTo, "", false})
		case ActionWait:
			label := "after " + fmtDuration(s.Wait.Duration)
			if s.Wait.Until != nil {
				label = "until " + strings.Join(s.Wait.Until.Exprs(), " ")
			}
			out = append(out, graphEdge{s.Name, s.GoTo, label, false})
		case ActionChoose:
			for _, c := range s.Choose {
				label := "default"
				if c.When != nil {
					label = c.When.Src
				}
				out = append(out, graphEdge{s.Name, c.GoTo, label, c.When == nil})
			}
		}
		for _, t := range s.Transitions {
			out = append(out, graphEdge{s.Name, t.Target, t.Status, false})
		}
	}
	return out
}

func fmtDuration(d interface{ String() string }) string { return d.String() }

// nodeLabel is the text inside a state's node: its name and what it does.
func nodeLabel(s *State) string {
	switch s.Action {
	case ActionTask:
		return s.Name + "\ntask: " + s.Task.Type
	case ActionParallel:
		if s.Parallel.Task != nil {
			return fmt.Sprintf("%s\nparallel: %s for each %s", s.Name, s.Parallel.Task.Type, s.Parallel.As)
		}
		types := make([]string, len(s.Parallel.Tasks))
		for i, t := range s.Parallel.Tasks {
			types[i] = t.Type
		}
		return s.Name + "\nparallel: " + strings.Join(types, ", ")
	case ActionApproval:
		return s.Name + "\napproval"
	case ActionBlueprint:
		return s.Name + "\nblueprint: " + s.Blueprint.Name
	case ActionWait:
		if s.Wait.Until != nil {
			return s.Name + "\nwait until"
		}
		return s.Name + "\nwait: " + fmtDuration(s.Wait.Duration)
	case ActionEnd:
		return s.Name + "\nend: " + string(s.End)
	}
	return s.Name
}

// DOT draws the machine for Graphviz: one node per state shaped by its
// action, one edge per transition labelled with its status or condition,
// the start marked by an entry arrow from a point node "(start)" (with
// more parentheses if a state has that name), end states coloured by
// outcome.
// Output is deterministic: states in file order.
func (m *Machine) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotID(m.Name))
	b.WriteString("  rankdir=TB;\n")
	if m.Description != "" {
		fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n", dotQuote(m.Name+": "+m.Description))
	}
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];\n")
	entry := "(start)"
	for taken := true; taken; {
		taken = false
		for _, s := range m.States {
			if s.Name == entry {
				entry, taken = "("+entry+")", true
			}
		}
	}
	fmt.Fprintf(&b, "  %s [shape=point, width=0.2, label=\"\"];\n", dotID(entry))
	for _, s := range m.States {
		shape, extra := dotShape(s)
		fmt.Fprintf(&b, "  %s [shape=%s, label=%s%s];\n", dotID(s.Name), shape, dotQuote(nodeLabel(s)), extra)
	}
	if m.Start != "" {
		fmt.Fprintf(&b, "  %s -> %s [label=\"start\"];\n", dotID(entry), dotID(m.Start))
	}
	for _, e := range m.edges() {
		attrs := ""
		if e.label != "" {
			attrs = "label=" + dotQuote(e.label)
		}
		if e.dashed {
			if attrs != "" {
				attrs += ", "
			}
			attrs += "style=dashed"
		}
		if attrs != "" {
			attrs = " [" + attrs + "]"
		}
		fmt.Fprintf(&b, "  %s -> %s%s;\n", dotID(e.from), dotID(e.to), attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

func dotShape(s *State) (string, string) {
	switch s.Action {
	case ActionTask:
		return "box", ", style=rounded"
	case ActionChoose:
		return "diamond", ""
	case ActionParallel:
		return "box3d", ""
	case ActionApproval:
		return "hexagon", ""
	case ActionBlueprint:
		return "component", ""
	case ActionWait:
		return "octagon", ""
	case ActionGoTo:
		return "ellipse", ""
	case ActionEnd:
		if s.End == OutcomeSuccess {
			return "doublecircle", ", style=filled, fillcolor=\"#c8e6c9\", color=\"#2e7d32\""
		}
		return "doublecircle", ", style=filled, fillcolor=\"#ffcdd2\", color=\"#c62828\""
	}
	return "ellipse", ""
}

func dotID(s string) string { return dotQuote(s) }

func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Mermaid draws the machine as a Mermaid flowchart, with the same nodes
// and edges as DOT.
func (m *Machine) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	if m.Description != "" {
		fmt.Fprintf(&b, "  %%%% %s: %s\n", m.Name, strings.NewReplacer("\r", " ", "\n", " ").Replace(m.Description))
	}
	ids := map[string]string{}
	for i, s := range m.States {
		ids[s.Name] = fmt.Sprintf("s%d", i)
	}
	id := func(name string) string {
		if v, ok := ids[name]; ok {
			return v
		}
		v := fmt.Sprintf("x%d", len(ids))
		ids[name] = v
		return v
	}
	b.WriteString("  start((start))\n")
	for _, s := range m.States {
		open, close := mermaidShape(s)
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", id(s.Name), open, mermaidText(nodeLabel(s)), close)
	}
	if m.Start != "" {
		fmt.Fprintf(&b, "  start --> %s\n", id(m.Start))
	}
	for _, e := range m.edges() {
		arrow := "-->"
		if e.dashed {
			arrow = "-.->"
		}
		if e.label != "" {
			fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", id(e.from), arrow, mermaidText(e.label), id(e.to))
		} else {
			fmt.Fprintf(&b, "  %s %s %s\n", id(e.from), arrow, id(e.to))
		}
	}
	var ok, bad []string
	for _, s := range m.States {
		if s.Action == ActionEnd {
			if s.End == OutcomeSuccess {
				ok = append(ok, id(s.Name))
			} else {
				bad = append(bad, id(s.Name))
			}
		}
	}
	b.WriteString("  classDef success fill:#c8e6c9,stroke:#2e7d32\n  classDef failure fill:#ffcdd2,stroke:#c62828\n")
	if len(ok) > 0 {
		fmt.Fprintf(&b, "  class %s success\n", strings.Join(ok, ","))
	}
	if len(bad) > 0 {
		fmt.Fprintf(&b, "  class %s failure\n", strings.Join(bad, ","))
	}
	return b.String()
}

func mermaidShape(s *State) (string, string) {
	switch s.Action {
	case ActionTask:
		return "(", ")"
	case ActionChoose:
		return "{", "}"
	case ActionParallel:
		return "[[", "]]"
	case ActionApproval:
		return "{{", "}}"
	case ActionBlueprint:
		return "[/", "/]"
	case ActionWait:
		return "[(", ")]"
	case ActionGoTo:
		return "([", "])"
	case ActionEnd:
		return "(((", ")))"
	}
	return "[", "]"
}

// mermaidText escapes text inside a quoted Mermaid label: Mermaid reads
// #name; and #123; as entities, so '#' itself is escaped too.
func mermaidText(s string) string {
	r := strings.NewReplacer("#", "#35;", `"`, "#quot;", "\r", "", "\n", "<br/>", "<", "#lt;", ">", "#gt;", "|", "#124;", "`", "#96;")
	return r.Replace(s)
}
