package lang

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// yamlValue parses doc and returns the node under key "v" with the source.
func yamlValue(t *testing.T, doc string) (*yaml.Node, []byte) {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	m := root.Content[0]
	for i := 0; i < len(m.Content); i += 2 {
		if m.Content[i].Value == "v" {
			return m.Content[i+1], []byte(doc)
		}
	}
	t.Fatalf("no key v in %q", doc)
	return nil, nil
}

func scope(src []byte, prog *program) *exprScope {
	return &exprScope{Blueprint: "bp", State: "st", File: "bp.yaml", Src: src, Program: prog}
}

func testEnv() *Env {
	return &Env{
		Input:   FromJSON(map[string]any{"amount": 150.0, "items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}}, "name": "Ann", "odd": map[string]any{"get": 2.0, "x": 1.0}}),
		History: map[string]any{"vip": true, "order_no": "ORD-1"},
		Job:     JobInfo{ID: "0123456789abcdef", Blueprint: "bp", State: "st", Attempt: 1, CreatedAt: time.Unix(0, 0)},
		Client:  map[string]any{"name": "acme", "plan": "pro"},
		Stores:  map[string]map[string]any{"vip_clients": {"acme": true}},
	}
}

func TestWhen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want bool
	}{
		{`input.amount > 100 and history.vip`, true},
		{`input.user.plan == "pro"`, false},
		{`input.user == None`, true},
		{`input["missing"] == None`, true},
		{`input.user["plan"] == None`, true},
		{`stores.vip_clients.get(client.name, False)`, true},
		{`stores.vip_clients.get("other", False)`, false},
		{`len(input.items) == 2 and input.items[1].sku == "b"`, true},
		{`"amount" in input`, true},
		{`[i.sku for i in input.items] == ["a", "b"]`, true},
		{`job.id[:4] == "0123"`, true},
		{`input.items[5] == None`, true},
		{`client.plan == "pro" if client.name else False`, true},
		{`{"sku": "a"} == input.items[0]`, true},
		{`input.items[0] == {"sku": "a"}`, true},
		{`input.items[0] != {"sku": "a"}`, false},
		{`input.items == [{"sku": "a"}, {"sku": "b"}]`, true},
		{`[x for x in input.items] == input.items`, true},
		{`{"sku": "b"} in input.items`, true},
		{`{"sku": "c"} not in input.items`, true},
		{`"missing" in input`, false},
		{`"missing" not in input`, true},
		{`"acme" in stores.vip_clients`, true},
		{`len(input.items + [1]) == 3 and len([0] + input.items) == 3`, true},
		{`len(input.items * 2) == 4`, true},
		{`(client | {"x": 1}).x == 1 and ({"plan": "free"} | client)["plan"] == "pro"`, true},
		{`input.amount == 150.0`, true},
		{`type(input) == "json_dict" and type(input.items) == "json_list"`, true},
		{`sorted(input.keys()) == ["amount", "items", "name", "odd"]`, true},
		{`[k for k in input] == ["amount", "items", "name", "odd"]`, true},
		{`input.items[-1].sku == "b" and input.items[1:][0].sku == "b"`, true},
		{`job.created_at == "1970-01-01T00:00:00Z" and job.attempt == 1`, true},
		{`results == [] and result == None`, true},
		{`input.user.get("plan") == None`, true},
		{`input.user.keys() == None`, true},
		{`input.odd.get("x") == 1 and input.odd.get == 2 and input.odd["get"] == 2`, true},
		{`input.odd.keys() == ["get", "x"]`, true},
		{`"pro".upper() == "PRO" and client.plan.upper() == "PRO"`, true},
		{`",".join([i.sku for i in input.items]) == "a,b"`, true},
		{`dict(input.odd) == {"get": 2, "x": 1}`, true},
		{`json.decode(json.encode(input.items)) == input.items`, true},
		{`"ab" * 3 == "ababab" and 2 * [1] == [1, 1] and input.amount * 2 == 300`, true},
		{`len(2 * input.items) == 4 and len(range(0, 10, 3)) == 4`, true},
	}
	for _, c := range cases {
		n, src := yamlValue(t, "v: '"+strings.ReplaceAll(c.expr, "'", "''")+"'\n")
		e, ds := compileWhen(n, scope(src, nil))
		if len(ds) > 0 {
			t.Errorf("%s: %v", c.expr, ds)
			continue
		}
		got, err := e.Truth(context.Background(), testEnv())
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc  string
		want any
	}{
		{`v: ${{ input.items }}`, []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}}},
		{`v: "${{ input.amount }}"`, int64(150)},
		{`v: "${{ 1.5 }}"`, 1.5},
		{`v: "Ship ${{ history.order_no }} for ${{ input.amount }} (${{ input.nothing }})"`, "Ship ORD-1 for 150 ()"},
		{`v: ${{ "ORD-" + job.id[:8] }}`, "ORD-01234567"},
		{`v: {items: "${{ input.items[0] }}", n: 3, s: plain}`, map[string]any{"items": map[string]any{"sku": "a"}, "n": int64(3), "s": "plain"}},
		{`v: "list ${{ [1, 2] }} and ${{ {'a': True} }}"`, `list [1,2] and {"a":true}`},
		{`v: "$${{ literal }}"`, "${{ literal }}"},
		{`v: no templates here`, "no templates here"},
		{"v: |\n  line ${{ input.name }}\n  next\n", "line Ann\nnext\n"},
		{`v: "${{ input.amount * 1.0 }}"`, int64(150)},
		{`v: "${{ input.amount / 4 }}"`, 37.5},
		{`v: "n=${{ 1e6 }} h=${{ 0.5 }} t=${{ 1e-7 }} b=${{ True }} s=${{ 'x' }}"`, "n=1000000 h=0.5 t=1e-7 b=true s=x"},
		{`v: "${{ {'a': input.items[0], 'n': None} }}"`, map[string]any{"a": map[string]any{"sku": "a"}, "n": nil}},
		{`v: "${{ (1, 'two') }}"`, []any{int64(1), "two"}},
		{`v: "${{   input.name   }}"`, "Ann"},
		{`v: " ${{ input.amount }}"`, " 150"},
		{`v: "cost: $$${{ input.amount }}"`, "cost: $150"},
		{`v: "$$$${{ x }} and $$ {{ and $$$"`, "$${{ x }} and $$ {{ and $$$"},
		{`v: '${{ "}}" + input.name }}'`, "}}Ann"},
	}
	for _, c := range cases {
		n, src := yamlValue(t, c.doc)
		v, ds := compileValue(n, scope(src, nil))
		if len(ds) > 0 {
			t.Errorf("%s: %v", c.doc, ds)
			continue
		}
		got, err := v.Eval(context.Background(), testEnv())
		if err != nil {
			t.Errorf("%s: %v", c.doc, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.doc, diff)
		}
	}
}

