package lang

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a source file. Line and Col are 1-based; Col counts
// runes, as YAML and Starlark report them. Zero means unknown.
type Pos struct {
	File string
	Line int
	Col  int // in runes
}

// String returns file:line:col, or file:line when the column is unknown.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsValid reports whether the position names a line.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Before orders positions by file, line and column.
func (p Pos) Before(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Severity of a diagnostic.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one finding about a blueprint: where, how bad, which rule
// (a stable kebab-case name) and what, in lower case without a final period.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	Rule     string
	Message  string
	// End, when set, is the last column (inclusive, in runes) of the spot on
	// Pos.Line, so printers can underline it.
	EndCol int
}

// Error prints file:line:col: message [rule].
func (d Diagnostic) Error() string {
	return fmt.Sprintf("%s: %s [%s]", d.Pos, d.Message, d.Rule)
}

// Diagnostics is a list of findings; it sorts by file, line, column and rule.
type Diagnostics []Diagnostic

// Error joins every diagnostic, one a line.
func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// HasErrors reports whether any diagnostic is an error, not a warning.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Sort orders the list by file, line, column, rule and message and drops
// exact duplicates. It returns the sorted list.
func (ds Diagnostics) Sort() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Pos != b.Pos {
			return a.Pos.Before(b.Pos)
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
	out := ds[:0]
	for i, d := range ds {
		if i > 0 && d == ds[i-1] {
			continue
		}
		out = append(out, d)
	}
	return out
}
