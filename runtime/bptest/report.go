package bptest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Formats are the output formats of Print.
func Formats() []string { return []string{"github", "json", "junit", "text"} }

// PrintOptions tune Print.
type PrintOptions struct {
	Verbose  bool // text: every case and its path, not only failures
	Coverage bool // add the coverage of each blueprint
	// MinCoverage, when above 0, marks each blueprint below it.
	MinCoverage float64
}

// Print writes the report in a format. Its output does not depend on
// timing or on the machine, so it can be compared with a golden file.
func Print(w io.Writer, format string, r *Report, o PrintOptions) error {
	switch format {
	case "text":
		return printText(w, r, o)
	case "json":
		return printJSON(w, r, o)
	case "junit":
		return printJUnit(w, r)
	case "github":
		return printGitHub(w, r, o)
	}
	return fmt.Errorf("unknown format %q; valid formats: %s", format, strings.Join(Formats(), ", "))
}

func caseName(o *Outcome) string { return o.Blueprint + "/" + o.Case.Name }

func printText(w io.Writer, r *Report, o PrintOptions) error {
	for _, oc := range r.Outcomes {
		if oc.Passed() {
			if o.Verbose {
				fmt.Fprintf(w, "ok   %s\n", caseName(oc))
				for _, l := range oc.Trace {
					fmt.Fprintf(w, "       %s\n", l)
				}
			}
			continue
		}
		fmt.Fprintf(w, "FAIL %s (%s)\n", caseName(oc), oc.Case.Pos)
		for _, f := range oc.Failures {
			fmt.Fprintf(w, "    %s: %s\n", f.Pos, f.Message)
		}
		if len(oc.Trace) > 0 {
			fmt.Fprintln(w, "    path taken:")
			for _, l := range oc.Trace {
				fmt.Fprintf(w, "      %s\n", l)
			}
		}
	}
	if o.Coverage {
		for _, b := range r.Coverage() {
			mark := ""
			if o.MinCoverage > 0 && b.Percent() < o.MinCoverage {
				mark = fmt.Sprintf(" (below %.0f%%)", o.MinCoverage)
			}
			fmt.Fprintf(w, "coverage: %s %.1f%% of %d states and transitions%s\n", b.Blueprint, b.Percent(), len(b.Items), mark)
			for _, it := range b.Missed() {
				fmt.Fprintf(w, "    %s: not covered: %s\n", it.Pos, it)
			}
		}
	}
	failed := r.Failed()
	if failed > 0 {
		fmt.Fprintf(w, "FAIL: %d of %d cases failed\n", failed, len(r.Outcomes))
	} else {
		fmt.Fprintf(w, "ok: %d cases passed\n", len(r.Outcomes))
	}
	return nil
}

type jsonFailure struct {
	Pos      string `json:"pos"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Kind     string `json:"kind"`
	Message  string `json:"message"`
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`
}

type jsonCase struct {
	Blueprint string        `json:"blueprint"`
	Case      string        `json:"case"`
	Pos       string        `json:"pos"`
	Passed    bool          `json:"passed"`
	Failures  []jsonFailure `json:"failures,omitempty"`
	Path      []string      `json:"path"`
}

type jsonItem struct {
	Pos  string `json:"pos"`
	Item string `json:"item"`
}

type jsonCoverage struct {
	Blueprint string     `json:"blueprint"`
	File      string     `json:"file"`
	Items     int        `json:"items"`
	Covered   int        `json:"covered"`
	Percent   float64    `json:"percent"`
	Missed    []jsonItem `json:"missed"`
}

type jsonReport struct {
	Passed   int            `json:"passed"`
	Failed   int            `json:"failed"`
	Cases    []jsonCase     `json:"cases"`
	Coverage []jsonCoverage `json:"coverage,omitempty"`
}

