package lang_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

// evalSet loads a blueprint whose state s sets v, with script beside it,
// and evaluates v against input.
func evalSet(t *testing.T, script, expr string, input map[string]any) (any, error) {
	t.Helper()
	bp := "name: bp\nscript: s.star\nstart: s\nstates:\n  s:\n    set: {v: " + expr + "}\n    go_to: e\n  e: {end: success}\n"
	set, ds := lang.LoadFS(fstest.MapFS{"bp.yaml": {Data: []byte(bp)}, "s.star": {Data: []byte(script)}})
	if len(ds) > 0 {
		t.Fatalf("load: %v", ds)
	}
	st := set.Lookup("bp").State("s")
	return st.Set[0].Value.Eval(context.Background(), &lang.Env{Input: input})
}

// Assignments in a script: plain, augmented, and *= (which runs with the
// same size check as *), each doing what it says.
func TestScriptAssignments(t *testing.T) {
	t.Parallel()
	const script = `
def arith(n):
    x = n
    x += 1
    x *= 3
    x -= 2
    return x

def repeat(s, n):
    r = s
    r *= n
    return r

def fill(d, k, v):
    d[k] = v
    return d
`
	for _, tc := range []struct {
		expr string
		want any
	}{
		{`"${{ arith(2) }}"`, int64(7)},
		{`"${{ repeat('ab', 3) }}"`, "ababab"},
		{`"${{ fill({}, input.k, input.v) }}"`, map[string]any{"key": "val"}},
	} {
		got, err := evalSet(t, script, tc.expr, map[string]any{"k": "key", "v": "val"})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v (%v), want %#v", tc.expr, got, err, tc.want)
		}
	}
	// *= in a script is bounded like *: a huge repetition is an error,
	// not an allocation.
	if got, err := evalSet(t, script, `"${{ repeat('abcdefgh', 1000000000) }}"`, nil); err == nil {
		t.Errorf("repeat 8 bytes 10^9 times: %T, want a size error", got)
	}
}

// A parameter's default value in a script reads JSON values as
// expressions do (dots on dicts, a missing key is None).
func TestScriptDefaultParamsReadLikeExpressions(t *testing.T) {
	t.Parallel()
	const script = `
CONF = {"mode": "fast"}

def mode(m = CONF.mode):
    return m

def missing(m = CONF.nothing):
    return m == None
`
	if got, err := evalSet(t, script, `"${{ mode() }}"`, nil); err != nil || got != "fast" {
		t.Errorf("mode() = %#v (%v), want fast", got, err)
	}
	if got, err := evalSet(t, script, `"${{ missing() }}"`, nil); err != nil || got != true {
		t.Errorf("missing() = %#v (%v), want true", got, err)
	}
}

// Slices read their bounds as expressions too: dotted JSON access in the
// low, high and step parts, where a missing key, dotted or
// in brackets, is None (an open bound).
func TestExprSliceBounds(t *testing.T) {
	t.Parallel()
	in := map[string]any{"items": []any{"a", "b", "c", "d", "e"}, "r": map[string]any{"lo": int64(1), "hi": int64(4), "step": int64(2)}}
	for _, tc := range []struct {
		expr string
		want any
	}{
		{`"${{ input.items[input.r.lo:input.r.hi] }}"`, []any{"b", "c", "d"}},
		{`"${{ input.items[:input.r.hi:input.r.step] }}"`, []any{"a", "c"}},
		{`"${{ input.items[input.r.lo:] }}"`, []any{"b", "c", "d", "e"}},
		{`"${{ input.items[input.r.none:input.r.hi] }}"`, []any{"a", "b", "c", "d"}},
		{`"${{ input.items[input.r.lo:input.r.none] }}"`, []any{"b", "c", "d", "e"}},
		{`"${{ input.items[::input.r.none] }}"`, []any{"a", "b", "c", "d", "e"}},
		{`"${{ input.items[input.r['none']:input.r['hi']] }}"`, []any{"a", "b", "c", "d"}},
		{`"${{ input.items[input.r['lo']:input.r['none']:input.r['none']] }}"`, []any{"b", "c", "d", "e"}},
	} {
		got, err := evalSet(t, "", tc.expr, in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v (%v), want %#v", tc.expr, got, err, tc.want)
		}
	}
}

// A syntax error at the very end of an expression points into the
// expression's line, never past it.
func TestExprSyntaxErrorAtEnd(t *testing.T) {
	t.Parallel()
	bp := "name: bp\nstart: s\nstates:\n  s:\n    set: {v: \"${{ 1 + }}\"}\n    go_to: e\n  e: {end: success}\n"
	_, ds := lang.LoadFS(fstest.MapFS{"bp.yaml": {Data: []byte(bp)}})
	if len(ds) == 0 {
		t.Fatal("no diagnostic for 1 +")
	}
	d := ds[0]
	line := strings.Split(bp, "\n")[d.Pos.Line-1]
	if d.Rule != "starlark-syntax" || d.Pos.Line != 5 || d.Pos.Col < 1 || d.Pos.Col > len([]rune(line))+1 {
		t.Errorf("diagnostic %v, want starlark-syntax within line 5 (%q)", d, line)
	}
}
