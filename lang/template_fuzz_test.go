package lang

import (
	"strings"
	"testing"
)

func FuzzTemplateScan(f *testing.F) {
	for _, s := range []string{"", "plain", "${{ x }}", "a ${{ x }} b ${{ y }}", "$${{ x }}", "${{ '}}' }}", `${{ "\"}}" }}`, "${{", "${{ x", "}} ${{", "${{${{}}}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := scanTemplate(s)
		if err != nil {
			te, ok := err.(*templateError)
			if !ok || te.Off < 0 || te.Off > len(s) || !strings.HasPrefix(s[te.Off:], "${{") {
				t.Fatalf("bad error %v for %q", err, s)
			}
			return
		}
		for _, sg := range segs {
			if sg.off < 0 || sg.off > len(s) {
				t.Fatalf("offset %d out of range for %q", sg.off, s)
			}
			if sg.isExpr && !strings.HasPrefix(s[sg.off:], sg.text) {
				t.Fatalf("expr %q not at %d in %q", sg.text, sg.off, s)
			}
		}
	})
}
