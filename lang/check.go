package lang

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/avtomatika-ai/avtomatika-go/lang/internal/spell"
)

// Check is a Starlark expression over names its caller chooses, outside
// any blueprint: a blueprint test's `when` over a task's params and its
// assertions over a finished job. It is the dialect of a blueprint's
// expressions (the same rewrites, so dots on JSON values never fail; the
// same builtins and step limit) without a script.
type Check struct {
	Src   string
	Pos   Pos
	fn    *starlark.Function
	names []string
}

// CompileCheck compiles src, which starts at pos, as an expression whose
// free names are names. Errors are diagnostics at the spot in the
// expression (rules starlark-syntax and undefined-name, with "did you
// mean"); columns are exact for an expression on one line.
func CompileCheck(src string, pos Pos, names []string) (*Check, Diagnostics) {
	posOf := func(p syntax.Position) Pos {
		q := pos
		if p.Line > 1 {
			q.Line += int(p.Line) - 1
			q.Col = int(p.Col)
		} else if q.Col > 0 {
			q.Col += int(p.Col) - 1
		}
		return q
	}
	if strings.TrimSpace(src) == "" {
		return nil, Diagnostics{RuleStarlarkSyntax.at(pos, "empty expression")}
	}
	flat := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, src)
	expr, err := fileOptions.ParseExpr(pos.File, flat, 0)
	if err != nil {
		var se syntax.Error
		if errors.As(err, &se) {
			return nil, Diagnostics{RuleStarlarkSyntax.at(posOf(se.Pos), "syntax error: "+se.Msg)}
		}
		return nil, Diagnostics{RuleStarlarkSyntax.at(pos, err.Error())}
	}
	rewriteExpr(&expr, true)
	params := make([]syntax.Expr, len(names))
	for i, n := range names {
		params[i] = &syntax.Ident{Name: n}
	}
	f := &syntax.File{Path: pos.File, Options: fileOptions, Stmts: []syntax.Stmt{&syntax.DefStmt{
		Name: &syntax.Ident{Name: "__check"}, Params: params,
		Body: []syntax.Stmt{&syntax.ReturnStmt{Result: expr}},
	}}}
	isPre := func(name string) bool { _, ok := builtins[name]; return ok }
	prog, err := starlark.FileProgram(f, isPre)
	if err != nil {
		var el resolve.ErrorList
		if !errors.As(err, &el) {
			return nil, Diagnostics{RuleStarlarkSyntax.at(pos, err.Error())}
		}
		var ds Diagnostics
		for _, e := range el {
			msg := e.Msg
			if name, ok := strings.CutPrefix(msg, "undefined: "); ok {
				if i := strings.IndexByte(name, ' '); i >= 0 {
					name = name[:i]
				}
				cands := append([]string{"json"}, names...)
				for k := range starlark.Universe {
					cands = append(cands, k)
				}
				sort.Strings(cands)
				msg = fmt.Sprintf("undefined name %q", name)
				if s := spell.Nearest(name, cands); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				ds = append(ds, RuleUndefinedName.at(posOf(e.Pos), msg))
				continue
			}
			ds = append(ds, RuleStarlarkSyntax.at(posOf(e.Pos), msg))
		}
		return nil, ds
	}
	g, err := prog.Init(&starlark.Thread{Name: "compile"}, builtins)
	if err != nil {
		return nil, Diagnostics{RuleInternalError.at(pos, err.Error())}
	}
	g.Freeze()
	return &Check{Src: src, Pos: pos, fn: g["__check"].(*starlark.Function), names: append([]string(nil), names...)}, nil
}

// Eval evaluates the expression with vals (JSON values by name; a name
// missing from vals is None) and returns its JSON value.
func (c *Check) Eval(ctx context.Context, vals map[string]any) (any, error) {
	v, err := c.call(ctx, vals)
	if err != nil {
		return nil, err
	}
	return fromStarlark(v)
}

// Truth evaluates the expression with vals and returns its truth.
func (c *Check) Truth(ctx context.Context, vals map[string]any) (bool, error) {
	v, err := c.call(ctx, vals)
	if err != nil {
		return false, err
	}
	return bool(v.Truth()), nil
}

func (c *Check) call(ctx context.Context, vals map[string]any) (starlark.Value, error) {
	th := &starlark.Thread{Name: "check"}
	th.SetMaxExecutionSteps(DefaultMaxSteps)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { th.Cancel("cancelled") })
		defer stop()
	}
	args := make(starlark.Tuple, len(c.names))
	for i, n := range c.names {
		args[i] = toStarlark(vals[n])
	}
	v, err := starlark.Call(th, c.fn, args, nil)
	if err != nil {
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			return nil, errors.New(ee.Msg)
		}
		return nil, err
	}
	return v, nil
}

// IsTestFile reports whether a path names a blueprint test (NAME_test.yaml
// or NAME_test.yml) rather than a blueprint: the loader skips those.
func IsTestFile(p string) bool {
	return strings.HasSuffix(p, "_test.yaml") || strings.HasSuffix(p, "_test.yml")
}

// Suggest returns the candidate closest to a misspelt name, or "" when
// none is close: the "did you mean" of every finding.
func Suggest(name string, candidates []string) string { return spell.Nearest(name, candidates) }
