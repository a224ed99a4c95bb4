package lang

import (
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// scalarDocs hold scalars of every style; each is checked character by
// character against the file.
var scalarDocs = []string{
	"v: hello there world\n",
	"v: first line\n  second part\n\n  after blank\n",
	"a:\n  b:\n    v: deep   spaced   \n      continued here\n",
	"v: 'it''s here'\n",
	"v: 'one\n  two\n\n  three '' four'\n",
	"v: \"tab\\there \\\"q\\\" \\u00e9 \\x41 \\U0001F600 end\"\n",
	"v: \"abc\\\n   def ghi\"\n",
	"v: \"line one\n  line two\n\n  after blank\"\n",
	"v: |\n  line one\n    more indented\n\n  after blank\n",
	"v: |-\n  x y\n",
	"v: |2\n    indented by four\n  two\n",
	"v: |+\n  kept\n\n",
	"v: >\n  a b\n  c d\n\n  e\n    more f\n  g h\n",
	"v: >-\n  folded\n  text\n",
	"v: \"ü ☃ x\"\n",
	"ünï: ☃ ü x\n",
	"v: {a: 'x y', b: \"z w\", c: plain words}\n",
	"v: [one two, 'three four', \"five\\tsix\"]\n",
	"v:\n  - |\n    item one\n  - >\n    item\n    two\n",
	"v: !!str tagged text\n",
	"v: &anchor anchored text\n",
	"v: !!str 'tagged quoted'\n",
	"v: |\r\n  crlf one\r\n  crlf two\r\n",
	"v: \"crlf\r\n  two\"\r\n",
	"v: \"${{ input.name }} and ${{ 'x' }}\"\n",
	"- key: |\n      ${{ a }}\n      ${{ b }}\n",
}

// TestScalarPosEveryChar: for every scalar of every style, each character
// of the decoded value that is not white space maps to the same
// character in the file (or to the backslash of its escape).
func TestScalarPosEveryChar(t *testing.T) {
	t.Parallel()
	for _, doc := range scalarDocs {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		lines := strings.Split(doc, "\n")
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			for _, c := range n.Content {
				walk(c)
			}
			if n.Kind != yaml.ScalarNode {
				return
			}
			loc := scalarLoc{file: "f.yaml", src: []byte(doc), node: n}
			for off, r := range n.Value {
				if isBlank(r) {
					continue
				}
				p := loc.pos(off)
				if p.Line < 1 || p.Line > len(lines) {
					t.Errorf("%q: offset %d of %q: line %d out of range", doc, off, n.Value, p.Line)
					continue
				}
				line := []rune(lines[p.Line-1])
				if p.Col < 1 || p.Col > len(line) {
					t.Errorf("%q: offset %d of %q: %s out of range", doc, off, n.Value, p)
					continue
				}
				got := line[p.Col-1]
				if got != r && !(got == '\\' && n.Style&yaml.DoubleQuotedStyle != 0 && p.Col < len(line)) {
					t.Errorf("%q: offset %d of %q (%q) maps to %s holding %q", doc, off, n.Value, r, p, got)
				}
			}
		}
		walk(&root)
	}
}

// TestScalarPosGolden pins positions of marked spots.
func TestScalarPosGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc, at string // at: the text whose first byte in the value is asked for
		want    string
	}{
		{"v: plain X here\n", "X", "f.yaml:1:10"},
		{"v: 'it''s X'\n", "X", "f.yaml:1:11"},
		{"v: \"\\t\\\"X\\\"\"\n", "X", "f.yaml:1:9"},
		{"v: \"é\\u00e9 X\"\n", "X", "f.yaml:1:13"},
		{"v: |\n  one\n  two X\n", "X", "f.yaml:3:7"},
		{"v: >\n  one\n\n  two X\n", "X", "f.yaml:4:7"},
		{"v: >\n  a\n    b X\n", "X", "f.yaml:3:7"},
		{"v: a\n\n\n  b X\n", "X", "f.yaml:4:5"},
		{"v: \"a\\\n  X\"\n", "X", "f.yaml:2:3"},
		{"v: !!str X\n", "X", "f.yaml:1:10"},
		{"v: |\n  X\n", "X", "f.yaml:2:3"},
	}
	for _, c := range cases {
		n, src := yamlValue(t, c.doc)
		off := strings.Index(n.Value, c.at)
		if off < 0 {
			t.Fatalf("%q: %q not in %q", c.doc, c.at, n.Value)
		}
		got := scalarLoc{file: "f.yaml", src: src, node: n}.pos(off).String()
		if got != c.want {
			t.Errorf("%q: %q at %s, want %s", c.doc, c.at, got, c.want)
		}
	}
}

// TestScalarPosDegenerate: no source, offsets past the end, and a node
// whose line is beyond the file give a position, never a panic.
func TestScalarPosDegenerate(t *testing.T) {
	t.Parallel()
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: "abc", Line: 3, Column: 2}
	if got := (scalarLoc{file: "f", node: n}).pos(1).String(); got != "f:3:2" {
		t.Errorf("no source: %s", got)
	}
	if got := (scalarLoc{file: "f", src: []byte("x\n"), node: n}).pos(1).String(); got != "f:3:2" {
		t.Errorf("line past the end: %s", got)
	}
	src := []byte("v: abc\n")
	n = &yaml.Node{Kind: yaml.ScalarNode, Value: "abc", Line: 1, Column: 4}
	for _, off := range []int{-5, 0, 3, 99} {
		p := (scalarLoc{file: "f", src: src, node: n}).pos(off)
		if p.Line != 1 || p.Col < 4 || p.Col > utf8.RuneCount(src) {
			t.Errorf("offset %d: %s", off, p)
		}
	}
}