func TestExprDiagnostics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		doc  string
		when bool
		want []string // "line:col rule message-substring"
	}{
		{"undefined name", "v: inptu.amount > 3\n", true, []string{`1:4 undefined-name undefined name "inptu"; did you mean "input"?`}},
		{"syntax", "v: input.amount >\n", true, []string{"1:18 starlark-syntax"}},
		{"unknown function", "v: too_large(input.items)\n", true, []string{`1:4 unknown-function call of undefined function "too_large"`}},
		{"unclosed", "v: \"hello ${{ input.name \"\n", false, []string{"1:11 unclosed-template"}},
		{"in template", "v: \"a ${{ histroy.x }}\"\n", false, []string{`1:11 undefined-name undefined name "histroy"; did you mean "history"?`}},
		{"single quoted", "v: 'it''s ${{ nope }}'\n", false, []string{`1:15 undefined-name`}},
		{"double quoted escape", "v: \"\\t ${{ nope }}\"\n", false, []string{`1:12 undefined-name`}},
		{"literal block", "v: |\n  first\n  x ${{ nope }}\n", false, []string{`3:9 undefined-name`}},
		{"folded block", "v: >\n  first\n  x ${{ nope }}\n", false, []string{`3:9 undefined-name`}},
		{"plain multiline", "v: a\n  b ${{ nope }}\n", false, []string{`2:9 undefined-name`}},
		{"empty", "v: \"${{ }}\"\n", false, []string{`1:8 starlark-syntax empty expression`}},
		{"open string", "v: \"${{ 'abc }}\"\n", false, []string{"1:9 unclosed-template unclosed string literal"}},
		{"second template", "v: x ${{ input.name }} ${{ input.name + }}\n", false, []string{"1:40 starlark-syntax"}},
		{"when as template", "v: ${{ histroy.vip }}\n", true, []string{`1:8 undefined-name undefined name "histroy"`}},
		{"unicode before", "v: \"ünï ${{ nope }}\"\n", false, []string{`1:13 undefined-name`}},
	}
	for _, c := range cases {
		n, src := yamlValue(t, c.doc)
		var ds Diagnostics
		if c.when {
			_, ds = compileWhen(n, scope(src, nil))
		} else {
			_, ds = compileValue(n, scope(src, nil))
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Error())
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %q, want %d diagnostics", c.name, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			parts := strings.SplitN(w, " ", 3)
			d := ds[i]
			at := strings.TrimPrefix(d.Pos.String(), "bp.yaml:")
			if at != parts[0] || d.Rule != parts[1] || (len(parts) > 2 && !strings.Contains(d.Message, parts[2])) {
				t.Errorf("%s: got %s, want %s", c.name, d.Error(), w)
			}
		}
	}
}

