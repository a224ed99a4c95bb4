package lang

import (
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// scalarLoc maps byte offsets in a YAML scalar's decoded value back to
// positions in the file, for plain, quoted, literal and folded scalars.
type scalarLoc struct {
	file string
	src  []byte
	node *yaml.Node
}

// pos returns the file position of byte offset off of the decoded value.
func (l scalarLoc) pos(off int) Pos {
	n := l.node
	if n == nil {
		return Pos{File: l.file}
	}
	base := Pos{File: l.file, Line: n.Line, Col: n.Column}
	if l.src == nil || n.Line <= 0 {
		return base
	}
	lines := strings.Split(string(l.src), "\n")
	if n.Line > len(lines) {
		return base
	}
	val := n.Value
	if off > len(val) {
		off = len(val)
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		return l.blockPos(lines, off)
	}
	// Flow scalars: walk the raw text from the node's column, decoding as
	// YAML does, until off bytes of the value are consumed.
	line, col := n.Line, n.Column
	raw := []rune(lines[line-1])
	ri := col - 1
	quote := rune(0)
	switch n.Style {
	case yaml.DoubleQuotedStyle:
		quote = '"'
		ri++
	case yaml.SingleQuotedStyle:
		quote = '\''
		ri++
	}
	consumed := 0
	for consumed < off {
		if ri >= len(raw) {
			// Line break: folded into one space (or a newline for an
			// empty line); continue on the next line after indentation.
			if line >= len(lines) {
				break
			}
			line++
			raw = []rune(lines[line-1])
			ri = 0
			for ri < len(raw) && (raw[ri] == ' ' || raw[ri] == '\t') {
				ri++
			}
			consumed++
			continue
		}
		r := raw[ri]
		switch {
		case quote == '\'' && r == '\'' && ri+1 < len(raw) && raw[ri+1] == '\'':
			ri += 2
			consumed++
		case quote == '"' && r == '\\' && ri+1 < len(raw):
			dec, rawLen := decodeEscape(raw[ri+1:])
			ri += 1 + rawLen
			consumed += utf8.RuneLen(dec)
		default:
			ri++
			consumed += utf8.RuneLen(r)
		}
	}
	return Pos{File: l.file, Line: line, Col: ri + 1}
}

// decodeEscape decodes a double-quoted escape after its backslash and
// returns the rune and how many runes of the source it used.
func decodeEscape(r []rune) (rune, int) {
	hex := func(n int) (rune, int) {
		if len(r) < 1+n {
			return '?', len(r)
		}
		var v rune
		for _, c := range r[1 : 1+n] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= c - '0'
			case c >= 'a' && c <= 'f':
				v |= c - 'a' + 10
			case c >= 'A' && c <= 'F':
				v |= c - 'A' + 10
			}
		}
		return v, 1 + n
	}
	switch r[0] {
	case 'x':
		return hex(2)
	case 'u':
		return hex(4)
	case 'U':
		return hex(8)
	case 'n':
		return '\n', 1
	case 't':
		return '\t', 1
	}
	return r[0], 1
}

// blockPos maps an offset in a literal or folded block scalar: each
// content line of the value is a line of the file after the indentation.
func (l scalarLoc) blockPos(lines []string, off int) Pos {
	n := l.node
	val := n.Value
	// Which line of the value, and the column within it.
	vline := strings.Count(val[:off], "\n")
	lineStart := strings.LastIndexByte(val[:off], '\n') + 1
	if n.Style == yaml.FoldedStyle {
		// Folding turned some line breaks into spaces: count lines by
		// walking the file instead.
		return l.foldedPos(lines, off)
	}
	fileLine := n.Line + 1 + vline
	// Skip leading blank lines of the block (they are part of the value too).
	if fileLine > len(lines) {
		return Pos{File: l.file, Line: n.Line, Col: n.Column}
	}
	indent := blockIndent(lines, n.Line)
	col := indent + utf8.RuneCountInString(val[lineStart:off]) + 1
	return Pos{File: l.file, Line: fileLine, Col: col}
}

func (l scalarLoc) foldedPos(lines []string, off int) Pos {
	n := l.node
	indent := blockIndent(lines, n.Line)
	consumed := 0
	for ln := n.Line + 1; ln <= len(lines); ln++ {
		text := lines[ln-1]
		content := ""
		if len(text) >= indent {
			content = text[indent:]
		}
		if consumed+len(content) >= off {
			return Pos{File: l.file, Line: ln, Col: indent + utf8.RuneCountInString(content[:off-consumed]) + 1}
		}
		consumed += len(content) + 1
	}
	return Pos{File: l.file, Line: n.Line, Col: n.Column}
}

// blockIndent is the indentation of the first non-empty line after the
// block scalar's header line.
func blockIndent(lines []string, header int) int {
	for ln := header + 1; ln <= len(lines); ln++ {
		t := lines[ln-1]
		if strings.TrimSpace(t) == "" {
			continue
		}
		return len(t) - len(strings.TrimLeft(t, " "))
	}
	return 0
}
