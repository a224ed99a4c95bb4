package lang

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/syntax"
	"gopkg.in/yaml.v3"
)

type syntaxToken = syntax.Token

func cmpEq(op syntax.Token, eq bool) (bool, error) {
	switch op {
	case syntax.EQL:
		return eq, nil
	case syntax.NEQ:
		return !eq, nil
	}
	return false, fmt.Errorf("%s not supported on JSON values", op)
}

// segment is a piece of a template string: literal text, or the source of
// one ${{ }} expression starting at byte offset off of the string.
type segment struct {
	isExpr bool
	text   string
	off    int
}

// templateError is a malformed template at byte offset Off.
type templateError struct {
	Off int
	Msg string
}

func (e *templateError) Error() string { return e.Msg }

// scanTemplate splits s into literal and expression segments.
//
// Escapes: in a run of dollar signs directly before `{{`, each pair `$$`
// writes one literal `$`; an odd dollar left over starts a template. So
// `$${{ x }}` is the literal text `${{ x }}`, and `$$${{ x }}` is a `$`
// followed by the value of x (a price). Dollars not before `{{` are
// literal as they stand.
//
// A `${{` without its `}}` is an error at the `${{`. The closing `}}` is
// the first one outside a Starlark string literal; a string literal left
// open before a `}}` is an error at its quote.
func scanTemplate(s string) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	litStart := 0
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{text: lit.String(), off: litStart})
			lit.Reset()
		}
	}
	i := 0
	for i < len(s) {
		if lit.Len() == 0 {
			litStart = i
		}
		if s[i] != '$' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		k := 0
		for i+k < len(s) && s[i+k] == '$' {
			k++
		}
		if !strings.HasPrefix(s[i+k:], "{{") {
			lit.WriteString(s[i : i+k])
			i += k
			continue
		}
		lit.WriteString(s[i : i+k/2])
		if k%2 == 0 {
			lit.WriteString("{{")
			i += k + 2
			continue
		}
		i += k - 1 // at the `${{`
		start := i
		j := i + 3
		end := -1
		var quote byte
		quoteAt := 0
		for j < len(s) {
			c := s[j]
			if quote != 0 {
				if c == '\\' {
					j += 2
					continue
				}
				if c == quote {
					quote = 0
				}
				j++
				continue
			}
			if c == '"' || c == '\'' {
				quote, quoteAt = c, j
				j++
				continue
			}
			if strings.HasPrefix(s[j:], "}}") {
				end = j
				break
			}
			j++
		}
		if end < 0 {
			if quote != 0 && strings.Contains(s[quoteAt:], "}}") {
				return nil, &templateError{Off: quoteAt, Msg: "unclosed string literal inside `${{ }}`"}
			}
			return nil, &templateError{Off: start, Msg: "unclosed template: `${{` without `}}`"}
		}
		flush()
		segs = append(segs, segment{isExpr: true, text: s[start+3 : end], off: start + 3})
		i = end + 2
		litStart = i
	}
	flush()
	return segs, nil
}

// valueNode is a compiled YAML value.
type valueNode interface {
	eval(ctx context.Context, env *Env) (any, error)
}

type constNode struct{ v any }

func (n constNode) eval(context.Context, *Env) (any, error) { return CopyJSON(n.v), nil }

type mapNode struct {
	keys []string
	vals []valueNode
}

