package lang

// Expressions: how the loader compiles `when:` values, `${{ }}` templates
// and scripts, and how the runtime evaluates them.
//
// The loader calls, for one blueprint:
//
//	prog, ds := compileScript(fsys, "order_processing.star", maxSteps) // nil prog on error
//	sc := &exprScope{Blueprint: name, State: state, File: file, Src: src, Program: prog, Local: asName, MaxSteps: maxSteps}
//	when, ds := compileWhen(node, sc)   // node: the YAML scalar of a `when:`
//	val, ds := compileValue(node, sc)   // node: any YAML value; strings may hold ${{ }}
//
// and the runtime calls Expr.Truth, Expr.Eval and Value.Eval with an Env;
// their errors are *EvalError, wrapping context.Canceled (or the ctx's
// cause) or ErrStepLimit when that is why the evaluation stopped.
//
// Every diagnostic points into the YAML (or .star) file at the exact spot
// (rules: starlark-syntax, undefined-name and unknown-function with "did
// you mean", unclosed-template, load-outside-folder, missing-script,
// script-error). Names in scope: input, history, result, results, job,
// client, stores, the for_each name, the script's public top-level names,
// Starlark's Universe (with a bounded range) and a pure json module; no
// clock, file, network or random access. Template escapes: see
// scanTemplate.
// Each expression is compiled once into a Starlark function whose
// parameters are the names in scope (input, history, result, results, job,
// client, stores and the for_each name); evaluation calls that function on
// a fresh thread with a step limit, so a compiled blueprint is safe for
// concurrent use and costs no parsing at run time.
//
// One step of Starlark may be a large allocation (`[0] * 10**8`,
// `list(range(10**8))`), which the step limit does not see: `*` becomes
// `_mul(a, b)` and `range` is replaced, both refusing results of more than
// maxElements elements (strings: bytes).
//
// Dots and brackets on JSON values never fail for a missing key: the
// compiler rewrites `x.name` (outside a call position) into `_dot(x,
// "name")` and `x[k]` into `_idx(x, k)`, which give None for a missing key
// and for None itself; a method call `x.m(a)` becomes `_meth(x, "m", a)`,
// None when x is None (so `input.user.get("plan")` is None without a user).
// JSON objects and arrays are the read-only Starlark types json_dict and
// json_list (jsonvalue.go), wrapped lazily around the Go maps and slices.
// `a == b`, `a != b`, `a in b` and `a not in b` become `_eq(a, b, neg)` and
// `_in(a, b, neg)` unless one side is a literal scalar, so a JSON value
// equals a Starlark dict or list with the same contents.
// The same rewrites apply inside the script, except on the left of `=`.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	starlarkjson "go.starlark.net/lib/json"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"gopkg.in/yaml.v3"

	"github.com/avtomatika-ai/avtomatika-go/lang/internal/spell"
)

// DefaultMaxSteps bounds one evaluation (and a script's top level).
const DefaultMaxSteps = 100_000

// ErrStepLimit is wrapped by an *EvalError whose evaluation ran out of
// steps (errors.Is(err, ErrStepLimit)).
var ErrStepLimit = errors.New("step limit exceeded")

// scopeNames are the names every expression sees, in parameter order.
var scopeNames = [...]string{"input", "history", "result", "results", "job", "client", "stores"}

// exprScope tells the compiler where an expression stands.
type exprScope struct {
	Blueprint string
	State     string
	File      string // path of the YAML file, as printed in diagnostics
	Src       []byte // the YAML file's bytes, for positions inside scalars
	Local     string // the for_each name, "" outside a parallel task
	Program   *program
	// ScriptFailed is set when the blueprint names a script that did not
	// load (reported at the script): names it may define are not reported.
	ScriptFailed bool
	MaxSteps     uint64 // 0: DefaultMaxSteps
}

// program is a blueprint's compiled script: its frozen top-level values,
// shared by every evaluation.
type program struct {
	globals starlark.StringDict
	// Sources are the script and every module it loaded, by path in the folder.
	Sources map[string][]byte
}

