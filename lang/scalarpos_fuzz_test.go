package lang

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzScalarPos: for any YAML that parses, every offset of every scalar
// maps to a line of the file and a column of at least 1 (or to the
// node's own position, which yaml.v3 may put past the end), without panics.
func FuzzScalarPos(f *testing.F) {
	for _, d := range scalarDocs {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var root yaml.Node
		if yaml.Unmarshal([]byte(doc), &root) != nil {
			return
		}
		src := []byte(doc)
		nlines := 1
		for i := 0; i < len(src); i++ {
			if b := lineBreak(src, i); b > 0 {
				nlines++
				i += b - 1
			}
		}
		var walk func(n *yaml.Node, depth int)
		walk = func(n *yaml.Node, depth int) {
			if depth > 50 {
				return
			}
			for _, c := range n.Content {
				walk(c, depth+1)
			}
			if n.Kind != yaml.ScalarNode {
				return
			}
			loc := scalarLoc{file: "f", src: src, node: n}
			for off := 0; off <= len(n.Value); off++ {
				p := loc.pos(off)
				own := p.Line == n.Line && p.Col == n.Column // as yaml.v3 gives it
				if !own && (p.Line < 1 || p.Line > nlines || p.Col < 1) {
					t.Fatalf("offset %d of %q in %q: %s", off, n.Value, doc, p)
				}
			}
		}
		walk(&root, 0)
	})
}
