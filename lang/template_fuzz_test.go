package lang

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func FuzzTemplateScan(f *testing.F) {
	for _, s := range []string{
		"", "plain", "${{ x }}", "a ${{ x }} b ${{ y }}", "$${{ x }}", "${{ '}}' }}", `${{ "\"}}" }}`,
		"${{", "${{ x", "}} ${{", "${{${{}}}}", "$$${{ x }}", "$$$${{ x }}", "$$ {{", "${{ 'a }}",
		`${{ "a\" }} }}`, "x$", "$$$", "${{ '''  }}", "é${{ 'ü' }}☃", "${{}}", "$", "{{ x }}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := scanTemplate(s)
		if err != nil {
			te, ok := err.(*templateError)
			if !ok || te.Off < 0 || te.Off >= len(s) || !(strings.HasPrefix(s[te.Off:], "${{") || s[te.Off] == '"' || s[te.Off] == '\'') {
				t.Fatalf("bad error %v for %q", err, s)
			}
			return
		}
		lits := 0
		for i, sg := range segs {
			if sg.off < 0 || sg.off > len(s) {
				t.Fatalf("offset %d out of range for %q", sg.off, s)
			}
			if sg.isExpr && (!strings.HasPrefix(s[sg.off:], sg.text) || !strings.HasPrefix(s[sg.off-3:], "${{") || !strings.HasPrefix(s[sg.off+len(sg.text):], "}}")) {
				t.Fatalf("expr %q not between ${{ and }} at %d in %q", sg.text, sg.off, s)
			}
			if !sg.isExpr {
				lits += len(sg.text)
				if i > 0 && !segs[i-1].isExpr {
					t.Fatalf("two literal segments in a row for %q", s)
				}
			}
		}
		if lits > len(s) {
			t.Fatalf("literal text longer than the input %q", s)
		}
		if !strings.Contains(s, "{{") && (len(segs) > 1 || (len(segs) == 1 && segs[0].text != s)) {
			t.Fatalf("%q has no template but scanned as %v", s, segs)
		}
	})
}

// FuzzTemplateEval: any string as a YAML value compiles to diagnostics
// inside the file or to a value whose evaluation gives a JSON value or an
// *EvalError, never a panic.
func FuzzTemplateEval(f *testing.F) {
	for _, s := range []string{
		"${{ input.amount > 100 and history.vip }}", "a ${{ input.items[0].sku }} b", "${{ [i for i in input.items] }}",
		"${{ {'a': input} == input }}", "${{ input.user.get('x') }}", "${{ json.encode(input) }}", "${{ lambda: 1 }}",
		"${{ input.items + [1] }}", "${{ 1 // 0 }}", "${{ 'x' * -1 }}", "${{ 'x' * 1000000000 }}", "${{ list(range(99999999)) }}", "${{ [0] * 99999999 }}", "${{ range(10) }}", "${{ input.odd | {} }}",
		"${{ [x for x in range(100000)] }}", "${{ input[input] }}", "${{ input.items[1:] == input.items[-1:] }}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc, err := yaml.Marshal(map[string]string{"v": s})
		if err != nil {
			return
		}
		n, src := yamlValue(t, string(doc))
		sc := scope(src, nil)
		sc.MaxSteps = 10_000
		v, ds := compileValue(n, sc)
		nlines := strings.Count(string(src), "\n") + 1
		for _, d := range ds {
			if d.Pos.Line < 1 || d.Pos.Line > nlines || d.Pos.Col < 1 {
				t.Fatalf("%q: diagnostic outside the file: %v", s, d)
			}
		}
		if v == nil {
			return
		}
		got, err := v.Eval(context.Background(), testEnv())
		if err != nil {
			var ee *EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: error %T %v is not an *EvalError", s, err, err)
			}
			return
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("%q: result %#v is not JSON: %v", s, got, err)
		}
	})
}