func (p *program) has(name string) bool {
	if p == nil {
		return false
	}
	_, ok := p.globals[name]
	return ok
}

// compiledExpr is one expression compiled into a function of the scope.
type compiledExpr struct {
	fn       *starlark.Function
	local    string
	src      string
	pos      Pos
	uses     uint8 // bit i: the expression mentions scopeNames[i]
	bp, st   string
	maxSteps uint64
}

var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: false, Recursion: true}

// builtins are predeclared in expressions and scripts besides Universe:
// the rewrite helpers and the pure json module (encode, decode, indent).
var builtins = starlark.StringDict{
	"json":  starlarkjson.Module,
	"_dot":  starlark.NewBuiltin("_dot", builtinDot),
	"_idx":  starlark.NewBuiltin("_idx", builtinIdx),
	"_eq":   starlark.NewBuiltin("_eq", builtinEq),
	"_in":   starlark.NewBuiltin("_in", builtinIn),
	"_meth": starlark.NewBuiltin("_meth", builtinMeth),
	"_mul":  starlark.NewBuiltin("_mul", builtinMul),
	"range": starlark.NewBuiltin("range", builtinRange),
}

// compileWhen compiles a `when:` scalar.
func compileWhen(n *yaml.Node, sc *exprScope) (*Expr, Diagnostics) {
	if n.Kind != yaml.ScalarNode {
		return nil, Diagnostics{RuleWrongType.at(nodePos(sc.File, n), "`when` must be an expression string")}
	}
	at := scalarLoc{file: sc.File, src: sc.Src, node: n}
	src := n.Value
	if strings.HasPrefix(strings.TrimSpace(src), "${{") && strings.HasSuffix(strings.TrimSpace(src), "}}") {
		// A `when` written as a template means the same expression.
		segs, err := scanTemplate(src)
		if err == nil && len(segs) == 1 && segs[0].isExpr {
			ce, ds := compileExprAt(segs[0].text, at, segs[0].off, sc)
			if ce == nil {
				return nil, ds
			}
			return &Expr{Src: segs[0].text, Pos: ce.pos, ex: ce}, ds
		}
	}
	ce, ds := compileExprAt(src, at, 0, sc)
	if ce == nil {
		return nil, ds
	}
	return &Expr{Src: src, Pos: ce.pos, ex: ce}, ds
}

// compileExprAt compiles src, which starts at byte offset off of the
// scalar at.
func compileExprAt(src string, at scalarLoc, off int, sc *exprScope) (*compiledExpr, Diagnostics) {
	filename := sc.File
	posOf := func(p syntax.Position) Pos {
		return at.pos(off + exprOffset(src, int(p.Line), int(p.Col)))
	}
	if strings.TrimSpace(src) == "" {
		return nil, Diagnostics{RuleStarlarkSyntax.at(at.pos(off), "empty expression")}
	}
	// Parse one line: line breaks and tabs become spaces (same byte
	// length, so columns still map), leading space is skipped.
	lead := leadingSpace(src)
	off += lead
	src = strings.TrimRight(src[lead:], " \t\r\n")
	flat := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, src)
	expr, err := fileOptions.ParseExpr(filename, flat, 0)
	if err != nil {
		var se syntax.Error
		if errors.As(err, &se) {
			return nil, Diagnostics{RuleStarlarkSyntax.at(posOf(se.Pos), "syntax error: "+se.Msg)}
		}
		return nil, Diagnostics{RuleStarlarkSyntax.at(at.pos(off), err.Error())}
	}
	rewriteExpr(&expr, true)
	params := make([]syntax.Expr, 0, len(scopeNames)+1)
	for _, n := range scopeNames {
		params = append(params, &syntax.Ident{Name: n})
	}
	if sc.Local != "" {
		params = append(params, &syntax.Ident{Name: sc.Local})
	}
	f := &syntax.File{
		Path:    filename,
		Options: fileOptions,
		Stmts: []syntax.Stmt{&syntax.DefStmt{
			Name:   &syntax.Ident{Name: "__expr"},
			Params: params,
			Body:   []syntax.Stmt{&syntax.ReturnStmt{Result: expr}},
		}},
	}
	calls := callees(expr)
	var uses uint8
	syntax.Walk(expr, func(n syntax.Node) bool {
		if id, ok := n.(*syntax.Ident); ok {
			for i, s := range scopeNames {
				if id.Name == s {
					uses |= 1 << i
				}
			}
		}
		return true
	})
	isPre := func(name string) bool {
		_, ok := builtins[name]
		return ok || sc.Program.has(name)
	}
	prog, err := starlark.FileProgram(f, isPre)
	if err != nil {
		var el resolve.ErrorList
		if errors.As(err, &el) {
			var ds Diagnostics
			for _, e := range el {
				if d, ok := resolveDiag(e, posOf(e.Pos), calls, sc); ok {
					ds = append(ds, d)
				}
			}
			return nil, ds
		}
		return nil, Diagnostics{RuleStarlarkSyntax.at(at.pos(off), err.Error())}
	}
	pre := starlark.StringDict{}
	for k, v := range builtins {
		pre[k] = v
	}
	if sc.Program != nil {
		for k, v := range sc.Program.globals {
			pre[k] = v
		}
	}
	th := &starlark.Thread{Name: "compile"}
	g, err := prog.Init(th, pre)
	if err != nil {
		return nil, Diagnostics{RuleInternalError.at(at.pos(off), err.Error())}
	}
	g.Freeze()
	steps := sc.MaxSteps
	if steps == 0 {
		steps = DefaultMaxSteps
	}
	return &compiledExpr{
		fn: g["__expr"].(*starlark.Function), local: sc.Local, src: src, uses: uses,
		pos: at.pos(off), bp: sc.Blueprint, st: sc.State, maxSteps: steps,
	}, nil
}

