package lang

import (
	"bytes"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// scalarLoc maps byte offsets in a YAML scalar's decoded value (n.Value)
// back to positions in the file, for plain, single- and double-quoted,
// literal and folded scalars.
//
// It aligns the decoded value with the raw text: every character of the
// value that is not white space stands in the source in the same order,
// and the source adds only indentation, line breaks (which folding turns
// into spaces or drops), the quotes, doubled single quotes and
// backslash escapes. Lines and columns are 1-based and columns count
// runes, as in Pos.
type scalarLoc struct {
	file string
	src  []byte
	node *yaml.Node
}

// pos returns the file position of byte offset off of the decoded value.
// Without the source it gives the node's own position.
func (l scalarLoc) pos(off int) Pos {
	n := l.node
	if n == nil {
		return Pos{File: l.file}
	}
	base := Pos{File: l.file, Line: n.Line, Col: n.Column}
	if l.src == nil || n.Line <= 0 || n.Column <= 0 {
		return base
	}
	src := l.src
	lineStart := lineOffset(src, n.Line)
	if lineStart < 0 {
		return base
	}
	si := runeOffset(src, lineStart, n.Column-1)
	si = skipProperties(src, si)
	val := n.Value
	off = min(max(off, 0), len(val))

	quote := byte(0)
	switch n.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle) {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if si < len(src) && (src[si] == '"' || src[si] == '\'') {
			quote = src[si]
			si++
		}
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The content starts on the line after the `|` or `>` header.
		i := bytes.IndexByte(src[si:], '\n')
		if i < 0 {
			return base
		}
		si += i + 1
	}

	vi := 0
	for vi < off && si < len(src) {
		vr, vs := utf8.DecodeRuneInString(val[vi:])
		sr, ss := utf8.DecodeRune(src[si:])
		switch {
		case quote == '\'' && sr == '\'' && si+1 < len(src) && src[si+1] == '\'':
			ss = 2 // '' is one quote
		case quote == '"' && sr == '\\':
			if si+1 < len(src) && (src[si+1] == '\n' || src[si+1] == '\r') {
				// An escaped line break: nothing in the value.
				si++
				continue
			}
			sr, ss = decodeEscape(src[si+1:])
			ss++
		}
		switch {
		case sr == vr:
			vi += vs
			si += ss
		case vr == ' ' && sr == '\n': // a line break folded into a space
			vi += vs
			si += ss
		case isBlank(sr):
			si += ss // indentation, stripped trailing space, dropped line break
		case isBlank(vr):
			vi += vs // white space the source does not show here
		default:
			// The value and the text disagree (a form this walk does
			// not know): stop at the best position found so far.
			vi = off
		}
	}
	// Land on the character itself, not on indentation before it.
	if off < len(val) && !isBlank(rune(val[off])) {
		for si < len(src) {
			if isBlank(rune(src[si])) {
				si++
			} else if quote == '"' && src[si] == '\\' && si+1 < len(src) && (src[si+1] == '\n' || src[si+1] == '\r') {
				si++ // an escaped line break
			} else {
				break
			}
		}
	}
	return positionAt(l.file, src, lineStart, n.Line, si)
}

func isBlank(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// lineBreak returns the length of the line break at src[i:], 0 if none.
// Line breaks are counted as YAML counts them: LF, CR LF, a lone CR, and
// U+0085, U+2028, U+2029.
func lineBreak(src []byte, i int) int {
	switch src[i] {
	case '\n':
		return 1
	case '\r':
		if i+1 < len(src) && src[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xc2:
		if i+1 < len(src) && src[i+1] == 0x85 {
			return 2
		}
	case 0xe2:
		if i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xa8 || src[i+2] == 0xa9) {
			return 3
		}
	}
	return 0
}

// lineOffset is the byte offset where 1-based line starts, or -1.
func lineOffset(src []byte, line int) int {
	if line == 1 {
		return 0
	}
	l := 1
	for i := 0; i < len(src); {
		if b := lineBreak(src, i); b > 0 {
			i += b
			if l++; l == line {
				return i
			}
			continue
		}
		i++
	}
	return -1
}

// runeOffset advances n runes from byte offset off, staying on the line.
func runeOffset(src []byte, off, n int) int {
	for ; n > 0 && off < len(src) && lineBreak(src, off) == 0; n-- {
		_, size := utf8.DecodeRune(src[off:])
		off += size
	}
	return off
}

// skipProperties steps over a tag (!!str) or anchor (&a) in front of a
// scalar's content.
func skipProperties(src []byte, si int) int {
	for si < len(src) && (src[si] == '!' || src[si] == '&') {
		for si < len(src) && src[si] != ' ' && src[si] != '\n' {
			si++
		}
		for si < len(src) && src[si] == ' ' {
			si++
		}
	}
	return si
}

// positionAt converts byte offset off of src into a Pos, counting from
// start, the offset where line begins.
func positionAt(file string, src []byte, start, line, off int) Pos {
	off = min(off, len(src))
	for i := start; i < off; {
		if b := lineBreak(src, i); b > 0 {
			i += b
			if i <= off {
				line++
				start = i
			}
			continue
		}
		i++
	}
	return Pos{File: file, Line: line, Col: utf8.RuneCount(src[start:off]) + 1}
}

// decodeEscape decodes a double-quoted escape that follows a backslash
// and returns the rune and how many bytes of the source it used.
func decodeEscape(r []byte) (rune, int) {
	if len(r) == 0 {
		return utf8.RuneError, 0
	}
	hex := func(n int) (rune, int) {
		if len(r) < 1+n {
			return utf8.RuneError, len(r)
		}
		var v rune
		for _, c := range r[1 : 1+n] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= rune(c - '0')
			case c >= 'a' && c <= 'f':
				v |= rune(c-'a') + 10
			case c >= 'A' && c <= 'F':
				v |= rune(c-'A') + 10
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
	case '0':
		return 0, 1
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 't', '\t':
		return '\t', 1
	case 'n':
		return '\n', 1
	case 'v':
		return '\v', 1
	case 'f':
		return '\f', 1
	case 'r':
		return '\r', 1
	case 'e':
		return 0x1b, 1
	case ' ':
		return ' ', 1
	case 'N':
		return 0x85, 1
	case '_':
		return 0xa0, 1
	case 'L':
		return 0x2028, 1
	case 'P':
		return 0x2029, 1
	}
	c, size := utf8.DecodeRune(r)
	return c, size
}