func TestScript(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"bp.star":       {Data: []byte("load('lib/util.star', 'double')\ndef too_large(items):\n    return len(items) > 1\ndef twice(x):\n    return double(x)\ndef spin():\n    n = 0\n    while True:\n        n += 1\n    return n\ndef plan(c):\n    return c.plan\n")},
		"lib/util.star": {Data: []byte("def double(x):\n    return x * 2\n")},
		"evil.star":     {Data: []byte("load('../outside.star', 'x')\n")},
		"broken.star":   {Data: []byte("def f(:\n")},
	}
	prog, ds := compileScript(fsys, "bp.star", 0)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if len(prog.Sources) != 2 {
		t.Errorf("sources = %d, want 2 (script and loaded module)", len(prog.Sources))
	}
	eval := func(expr string) (any, error) {
		n, src := yamlValue(t, "v: '"+expr+"'\n")
		v, ds := compileValue(n, scope(src, prog))
		if len(ds) > 0 {
			t.Fatalf("%s: %v", expr, ds)
		}
		return v.Eval(context.Background(), testEnv())
	}
	if got, err := eval("${{ too_large(input.items) }}"); err != nil || got != true {
		t.Errorf("too_large = %v, %v", got, err)
	}
	if got, err := eval("${{ twice(21) }}"); err != nil || got != int64(42) {
		t.Errorf("twice = %v, %v", got, err)
	}
	if got, err := eval("${{ plan(client) }}"); err != nil || got != "pro" {
		t.Errorf("plan = %v, %v", got, err)
	}
	_, err := eval("${{ spin() }}")
	var ee *EvalError
	if !errors.As(err, &ee) || !strings.Contains(ee.Msg, "step limit") || ee.State != "st" || ee.Pos.Line != 1 {
		t.Errorf("spin: %v", err)
	}
	if !strings.Contains(err.Error(), `blueprint "bp", state "st": bp.yaml:1:9`) {
		t.Errorf("spin error does not name where: %v", err)
	}

	if _, ds := compileScript(fsys, "evil.star", 0); len(ds) != 1 || ds[0].Rule != "load-outside-folder" || ds[0].Pos.Line != 1 {
		t.Errorf("evil: %v", ds)
	}
	if _, ds := compileScript(fsys, "broken.star", 0); len(ds) != 1 || ds[0].Rule != "starlark-syntax" || ds[0].Pos.String() != "broken.star:1:8" {
		t.Errorf("broken: %v", ds)
	}
	if _, ds := compileScript(fsys, "missing.star", 0); len(ds) != 1 || ds[0].Rule != "missing-script" {
		t.Errorf("missing: %v", ds)
	}
}