func leadingSpace(s string) int { return len(s) - len(strings.TrimLeft(s, " \t\r\n")) }

// resolveDiag turns a resolver error into a diagnostic with a suggestion.
// It reports false for a name the blueprint's script may define when the
// script did not load: that failure is reported at the script, and the
// name is likely right.
func resolveDiag(e resolve.Error, pos Pos, calls map[syntax.Position]bool, sc *exprScope) (Diagnostic, bool) {
	msg := e.Msg
	if name, ok := strings.CutPrefix(msg, "undefined: "); ok {
		if i := strings.IndexByte(name, ' '); i >= 0 {
			name = name[:i]
		}
		cands := append([]string{}, scopeNames[:]...)
		if sc.Local != "" {
			cands = append(cands, sc.Local)
		}
		for k := range starlark.Universe {
			cands = append(cands, k)
		}
		cands = append(cands, "json")
		if sc.Program != nil {
			for k := range sc.Program.globals {
				cands = append(cands, k)
			}
		}
		sort.Strings(cands)
		if sc.ScriptFailed && (calls[e.Pos] || spell.Nearest(name, cands) == "") {
			return Diagnostic{}, false
		}
		rule, what := RuleUndefinedName, "undefined name"
		if calls[e.Pos] {
			rule, what = RuleUnknownFunction, "call of undefined function"
		}
		m := fmt.Sprintf("%s %q", what, name)
		if rule == RuleUnknownFunction && sc.Program == nil {
			m += " (the blueprint has no script)"
		}
		if s := spell.Nearest(name, cands); s != "" {
			m += fmt.Sprintf("; did you mean %q?", s)
		}
		return rule.at(pos, m), true
	}
	return RuleStarlarkSyntax.at(pos, msg), true
}

// callees returns the positions of identifiers used as the function of a call.
func callees(e syntax.Expr) map[syntax.Position]bool {
	out := map[syntax.Position]bool{}
	syntax.Walk(e, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok {
			if id, ok := c.Fn.(*syntax.Ident); ok {
				out[id.NamePos] = true
			}
		}
		return true
	})
	return out
}

// exprOffset converts a 1-based line and column (in runes) within src into
// a byte offset.
func exprOffset(src string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(src); c++ {
		if src[off] == '\n' {
			break
		}
		_, size := decodeRune(src[off:])
		off += size
	}
	return off
}

