package lang

import (
	"context"
	"errors"
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
		Input:   FromJSON(map[string]any{"amount": 150.0, "items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}}, "name": "Ann"}),
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
		if err == nil || !strings.Contains(err.Error(), "cancelled") {
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