// TestEvalErrors: run-time failures are *EvalErrors naming the blueprint,
// state, expression and position, never panics.
func TestEvalErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ expr, msg string }{
		{`[1] < input.items`, "json_list"},
		{`input.items < [1]`, "json_list"},
		{`input.amount.x`, "has no .x field"},
		{`input.name + 1`, "unknown binary op"},
		{`{input.items: 1}`, "unhashable"},
		{`float("nan")`, "not a JSON number"},
		{`input.items.append(1)`, "json_list has no .append"},
		{`[1] * 99999999`, "would exceed 1048576 elements"},
		{`"ab" * (1 << 40)`, "would exceed"},
		{`input.items * 9999999`, "would exceed"},
		{`list(range(99999999))`, "range of 99999999 elements exceeds"},
	}
	for _, c := range cases {
		n, src := yamlValue(t, "v: '"+strings.ReplaceAll(c.expr, "'", "''")+"'\n")
		e, ds := compileWhen(n, scope(src, nil))
		if len(ds) > 0 {
			t.Errorf("%s: %v", c.expr, ds)
			continue
		}
		_, err := e.Eval(context.Background(), testEnv())
		var ee *EvalError
		if !errors.As(err, &ee) || !strings.Contains(ee.Msg, c.msg) || ee.Blueprint != "bp" || ee.State != "st" || ee.Expr != c.expr || ee.Pos.String() != "bp.yaml:1:5" {
			t.Errorf("%s: err = %v, want an EvalError at bp.yaml:1:5 containing %q", c.expr, err, c.msg)
		}
	}
}

func TestScriptJSONValues(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"s.star": {Data: []byte(`
def total(items):
    t = 0
    for it in items:
        t += it.get("qty", 1)
    return t

def discount(order):
    return order["discount"] or 0

def tags(order):
    d = {}
    d["n"] = len(order.items)
    d["first"] = order.items[0].sku
    return d

def same(a, b):
    return a == b

def grow(s):
    for i in range(30):
        s *= 2
    return s
`)}}
	prog, ds := compileScript(fsys, "s.star", 0)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	cases := []struct {
		expr string
		want any
	}{
		{"total(input.items)", int64(2)},
		{"discount(input)", int64(0)},
		{"tags(input)", map[string]any{"n": int64(2), "first": "a"}},
		{"same(input.items[0], {'sku': 'a'})", true},
		{"len(grow('a')) if False else 0", int64(0)},
	}
	for _, c := range cases {
		n, src := yamlValue(t, "v: \""+c.expr+"\"\n")
		e, ds := compileWhen(n, scope(src, prog))
		if len(ds) > 0 {
			t.Fatalf("%s: %v", c.expr, ds)
		}
		got, err := e.Eval(context.Background(), testEnv())
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.expr, diff)
		}
	}
}

func TestStepLimitOption(t *testing.T) {
	t.Parallel()
	n, src := yamlValue(t, "v: \"${{ [x for x in range(1000)] }}\"\n")
	small := scope(src, nil)
	small.MaxSteps = 100
	v, ds := compileValue(n, small)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	_, err := v.Eval(context.Background(), testEnv())
	if !errors.Is(err, ErrStepLimit) || !strings.Contains(err.Error(), "step limit of 100") {
		t.Errorf("small limit: err = %v, want ErrStepLimit", err)
	}
	v, ds = compileValue(n, scope(src, nil))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if got, err := v.Eval(context.Background(), testEnv()); err != nil || len(got.([]any)) != 1000 {
		t.Errorf("default limit: %v", err)
	}
}

func TestScriptTopLevelLimit(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"s.star": {Data: []byte("def f():\n    n = 0\n    while True:\n        n += 1\nx = f()\n")}}
	_, ds := compileScript(fsys, "s.star", 1000)
	if len(ds) != 1 || ds[0].Rule != "script-error" || !strings.Contains(ds[0].Message, "step limit of 1000") || ds[0].Pos.File != "s.star" {
		t.Errorf("ds = %v", ds)
	}
}

