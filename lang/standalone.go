package lang

import (
	"gopkg.in/yaml.v3"
)

// CompileExpr compiles an expression that stands alone, outside a
// blueprint (a job search's `where`): the same compiler and evaluation as
// a `when:`, with the same names in scope (input, history, result,
// results, job, client, stores) and maxSteps bounding each evaluation (0:
// DefaultMaxSteps). name labels it in diagnostics and evaluation errors.
// The error is the Diagnostics of what does not compile.
func CompileExpr(name, src string, maxSteps uint64) (*Expr, error) {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: src, Line: 1, Column: 1}
	sc := &exprScope{Blueprint: name, File: name, MaxSteps: maxSteps}
	e, ds := compileWhen(n, sc)
	if ds.HasErrors() {
		return nil, ds
	}
	return e, nil
}