// rewriteExpr replaces, in place, attribute reads by _dot calls and (when
// index is set) index reads by _idx calls, leaving method calls alone.
func rewriteExpr(p *syntax.Expr, index bool) {
	switch e := (*p).(type) {
	case *syntax.DotExpr:
		rewriteExpr(&e.X, index)
		*p = &syntax.CallExpr{
			Fn:     &syntax.Ident{NamePos: e.Dot, Name: "_dot"},
			Lparen: e.Dot,
			Args:   []syntax.Expr{e.X, &syntax.Literal{Token: syntax.STRING, TokenPos: e.NamePos, Raw: fmt.Sprintf("%q", e.Name.Name), Value: e.Name.Name}},
			Rparen: e.NamePos,
		}
	case *syntax.IndexExpr:
		rewriteExpr(&e.X, index)
		rewriteExpr(&e.Y, index)
		if index {
			*p = &syntax.CallExpr{
				Fn:     &syntax.Ident{NamePos: e.Lbrack, Name: "_idx"},
				Lparen: e.Lbrack,
				Args:   []syntax.Expr{e.X, e.Y},
				Rparen: e.Rbrack,
			}
		}
	case *syntax.CallExpr:
		for i := range e.Args {
			rewriteExpr(&e.Args[i], index)
		}
		if d, ok := e.Fn.(*syntax.DotExpr); ok {
			// x.m(args) becomes _meth(x, "m", args): None when x is None.
			rewriteExpr(&d.X, index)
			args := make([]syntax.Expr, 0, len(e.Args)+2)
			args = append(args, d.X, &syntax.Literal{Token: syntax.STRING, TokenPos: d.NamePos, Raw: fmt.Sprintf("%q", d.Name.Name), Value: d.Name.Name})
			e.Args = append(args, e.Args...)
			e.Fn = &syntax.Ident{NamePos: d.Dot, Name: "_meth"}
		} else {
			rewriteExpr(&e.Fn, index)
		}
	case *syntax.BinaryExpr:
		rewriteExpr(&e.X, index)
		rewriteExpr(&e.Y, index)
		var fn string
		switch e.Op {
		case syntax.EQL, syntax.NEQ:
			fn = "_eq"
		case syntax.IN, syntax.NOT_IN:
			fn = "_in"
		}
		if e.Op == syntax.STAR && !(numberLiteral(e.X) && numberLiteral(e.Y)) {
			*p = &syntax.CallExpr{
				Fn:     &syntax.Ident{NamePos: e.OpPos, Name: "_mul"},
				Lparen: e.OpPos,
				Args:   []syntax.Expr{e.X, e.Y},
				Rparen: e.OpPos,
			}
			return
		}
		if fn != "" && !scalarLiteral(e.X) && !scalarLiteral(e.Y) {
			neg := "False"
			if e.Op == syntax.NEQ || e.Op == syntax.NOT_IN {
				neg = "True"
			}
			*p = &syntax.CallExpr{
				Fn:     &syntax.Ident{NamePos: e.OpPos, Name: fn},
				Lparen: e.OpPos,
				Args:   []syntax.Expr{e.X, e.Y, &syntax.Ident{NamePos: e.OpPos, Name: neg}},
				Rparen: e.OpPos,
			}
		}
	case *syntax.UnaryExpr:
		if e.X != nil {
			rewriteExpr(&e.X, index)
		}
	case *syntax.ParenExpr:
		rewriteExpr(&e.X, index)
	case *syntax.CondExpr:
		rewriteExpr(&e.Cond, index)
		rewriteExpr(&e.True, index)
		rewriteExpr(&e.False, index)
	case *syntax.ListExpr:
		for i := range e.List {
			rewriteExpr(&e.List[i], index)
		}
	case *syntax.TupleExpr:
		for i := range e.List {
			rewriteExpr(&e.List[i], index)
		}
	case *syntax.DictExpr:
		for i := range e.List {
			rewriteExpr(&e.List[i], index)
		}
	case *syntax.DictEntry:
		rewriteExpr(&e.Key, index)
		rewriteExpr(&e.Value, index)
	case *syntax.SliceExpr:
		rewriteExpr(&e.X, index)
		for _, q := range []*syntax.Expr{&e.Lo, &e.Hi, &e.Step} {
			if *q != nil {
				rewriteExpr(q, index)
			}
		}
	case *syntax.Comprehension:
		rewriteExpr(&e.Body, index)
		for _, c := range e.Clauses {
			switch c := c.(type) {
			case *syntax.ForClause:
				rewriteExpr(&c.X, index)
			case *syntax.IfClause:
				rewriteExpr(&c.Cond, index)
			}
		}
	case *syntax.LambdaExpr:
		rewriteExpr(&e.Body, index)
	}
}

