package lang

import (
	"strings"
	"testing"
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
