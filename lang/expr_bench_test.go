package lang

import (
	"context"
	"testing"
)

func BenchmarkWhenSimple(b *testing.B) {
	n, src := yamlValue(&testing.T{}, "v: input.amount > 100 and history.vip\n")
	e, ds := compileWhen(n, scope(src, nil))
	if len(ds) > 0 {
		b.Fatal(ds)
	}
	env := testEnv()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := e.Truth(ctx, env)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkTemplateString(b *testing.B) {
	n, src := yamlValue(&testing.T{}, "v: \"Ship ${{ history.order_no }} of ${{ input.amount }}\"\n")
	v, ds := compileValue(n, scope(src, nil))
	if len(ds) > 0 {
		b.Fatal(ds)
	}
	env := testEnv()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Eval(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
}