// scalarLiteral reports whether e is a literal string, number, None, True
// or False: comparing with one needs no JSON-aware rewrite.
func scalarLiteral(e syntax.Expr) bool {
	switch e := e.(type) {
	case *syntax.Literal:
		return true
	case *syntax.Ident:
		return e.Name == "None" || e.Name == "True" || e.Name == "False"
	case *syntax.UnaryExpr:
		return e.Op == syntax.MINUS && scalarLiteral(e.X)
	}
	return false
}

func numberLiteral(e syntax.Expr) bool {
	l, ok := e.(*syntax.Literal)
	return ok && (l.Token == syntax.INT || l.Token == syntax.FLOAT)
}

// rewriteStmts applies rewriteExpr to every expression read in a script;
// the target of an assignment (d[k] = v) keeps its brackets.
func rewriteStmts(stmts []syntax.Stmt) {
	for _, s := range stmts {
		switch s := s.(type) {
		case *syntax.ExprStmt:
			rewriteExpr(&s.X, true)
		case *syntax.AssignStmt:
			if id, ok := s.LHS.(*syntax.Ident); ok && s.Op == syntax.STAR_EQ {
				// x *= n is x = x * n, with the size check of _mul.
				s.Op = syntax.EQ
				s.RHS = &syntax.BinaryExpr{OpPos: s.OpPos, Op: syntax.STAR, X: &syntax.Ident{NamePos: id.NamePos, Name: id.Name}, Y: s.RHS}
			}
			rewriteExpr(&s.RHS, true)
			if _, ok := s.LHS.(*syntax.Ident); !ok {
				// d[k] = v or x.f = v: rewrite only the parts that are read.
				switch l := s.LHS.(type) {
				case *syntax.IndexExpr:
					rewriteExpr(&l.X, true)
					rewriteExpr(&l.Y, true)
				}
			}
		case *syntax.DefStmt:
			for i, p := range s.Params {
				if b, ok := p.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
					rewriteExpr(&b.Y, true)
					s.Params[i] = b
				}
			}
			rewriteStmts(s.Body)
		case *syntax.ForStmt:
			rewriteExpr(&s.X, true)
			rewriteStmts(s.Body)
		case *syntax.WhileStmt:
			rewriteExpr(&s.Cond, true)
			rewriteStmts(s.Body)
		case *syntax.IfStmt:
			rewriteExpr(&s.Cond, true)
			rewriteStmts(s.True)
			rewriteStmts(s.False)
		case *syntax.ReturnStmt:
			if s.Result != nil {
				rewriteExpr(&s.Result, true)
			}
		}
	}
}

