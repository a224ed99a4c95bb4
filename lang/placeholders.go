package lang

import (
	"context"
	"errors"
)

// Placeholders until the loader and the expression evaluator land; each
// helper deletes the part it replaces.

var errNotBuilt = errors.New("not built yet")

// Schema is a compiled JSON Schema.
type Schema struct{ Raw any }

type program struct{}

type valueNode interface {
	eval(ctx context.Context, env *Env) (any, error)
}

type compiledExpr struct{}

func (c *compiledExpr) eval(ctx context.Context, env *Env) (any, error)   { return nil, errNotBuilt }
func (c *compiledExpr) truth(ctx context.Context, env *Env) (bool, error) { return false, errNotBuilt }
