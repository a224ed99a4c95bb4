package lang

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCompileExpr(t *testing.T) {
	e, err := CompileExpr("where", `input.amount > 10 and history.get("step") == "paid"`, 0)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Input: FromJSON(map[string]any{"amount": 12.0}), History: map[string]any{"step": "paid"}}
	if ok, err := e.Truth(context.Background(), env); err != nil || !ok {
		t.Fatalf("Truth = %v, %v; want true", ok, err)
	}
	env.Input = FromJSON(map[string]any{"amount": 3.0})
	if ok, _ := e.Truth(context.Background(), env); ok {
		t.Fatal("Truth = true for amount 3")
	}
	if _, err := CompileExpr("where", `input.amount >`, 0); err == nil || !strings.Contains(err.Error(), "where") {
		t.Fatalf("syntax error: %v", err)
	}
	if _, err := CompileExpr("where", `inptu.x`, 0); err == nil || !strings.Contains(err.Error(), "input") {
		t.Fatalf("undefined name: %v; want a did-you-mean", err)
	}
	loop, err := CompileExpr("where", `len([x for x in range(1000000) if x > 0]) > 0`, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loop.Truth(context.Background(), &Env{}); !errors.Is(err, ErrStepLimit) {
		t.Fatalf("a long loop: %v; want the step limit", err)
	}
}
