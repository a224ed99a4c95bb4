package lang_test

import (
	"slices"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

func TestPosStringAndValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p     lang.Pos
		s     string
		valid bool
	}{
		{lang.Pos{File: "a.yaml", Line: 3, Col: 7}, "a.yaml:3:7", true},
		{lang.Pos{File: "a.yaml", Line: 3}, "a.yaml:3", true},
		{lang.Pos{File: "a.yaml", Col: 7}, "a.yaml", false},
		{lang.Pos{File: "a.yaml", Line: 1, Col: 1}, "a.yaml:1:1", true},
		{lang.Pos{}, "", false},
	} {
		if got := tc.p.String(); got != tc.s {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.s)
		}
		if got := tc.p.IsValid(); got != tc.valid {
			t.Errorf("%#v.IsValid() = %v, want %v", tc.p, got, tc.valid)
		}
	}
}

// Before is a strict order: file, then line, then column; a position is
// never before itself.
func TestPosBefore(t *testing.T) {
	t.Parallel()
	ordered := []lang.Pos{
		{File: "a", Line: 1, Col: 1},
		{File: "a", Line: 1, Col: 2},
		{File: "a", Line: 2, Col: 1},
		{File: "a", Line: 10, Col: 0},
		{File: "b", Line: 1, Col: 1},
	}
	for i, p := range ordered {
		if p.Before(p) {
			t.Errorf("%v is before itself", p)
		}
		for j, q := range ordered {
			if got := p.Before(q); got != (i < j) {
				t.Errorf("%v.Before(%v) = %v, want %v", p, q, got, i < j)
			}
		}
	}
}

func TestDiagnosticsErrorAndSeverity(t *testing.T) {
	t.Parallel()
	e := lang.Diagnostic{Pos: lang.Pos{File: "f", Line: 2, Col: 3}, Rule: "r1", Message: "m1"}
	w := lang.Diagnostic{Pos: lang.Pos{File: "f", Line: 4}, Severity: lang.SeverityWarning, Rule: "r2", Message: "m2"}
	if got := e.Error(); got != "f:2:3: m1 [r1]" {
		t.Errorf("Error() = %q", got)
	}
	if got := (lang.Diagnostics{}).Error(); got != "" {
		t.Errorf("empty list: %q, want \"\"", got)
	}
	if got := (lang.Diagnostics{e}).Error(); got != "f:2:3: m1 [r1]" {
		t.Errorf("one: %q", got)
	}
	if got := (lang.Diagnostics{e, w, e}).Error(); got != "f:2:3: m1 [r1]\nf:4: m2 [r2]\nf:2:3: m1 [r1]" {
		t.Errorf("three: %q", got)
	}
	if lang.SeverityError.String() != "error" || lang.SeverityWarning.String() != "warning" {
		t.Errorf("severities: %s %s", lang.SeverityError, lang.SeverityWarning)
	}
	for _, tc := range []struct {
		ds   lang.Diagnostics
		want bool
	}{
		{nil, false},
		{lang.Diagnostics{w}, false},
		{lang.Diagnostics{w, w}, false},
		{lang.Diagnostics{w, e}, true},
		{lang.Diagnostics{e}, true},
	} {
		if got := tc.ds.HasErrors(); got != tc.want {
			t.Errorf("HasErrors(%v) = %v, want %v", tc.ds, got, tc.want)
		}
	}
}

// Sort orders by position, rule and message, keeps the input order among
// equals, and drops exact duplicates only: the same finding at another
// severity stays. (A duplicate listed apart from its twin by such a
// finding stays too: only neighbours after sorting are compared.)
func TestDiagnosticsSort(t *testing.T) {
	t.Parallel()
	d := func(file string, line, col int, rule, msg string) lang.Diagnostic {
		return lang.Diagnostic{Pos: lang.Pos{File: file, Line: line, Col: col}, Rule: rule, Message: msg}
	}
	warn := d("a", 1, 1, "r", "m")
	warn.Severity = lang.SeverityWarning
	in := lang.Diagnostics{
		d("b", 1, 1, "r", "m"),
		d("a", 2, 1, "r", "m"),
		d("a", 1, 2, "r", "m"),
		d("a", 1, 1, "s", "m"),
		d("a", 1, 1, "r", "n"),
		d("a", 1, 1, "r", "m"),
		d("b", 1, 1, "r", "m"),
		warn,
	}
	want := lang.Diagnostics{
		d("a", 1, 1, "r", "m"),
		warn,
		d("a", 1, 1, "r", "n"),
		d("a", 1, 1, "s", "m"),
		d("a", 1, 2, "r", "m"),
		d("a", 2, 1, "r", "m"),
		d("b", 1, 1, "r", "m"),
	}
	if got := in.Sort(); !slices.Equal(got, want) {
		t.Errorf("Sort:\n got %v\nwant %v", got, want)
	}
}