func (n *mapNode) eval(ctx context.Context, env *Env) (any, error) {
	out := make(map[string]any, len(n.keys))
	for i, k := range n.keys {
		v, err := n.vals[i].eval(ctx, env)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

type listNode struct{ items []valueNode }

func (n *listNode) eval(ctx context.Context, env *Env) (any, error) {
	out := make([]any, len(n.items))
	for i, it := range n.items {
		v, err := it.eval(ctx, env)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// exprNode is a string that is exactly one template: it keeps the type.
type exprNode struct{ ex *compiledExpr }

func (n exprNode) eval(ctx context.Context, env *Env) (any, error) { return n.ex.eval(ctx, env) }

// textNode is a longer string with templates formatted into it.
type textNode struct {
	lits  []string // len(exprs)+1 literal pieces around the expressions
	exprs []*compiledExpr
}

func (n *textNode) eval(ctx context.Context, env *Env) (any, error) {
	var b strings.Builder
	b.WriteString(n.lits[0])
	for i, e := range n.exprs {
		v, err := e.eval(ctx, env)
		if err != nil {
			return nil, err
		}
		b.WriteString(formatInto(v))
		b.WriteString(n.lits[i+1])
	}
	return b.String(), nil
}

// IsConst reports whether the value holds no template.
func (v *Value) IsConst() bool {
	if v == nil {
		return true
	}
	_, ok := v.node.(constNode)
	if ok {
		return true
	}
	switch n := v.node.(type) {
	case *mapNode:
		for _, c := range n.vals {
			if _, ok := c.(constNode); !ok {
				return false
			}
		}
		return true
	case *listNode:
		for _, c := range n.items {
			if _, ok := c.(constNode); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// Exprs returns the source of every ${{ }} expression in the value, in
// order (for tools such as the graph).
func (v *Value) Exprs() []string {
	var out []string
	var walk func(valueNode)
	walk = func(n valueNode) {
		switch n := n.(type) {
		case exprNode:
			out = append(out, n.ex.src)
		case *textNode:
			for _, e := range n.exprs {
				out = append(out, e.src)
			}
		case *mapNode:
			for _, c := range n.vals {
				walk(c)
			}
		case *listNode:
			for _, c := range n.items {
				walk(c)
			}
		}
	}
	if v != nil {
		walk(v.node)
	}
	return out
}

// compileValue compiles any YAML value; strings may hold templates.
func compileValue(n *yaml.Node, sc *exprScope) (*Value, Diagnostics) {
	node, ds := compileNode(n, sc, 0)
	if node == nil {
		return nil, ds
	}
	return &Value{Pos: nodePos(sc.File, n), node: node}, ds
}

func compileNode(n *yaml.Node, sc *exprScope, depth int) (valueNode, Diagnostics) {
	if depth > 100 {
		return nil, Diagnostics{RuleWrongType.at(nodePos(sc.File, n), "value nested too deeply")}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return constNode{nil}, nil
		}
		return compileNode(n.Alias, sc, depth+1)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return constNode{nil}, nil
		}
		return compileNode(n.Content[0], sc, depth+1)
	case yaml.MappingNode:
		var ds Diagnostics
		m := &mapNode{}
		allConst := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				ds = append(ds, RuleWrongType.at(nodePos(sc.File, k), "a key must be a string"))
				continue
			}
			c, d := compileNode(v, sc, depth+1)
			ds = append(ds, d...)
			if c == nil {
				continue
			}
			if _, ok := c.(constNode); !ok {
				allConst = false
			}
			m.keys = append(m.keys, k.Value)
			m.vals = append(m.vals, c)
		}
		if allConst && len(ds) == 0 {
			out := make(map[string]any, len(m.keys))
			for i, k := range m.keys {
				out[k] = m.vals[i].(constNode).v
			}
			return constNode{out}, nil
		}
		return m, ds
	case yaml.SequenceNode:
		var ds Diagnostics
		l := &listNode{}
		allConst := true
		for _, it := range n.Content {
			c, d := compileNode(it, sc, depth+1)
			ds = append(ds, d...)
			if c == nil {
				continue
			}
			if _, ok := c.(constNode); !ok {
				allConst = false
			}
			l.items = append(l.items, c)
		}
		if allConst && len(ds) == 0 {
			out := make([]any, len(l.items))
			for i, c := range l.items {
				out[i] = c.(constNode).v
			}
			return constNode{out}, nil
		}
		return l, ds
	case yaml.ScalarNode:
		return compileScalar(n, sc)
	}
	return constNode{nil}, nil
}

func compileScalar(n *yaml.Node, sc *exprScope) (valueNode, Diagnostics) {
	switch n.ShortTag() {
	case "!!null":
		return constNode{nil}, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return constNode{b}, nil
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return constNode{i}, nil
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			return constNode{normFloat(f)}, nil
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			return constNode{f}, nil
		}
	}
	s := n.Value
	if !strings.Contains(s, "${{") {
		return constNode{s}, nil
	}
	at := scalarLoc{file: sc.File, src: sc.Src, node: n}
	segs, err := scanTemplate(s)
	if err != nil {
		te := err.(*templateError)
		return nil, Diagnostics{RuleUnclosedTemplate.at(at.pos(te.Off), te.Msg)}
	}
	var ds Diagnostics
	if len(segs) == 1 && segs[0].isExpr {
		ce, d := compileExprAt(segs[0].text, at, segs[0].off, sc)
		if ce == nil {
			return nil, d
		}
		return exprNode{ce}, nil
	}
	t := &textNode{lits: []string{""}}
	for _, sg := range segs {
		if !sg.isExpr {
			t.lits[len(t.lits)-1] += sg.text
			continue
		}
		ce, d := compileExprAt(sg.text, at, sg.off, sc)
		ds = append(ds, d...)
		if ce == nil {
			continue
		}
		t.exprs = append(t.exprs, ce)
		t.lits = append(t.lits, "")
	}
	if len(ds) > 0 {
		return nil, ds
	}
	if len(t.exprs) == 0 {
		return constNode{t.lits[0]}, nil
	}
	return t, nil
}