func TestScriptPurity(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"load('time', 'now')\n", "x = now()\n", "x = open('/etc/passwd')\n", "x = random()\n"} {
		fsys := fstest.MapFS{"s.star": {Data: []byte(src)}}
		if _, ds := compileScript(fsys, "s.star", 0); len(ds) == 0 {
			t.Errorf("%q loaded; a script must have no clock, file or random access", src)
		}
	}
}

func TestEvalCancel(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"s.star": {Data: []byte("def spin():\n    while True:\n        pass\n")}}
	prog, ds := compileScript(fsys, "s.star", 0)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	n, src := yamlValue(t, "v: spin()\n")
	sc := scope(src, prog)
	sc.MaxSteps = 1 << 62
	e, ds := compileWhen(n, sc)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := e.Truth(ctx, testEnv()); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("err = %v, want cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("evaluation did not stop on cancel")
	}
}

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	n, src := yamlValue(t, "v: \"${{ [i.sku for i in input.items] }}\"\n")
	v, ds := compileValue(n, scope(src, nil))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				got, err := v.Eval(context.Background(), testEnv())
				if err != nil || len(got.([]any)) != 2 {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestScanTemplate(t *testing.T) {
	t.Parallel()
	segs, err := scanTemplate(`a ${{ "}}" + x }} b`)
	if err != nil {
		t.Fatal(err)
	}
	want := []segment{{text: "a ", off: 0}, {isExpr: true, text: ` "}}" + x `, off: 5}, {text: " b", off: 17}}
	if diff := cmp.Diff(want, segs, cmp.AllowUnexported(segment{})); diff != "" {
		t.Error(diff)
	}
}

func TestForEachName(t *testing.T) {
	t.Parallel()
	n, src := yamlValue(t, "v: {sku: \"${{ item.sku }}\", n: \"${{ len(input.items) }}\"}\n")
	sc := scope(src, nil)
	sc.Local = "item"
	v, ds := compileValue(n, sc)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	env := testEnv()
	env.Locals = map[string]any{"item": map[string]any{"sku": "x-1"}}
	got, err := v.Eval(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"sku": "x-1", "n": int64(2)}, got); diff != "" {
		t.Error(diff)
	}

	n, src = yamlValue(t, "v: ${{ itme.sku }}\n")
	sc = scope(src, nil)
	sc.Local = "item"
	_, ds = compileValue(n, sc)
	if len(ds) != 1 || ds[0].Error() != `bp.yaml:1:8: undefined name "itme"; did you mean "item"? [undefined-name]` {
		t.Errorf("misspelt for_each name: %v", ds)
	}
	// Outside the parallel task the name is not in scope.
	n, src = yamlValue(t, "v: ${{ item.sku }}\n")
	if _, ds = compileValue(n, scope(src, nil)); len(ds) != 1 || ds[0].Rule != "undefined-name" {
		t.Errorf("item outside for_each: %v", ds)
	}
}