// compileScript runs the blueprint's script module once and freezes it.
// load() resolves paths relative to the loading file, inside fsys only.
func compileScript(fsys fs.FS, file string, maxSteps uint64) (*program, Diagnostics) {
	if maxSteps == 0 {
		maxSteps = DefaultMaxSteps
	}
	p := &program{Sources: map[string][]byte{}}
	type entry struct {
		globals starlark.StringDict
		err     error
	}
	cache := map[string]*entry{}
	var ds Diagnostics
	var exec func(th *starlark.Thread, name string, from Pos) (starlark.StringDict, error)
	exec = func(th *starlark.Thread, name string, from Pos) (starlark.StringDict, error) {
		if e, ok := cache[name]; ok {
			if e == nil {
				return nil, fmt.Errorf("cycle in load of %q", name)
			}
			return e.globals, e.err
		}
		cache[name] = nil
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			ds = append(ds, RuleMissingScript.at(from, fmt.Sprintf("script %q cannot be read: %v", name, errors.Unwrap(err))))
			cache[name] = &entry{err: errReported}
			return nil, errReported
		}
		p.Sources[name] = src
		f, err := fileOptions.Parse(name, src, 0)
		if err != nil {
			var se syntax.Error
			if errors.As(err, &se) {
				ds = append(ds, RuleStarlarkSyntax.at(Pos{File: name, Line: int(se.Pos.Line), Col: int(se.Pos.Col)}, "syntax error: "+se.Msg))
			} else {
				ds = append(ds, RuleStarlarkSyntax.at(Pos{File: name}, err.Error()))
			}
			cache[name] = &entry{err: errReported}
			return nil, errReported
		}
		rewriteStmts(f.Stmts)
		isPre := func(n string) bool { _, ok := builtins[n]; return ok }
		prog, err := starlark.FileProgram(f, isPre)
		if err != nil {
			var el resolve.ErrorList
			if errors.As(err, &el) {
				for _, e := range el {
					d := RuleUndefinedName.at(Pos{File: name, Line: int(e.Pos.Line), Col: int(e.Pos.Col)}, e.Msg)
					if n, ok := strings.CutPrefix(e.Msg, "undefined: "); ok {
						n, _, _ = strings.Cut(n, " ")
						d.Message = fmt.Sprintf("undefined name %q", n)
						if s := spell.Nearest(n, scriptNames(f)); s != "" {
							d.Message += fmt.Sprintf("; did you mean %q?", s)
						}
					} else {
						d = RuleStarlarkSyntax.at(d.Pos, d.Message)
					}
					ds = append(ds, d)
				}
			} else {
				ds = append(ds, RuleStarlarkSyntax.at(Pos{File: name}, err.Error()))
			}
			cache[name] = &entry{err: errReported}
			return nil, errReported
		}
		loadPos := map[string]Pos{}
		for _, s := range f.Stmts {
			if l, ok := s.(*syntax.LoadStmt); ok {
				loadPos[l.Module.Value.(string)] = Pos{File: name, Line: int(l.Module.TokenPos.Line), Col: int(l.Module.TokenPos.Col)}
			}
		}
		child := &starlark.Thread{Name: name, Print: func(*starlark.Thread, string) {}}
		child.SetMaxExecutionSteps(maxSteps)
		child.Load = func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
			at := loadPos[module]
			target, ok := confine(path.Dir(name), module)
			if !ok {
				ds = append(ds, RuleLoadOutsideFolder.at(at, fmt.Sprintf("load(%q) leaves the blueprints folder", module)))
				return nil, errReported
			}
			return exec(child, target, at)
		}
		g, err := prog.Init(child, builtins)
		if err != nil {
			if err != errReported && !errors.Is(err, errReported) {
				pos := Pos{File: name}
				var ee *starlark.EvalError
				if errors.As(err, &ee) {
					// The innermost frame in a script; a built-in has no place.
					for i := range len(ee.CallStack) {
						fr := ee.CallStack.At(i)
						if fr.Pos.Line > 0 && strings.HasSuffix(fr.Pos.Filename(), ".star") {
							pos = Pos{File: fr.Pos.Filename(), Line: int(fr.Pos.Line), Col: int(fr.Pos.Col)}
							break
						}
					}
					err = errors.New(ee.Msg)
				}
				if child.ExecutionSteps() >= maxSteps {
					err = fmt.Errorf("top level exceeded the step limit of %d (endless loop?)", maxSteps)
				}
				ds = append(ds, RuleScriptError.at(pos, "script "+name+": "+err.Error()))
			}
			cache[name] = &entry{err: errReported}
			return nil, errReported
		}
		g.Freeze()
		cache[name] = &entry{globals: g}
		return g, nil
	}
	th := &starlark.Thread{Name: "script"}
	g, err := exec(th, file, Pos{File: file})
	if err != nil {
		return nil, ds
	}
	p.globals = starlark.StringDict{}
	for k, v := range g {
		if !strings.HasPrefix(k, "_") {
			p.globals[k] = v
		}
	}
	return p, nil
}

