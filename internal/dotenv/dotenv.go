// Package dotenv reads .env files the way python-dotenv does (without
// its "${VAR}" interpolation), so a file written for the Python
// orchestrator or worker reads the same here.
//
// One entry is KEY=VALUE, optionally preceded by "export "; the key is
// not quoted and holds no spaces or quotes. Spaces around the key and
// the "=" are ignored. The value is one of:
//
//   - unquoted: the rest of the line, trimmed; a "#" preceded by a space
//     or tab starts a comment ("a#b" keeps its "#");
//   - single-quoted: everything up to the next single quote, newlines
//     included, taken literally but for \' (a quote) and \\ (a
//     backslash);
//   - double-quoted: up to the next unescaped double quote, newlines
//     included, with the escapes \n \r \t \a \b \f \v \" \' and \\ (any
//     other backslash is kept as written).
//
// A quoted value may be followed by spaces and a "# comment" on the line
// of its closing quote, and by nothing else. An empty value ("KEY=") is
// the empty string. Blank lines and lines starting with "#" are skipped;
// a later entry for a key replaces an earlier one. "$" is not expanded.
// CRLF and lone CR line ends read as LF.
package dotenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxSize is the largest .env text Parse reads.
const MaxSize = 1 << 20

// Error is a problem at one line of a .env text; for a value that spans
// lines, the line of its key.
type Error struct {
	Name string // the file's name as given to Parse
	Line int    // 1-based
	Key  string // empty when the key itself is at fault
	Msg  string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.Name, e.Line, e.Key, e.Msg)
}

// Read parses the .env file at path. A missing file is not an error: the
// result is then nil.
func Read(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads .env text from r; errors name name:line.
func Parse(name string, r io.Reader) (map[string]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxSize)
	}
	p := parser{name: name, src: newlines.Replace(string(b)), line: 1}
	out := map[string]string{}
	for {
		k, v, ok, err := p.entry()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out[k] = v
	}
}

type parser struct {
	name string
	src  string // what is left to read
	line int    // line of src[0]
}

func (p *parser) errorf(line int, key, format string, args ...any) error {
	return &Error{Name: p.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// nextLine returns the rest of the current line (without its "\n") and
// moves past it.
func (p *parser) nextLine() string {
	l, rest, found := strings.Cut(p.src, "\n")
	p.src = rest
	if found {
		p.line++
	}
	return l
}

// entry reads the next KEY=VALUE; ok is false at the end of the text.
func (p *parser) entry() (key, value string, ok bool, err error) {
	for p.src != "" {
		start := p.line
		l, _, _ := strings.Cut(p.src, "\n")
		t := strings.TrimLeft(l, " \t")
		if t == "" || t[0] == '#' {
			p.nextLine()
			continue
		}
		if r, found := strings.CutPrefix(t, "export"); found && r != "" && (r[0] == ' ' || r[0] == '\t') {
			t = strings.TrimLeft(r, " \t")
			if t == "" || t[0] == '#' {
				p.nextLine() // "export # ..." is a comment
				continue
			}
		}
		k, v, found := strings.Cut(t, "=")
		k = strings.TrimRight(k, " \t")
		if !found || k == "" || strings.ContainsAny(k, " \t\"'\r") {
			return "", "", false, p.errorf(start, "", "want KEY=VALUE")
		}
		v = strings.TrimLeft(v, " \t")
		if v == "" || (v[0] != '\'' && v[0] != '"') {
			p.nextLine()
			return k, unquoted(v), true, nil
		}
		// A quoted value: read from just past the quote, across lines (v
		// ends where l does).
		p.src = p.src[len(l)-len(v)+1:]
		if v[0] == '\'' {
			value, err = p.single(start, k)
		} else {
			value, err = p.double(start, k)
		}
		if err != nil {
			return "", "", false, err
		}
		// After the closing quote: spaces and an optional comment.
		after := strings.TrimLeft(p.nextLine(), " \t\r")
		if after != "" && after[0] != '#' {
			return "", "", false, p.errorf(start, k, "unexpected %q after the closing quote", after)
		}
		return k, value, true, nil
	}
	return "", "", false, nil
}

// unquoted is an unquoted value without its comment and outer spaces.
func unquoted(v string) string {
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			v = v[:i]
			break
		}
	}
	return strings.TrimRight(v, " \t\r")
}

// single reads a single-quoted value's text up to its closing quote; \'
// is a quote and \\ a backslash.
func (p *parser) single(start int, key string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == '\'':
			p.src = p.src[i+1:]
			return b.String(), nil
		case c == '\\' && i+1 < len(p.src) && (p.src[i+1] == '\'' || p.src[i+1] == '\\'):
			i++
			b.WriteByte(p.src[i])
		default:
			if c == '\n' {
				p.line++
			}
			b.WriteByte(c)
		}
	}
	return "", p.errorf(start, key, "unclosed quote")
}

// double reads a double-quoted value's text up to its closing quote,
// decoding escapes.
func (p *parser) double(start int, key string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == '"':
			p.src = p.src[i+1:]
			return b.String(), nil
		case c == '\\' && i+1 < len(p.src):
			i++
			switch e := p.src[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			case '"', '\'', '\\':
				b.WriteByte(e)
			default:
				if e == '\n' {
					p.line++
				}
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			if c == '\n' {
				p.line++
			}
			b.WriteByte(c)
		}
	}
	return "", p.errorf(start, key, "unclosed quote")
}

// newlines turns CRLF and a lone CR into LF, as Python's text files do.
var newlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")