func TestScriptLoadAndNames(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"main.star":        {Data: []byte("load('lib/a.star', 'a')\ndef f(x):\n    return a(x)\n")},
		"lib/a.star":       {Data: []byte("load('b.star', 'b')\ndef a(x):\n    return b(x) + 1\n")},
		"lib/b.star":       {Data: []byte("def b(x):\n    return x * 10\n")},
		"abs.star":         {Data: []byte("load('/etc/x.star', 'x')\n")},
		"sneaky.star":      {Data: []byte("\n\nload('lib/../../x.star', 'x')\n")},
		"cycle.star":       {Data: []byte("load('cycle2.star', 'y')\nx = 1\n")},
		"cycle2.star":      {Data: []byte("load('cycle.star', 'x')\ny = 2\n")},
		"typo.star":        {Data: []byte("def total(items):\n    return lenn(items)\n")},
		"fail.star":        {Data: []byte("x = 1 // 0\n")},
		"jsonuse.star":     {Data: []byte("def enc(v):\n    return json.encode(v)\n")},
		"lib/private.star": {Data: []byte("_hidden = 1\nshown = 2\n")},
	}
	prog, ds := compileScript(fsys, "main.star", 0)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if diff := cmp.Diff([]string{"lib/a.star", "lib/b.star", "main.star"}, sortedKeys(prog.Sources)); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	n, src := yamlValue(t, "v: f(2) == 21\n")
	e, ds := compileWhen(n, scope(src, prog))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if ok, err := e.Truth(context.Background(), testEnv()); err != nil || !ok {
		t.Errorf("f(2) == 21: %v, %v", ok, err)
	}
	// Only the script's own top-level names are in scope, not what it loaded.
	n, src = yamlValue(t, "v: a(1)\n")
	if _, ds := compileWhen(n, scope(src, prog)); len(ds) != 1 || ds[0].Rule != "unknown-function" {
		t.Errorf("loaded name leaked into scope: %v", ds)
	}

	want := map[string]string{
		"abs.star":    `abs.star:1:6: load("/etc/x.star") leaves the blueprints folder [load-outside-folder]`,
		"sneaky.star": `sneaky.star:3:6: load("lib/../../x.star") leaves the blueprints folder [load-outside-folder]`,
		"typo.star":   `typo.star:2:12: undefined name "lenn"; did you mean "len"? [undefined-name]`,
		"fail.star":   `fail.star:1:7: script fail.star: floored division by zero [script-error]`,
	}
	for file, w := range want {
		_, ds := compileScript(fsys, file, 0)
		if len(ds) != 1 || ds[0].Error() != w {
			t.Errorf("%s: got %v, want %s", file, ds, w)
		}
	}
	if _, ds := compileScript(fsys, "cycle.star", 0); len(ds) == 0 || !strings.Contains(ds.Error(), "cycle") {
		t.Errorf("cycle: %v", ds)
	}
	prog, ds = compileScript(fsys, "lib/private.star", 0)
	if len(ds) > 0 || !prog.has("shown") || prog.has("_hidden") {
		t.Errorf("private names: %v, shown %v, _hidden %v", ds, prog.has("shown"), prog.has("_hidden"))
	}
	prog, ds = compileScript(fsys, "jsonuse.star", 0)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	n, src = yamlValue(t, "v: ${{ enc(input.items) + json.encode(client.plan) }}\n")
	v, ds := compileValue(n, scope(src, prog))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	if got, err := v.Eval(context.Background(), testEnv()); err != nil || got != `[{"sku":"a"},{"sku":"b"}]"pro"` {
		t.Errorf("json.encode: %v, %v", got, err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestConcurrentScript: one frozen script and its compiled expressions
// are shared by many goroutines evaluating different jobs (run with -race).
func TestConcurrentScript(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"s.star": {Data: []byte("LIMITS = {'pro': 1000, 'free': 10}\ndef over(c, amount):\n    return amount > LIMITS.get(c.plan, 0)\n")}}
	prog, ds := compileScript(fsys, "s.star", 0)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	n, src := yamlValue(t, "v: over(client, input.amount) or input.amount < 0\n")
	e, ds := compileWhen(n, scope(src, prog))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				env := testEnv()
				amount := int64(g*200 + i)
				env.Input = map[string]any{"amount": amount}
				env.Client = map[string]any{"plan": []string{"pro", "free"}[i%2]}
				got, err := e.Truth(context.Background(), env)
				limit := map[bool]int64{true: 1000, false: 10}[i%2 == 0]
				if err != nil || got != (amount > limit) {
					errs <- fmt.Errorf("amount %d plan %v: %v, %v", amount, env.Client["plan"], got, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("evaluations did not finish")
		}
	}
}

func TestScriptRepeatLimit(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"s.star": {Data: []byte("def grow(s):\n    for i in range(30):\n        s *= 2\n    return s\n")}}
	prog, ds := compileScript(fsys, "s.star", 0)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	n, src := yamlValue(t, "v: len(grow('ab'))\n")
	e, ds := compileWhen(n, scope(src, prog))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	_, err := e.Eval(context.Background(), testEnv())
	if err == nil || !strings.Contains(err.Error(), "would exceed") || !strings.Contains(err.Error(), "in grow at s.star:3:") {
		t.Errorf("err = %v, want the repetition refused inside grow", err)
	}
}