var errReported = errors.New("reported")

// scriptNames are the names a script may mean: Universe, json and every
// identifier the file itself uses.
func scriptNames(f *syntax.File) []string {
	seen := map[string]bool{"json": true}
	for k := range starlark.Universe {
		seen[k] = true
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		if id, ok := n.(*syntax.Ident); ok {
			seen[id.Name] = true
		}
		return true
	})
	for k := range builtins {
		if strings.HasPrefix(k, "_") {
			delete(seen, k)
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// confine resolves module relative to dir and reports whether it stays
// inside the folder.
func confine(dir, module string) (string, bool) {
	if module == "" || path.IsAbs(module) || strings.Contains(module, "\\") {
		return "", false
	}
	p := path.Clean(path.Join(dir, module))
	if !fs.ValidPath(p) || p == "." {
		return "", false
	}
	return p, true
}

// eval calls the compiled function with env.
func (c *compiledExpr) call(ctx context.Context, env *Env) (starlark.Value, error) {
	if c == nil {
		return nil, errors.New("expression not compiled")
	}
	th := &starlark.Thread{Name: c.bp}
	th.SetMaxExecutionSteps(c.maxSteps)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { th.Cancel("cancelled: " + context.Cause(ctx).Error()) })
		defer stop()
	}
	var args [len(scopeNames) + 1]starlark.Value
	if env == nil {
		env = &Env{}
	}
	// Only the names the expression mentions are wrapped; the others are
	// None (script functions see the scope only through arguments).
	for i := range scopeNames {
		if c.uses&(1<<i) == 0 {
			args[i] = starlark.None
			continue
		}
		switch i {
		case 0:
			args[i] = toStarlark(env.Input)
		case 1:
			args[i] = mapValue(env.History)
		case 2:
			args[i] = toStarlark(env.Result)
		case 3:
			args[i] = listOf(env.Results)
		case 4:
			args[i] = jobValue(env.Job)
		case 5:
			args[i] = mapValue(env.Client)
		case 6:
			args[i] = storesValue(env.Stores)
		}
	}
	n := len(scopeNames)
	if c.local != "" {
		args[n] = toStarlark(env.Locals[c.local])
		n++
	}
	v, err := starlark.Call(th, c.fn, starlark.Tuple(args[:n]), nil)
	if err != nil {
		msg := err.Error()
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			msg = ee.Msg
			// Name the innermost script function and line where it failed.
			for i := range len(ee.CallStack) {
				fr := ee.CallStack.At(i)
				if fr.Pos.Line <= 0 || fr.Pos.Filename() == "<builtin>" {
					continue
				}
				if fr.Pos.Filename() != c.pos.File {
					msg = fmt.Sprintf("%s (in %s at %s:%d:%d)", msg, fr.Name, fr.Pos.Filename(), fr.Pos.Line, fr.Pos.Col)
				}
				break
			}
		}
		switch {
		case ctx.Err() != nil:
			msg = "cancelled: " + context.Cause(ctx).Error()
			err = context.Cause(ctx)
		case th.ExecutionSteps() >= c.maxSteps:
			msg = fmt.Sprintf("step limit of %d exceeded (endless loop?)", c.maxSteps)
			err = ErrStepLimit
		}
		return nil, &EvalError{Blueprint: c.bp, State: c.st, Expr: c.src, Pos: c.pos, Msg: msg, Err: err}
	}
	return v, nil
}

func (c *compiledExpr) eval(ctx context.Context, env *Env) (any, error) {
	v, err := c.call(ctx, env)
	if err != nil {
		return nil, err
	}
	out, err := fromStarlark(v)
	if err != nil {
		return nil, &EvalError{Blueprint: c.bp, State: c.st, Expr: c.src, Pos: c.pos, Msg: err.Error(), Err: err}
	}
	return out, nil
}

func (c *compiledExpr) truth(ctx context.Context, env *Env) (bool, error) {
	v, err := c.call(ctx, env)
	if err != nil {
		return false, err
	}
	return bool(v.Truth()), nil
}

func nodePos(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}