func printJSON(w io.Writer, r *Report, o PrintOptions) error {
	out := jsonReport{Cases: []jsonCase{}}
	for _, oc := range r.Outcomes {
		c := jsonCase{Blueprint: oc.Blueprint, Case: oc.Case.Name, Pos: oc.Case.Pos.String(), Passed: oc.Passed(), Path: oc.Trace}
		if c.Path == nil {
			c.Path = []string{}
		}
		for _, f := range oc.Failures {
			c.Failures = append(c.Failures, jsonFailure{Pos: f.Pos.String(), File: f.Pos.File, Line: f.Pos.Line, Col: f.Pos.Col,
				Kind: f.Kind, Message: f.Message, Expected: f.Expected, Got: f.Got})
		}
		if c.Passed {
			out.Passed++
		} else {
			out.Failed++
		}
		out.Cases = append(out.Cases, c)
	}
	if o.Coverage {
		for _, b := range r.Coverage() {
			jc := jsonCoverage{Blueprint: b.Blueprint, File: b.File, Items: len(b.Items), Covered: b.Covered(), Percent: b.Percent(), Missed: []jsonItem{}}
			for _, it := range b.Missed() {
				jc.Missed = append(jc.Missed, jsonItem{Pos: it.Pos.String(), Item: it.String()})
			}
			out.Coverage = append(out.Coverage, jc)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name  string      `xml:"name,attr"`
	File  string      `xml:"file,attr"`
	Tests int         `xml:"tests,attr"`
	Fails int         `xml:"failures,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func printJUnit(w io.Writer, r *Report) error {
	out := junitSuites{}
	idx := map[string]int{}
	for _, oc := range r.Outcomes {
		i, ok := idx[oc.File.Path]
		if !ok {
			i = len(out.Suites)
			idx[oc.File.Path] = i
			out.Suites = append(out.Suites, junitSuite{Name: oc.Blueprint, File: oc.File.Path})
		}
		s := &out.Suites[i]
		c := junitCase{Name: oc.Case.Name, Classname: oc.Blueprint, File: oc.File.Path, Line: oc.Case.Pos.Line}
		s.Tests++
		out.Tests++
		if !oc.Passed() {
			s.Fails++
			out.Fails++
			var b strings.Builder
			for _, f := range oc.Failures {
				fmt.Fprintf(&b, "%s: %s\n", f.Pos, f.Message)
			}
			if len(oc.Trace) > 0 {
				b.WriteString("path taken:\n")
				for _, l := range oc.Trace {
					b.WriteString("  " + l + "\n")
				}
			}
			c.Failure = &junitFailure{Message: oc.Failures[0].Message, Type: oc.Failures[0].Kind, Text: b.String()}
		}
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// githubEscape escapes a workflow command's message (% \r \n) or
// property (also : and ,).
func githubEscape(s string, prop bool) string {
	s = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
	if prop {
		s = strings.NewReplacer(":", "%3A", ",", "%2C").Replace(s)
	}
	return s
}

func printGitHub(w io.Writer, r *Report, o PrintOptions) error {
	for _, oc := range r.Outcomes {
		for _, f := range oc.Failures {
			msg := f.Message
			if len(oc.Trace) > 0 {
				msg += "\npath taken:\n" + strings.Join(oc.Trace, "\n")
			}
			fmt.Fprintf(w, "::error file=%s,line=%d,col=%d,title=%s::%s\n", githubEscape(f.Pos.File, true), f.Pos.Line, f.Pos.Col,
				githubEscape("blueprint test "+caseName(oc), true), githubEscape(msg, false))
		}
	}
	if o.Coverage {
		for _, b := range r.Coverage() {
			level := "notice"
			if o.MinCoverage > 0 && b.Percent() < o.MinCoverage {
				level = "error"
			}
			for _, it := range b.Missed() {
				fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d,title=%s::%s\n", level, githubEscape(it.Pos.File, true), it.Pos.Line, it.Pos.Col,
					githubEscape(fmt.Sprintf("%s coverage %.1f%%", b.Blueprint, b.Percent()), true), githubEscape("not covered by a test: "+it.String(), false))
			}
		}
	}
	if failed := r.Failed(); failed > 0 {
		fmt.Fprintf(w, "FAIL: %d of %d cases failed\n", failed, len(r.Outcomes))
	} else {
		fmt.Fprintf(w, "ok: %d cases passed\n", len(r.Outcomes))
	}
	return nil
}
