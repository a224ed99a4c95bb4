package lang

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Formats lists the formats Print knows.
func Formats() []string { return []string{"github", "json", "sarif", "text"} }

// Print writes diagnostics in a format: text (file:line:col: message
// [rule], then the source line with a caret under the spot), json, github
// (workflow command annotations) or sarif (SARIF 2.1.0). source returns a
// file's bytes for the text format's excerpts and for the end of the spot
// when a diagnostic does not give it; it may be nil.
func Print(w io.Writer, format string, ds Diagnostics, source func(file string) []byte) error {
	src := &sources{read: source, lines: map[string][]string{}}
	switch format {
	case "text", "":
		return printText(w, ds, src)
	case "json":
		return printJSON(w, ds, src)
	case "github":
		return printGitHub(w, ds, src)
	case "sarif":
		return printSARIF(w, ds, src)
	}
	return fmt.Errorf("unknown format %q; valid formats: %s", format, strings.Join(Formats(), ", "))
}

func printText(w io.Writer, ds Diagnostics, src *sources) error {
	for _, d := range ds {
		sev := ""
		if d.Severity == SeverityWarning {
			sev = "warning: "
		}
		if _, err := fmt.Fprintf(w, "%s: %s%s [%s]\n", d.Pos, sev, d.Message, d.Rule); err != nil {
			return err
		}
		line, ok := src.line(d.Pos)
		if !ok {
			continue
		}
		line = strings.ReplaceAll(line, "\t", " ")
		fmt.Fprintf(w, "  %4d | %s\n", d.Pos.Line, line)
		if d.Pos.Col > 0 {
			width := src.endCol(d) - d.Pos.Col + 1
			fmt.Fprintf(w, "       | %s^%s\n", strings.Repeat(" ", d.Pos.Col-1), strings.Repeat("~", width-1))
		}
	}
	return nil
}

// sources reads and splits files once for the printers.
type sources struct {
	read  func(file string) []byte
	lines map[string][]string
}

// line returns the text of the diagnostic's line without its line break.
func (s *sources) line(p Pos) (string, bool) {
	if s.read == nil || p.Line <= 0 {
		return "", false
	}
	lines, ok := s.lines[p.File]
	if !ok {
		if b := s.read(p.File); b != nil {
			lines = strings.Split(string(b), "\n")
		}
		s.lines[p.File] = lines
	}
	if p.Line > len(lines) {
		return "", false
	}
	return strings.TrimRight(lines[p.Line-1], "\r"), true
}

// endCol is the last column (inclusive, in runes) of the spot a
// diagnostic names: its EndCol when set, otherwise the end of the word at
// its column, otherwise its column. It is 0 when the column is unknown.
func (s *sources) endCol(d Diagnostic) int {
	if d.Pos.Col <= 0 {
		return 0
	}
	if d.EndCol >= d.Pos.Col {
		return d.EndCol
	}
	if line, ok := s.line(d.Pos); ok {
		return d.Pos.Col + tokenWidth(line, d.Pos.Col) - 1
	}
	return d.Pos.Col
}

// tokenWidth is the length in runes of the word or quoted string at col
// (at least 1).
func tokenWidth(line string, col int) int {
	rs := []rune(line)
	if col < 1 || col-1 >= len(rs) {
		return 1
	}
	if q := rs[col-1]; q == '"' || q == '\'' {
		for i := col; i < len(rs); i++ {
			if rs[i] == '\\' && q == '"' {
				i++
				continue
			}
			if rs[i] == q {
				return i - col + 2
			}
		}
	}
	n := 0
	for i := col - 1; i < len(rs); i++ {
		r := rs[i]
		if r == ' ' || r == '\t' || r == ',' || r == '}' || r == ']' || r == ':' || r == '"' || r == '\'' || r == '(' || r == ')' {
			break
		}
		n++
	}
	return max(n, 1)
}

type jsonDiag struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	EndColumn int    `json:"end_column"`
	Severity  string `json:"severity"`
	Rule      string `json:"rule"`
	Message   string `json:"message"`
}

func printJSON(w io.Writer, ds Diagnostics, src *sources) error {
	out := make([]jsonDiag, 0, len(ds))
	for _, d := range ds {
		out = append(out, jsonDiag{d.Pos.File, d.Pos.Line, d.Pos.Col, src.endCol(d), d.Severity.String(), d.Rule, d.Message})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func printGitHub(w io.Writer, ds Diagnostics, src *sources) error {
	esc := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	escProp := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
	for _, d := range ds {
		kind := "error"
		if d.Severity == SeverityWarning {
			kind = "warning"
		}
		props := "file=" + escProp.Replace(d.Pos.File)
		if d.Pos.Line > 0 {
			props += fmt.Sprintf(",line=%d", d.Pos.Line)
		}
		if d.Pos.Col > 0 {
			props += fmt.Sprintf(",col=%d", d.Pos.Col)
			if end := src.endCol(d); end > d.Pos.Col {
				props += fmt.Sprintf(",endColumn=%d", end)
			}
		}
		props += ",title=" + escProp.Replace(d.Rule)
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", kind, props, esc.Replace(d.Message)); err != nil {
			return err
		}
	}
	return nil
}

// SARIF 2.1.0 documents, fields in the order the specification lists them.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string        `json:"id"`
		ShortDescription     sarifMessage  `json:"shortDescription"`
		FullDescription      *sarifMessage `json:"fullDescription,omitempty"`
		HelpURI              string        `json:"helpUri"`
		DefaultConfiguration struct {
			Level string `json:"level"`
		} `json:"defaultConfiguration"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifMessage    `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
			Region sarifRegion `json:"region"`
		} `json:"physicalLocation"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
		EndColumn   int `json:"endColumn,omitempty"` // exclusive
	}
)

const docsURL = "https://github.com/avtomatika-ai/avtomatika-go/blob/main/docs/blueprints.md"

func printSARIF(w io.Writer, ds Diagnostics, src *sources) error {
	// Every rule is listed, with its summary and default level, so a
	// viewer can explain rules that found nothing this time too.
	all := Rules()
	for _, d := range ds {
		if LookupRule(d.Rule) == nil {
			all = append(all, &Rule{Name: d.Rule, Summary: RuleDescription(d.Rule)})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	index := map[string]int{}
	rules := make([]sarifRule, 0, len(all))
	for _, r := range all {
		if _, ok := index[r.Name]; ok {
			continue
		}
		index[r.Name] = len(rules)
		sr := sarifRule{ID: r.Name, ShortDescription: sarifMessage{r.Summary}, HelpURI: docsURL + "#validation"}
		if r.Help != "" {
			sr.FullDescription = &sarifMessage{r.Help}
		}
		sr.DefaultConfiguration.Level = r.Severity.String()
		rules = append(rules, sr)
	}
	results := make([]sarifResult, 0, len(ds))
	for _, d := range ds {
		r := sarifResult{RuleID: d.Rule, RuleIndex: index[d.Rule], Level: d.Severity.String(), Message: sarifMessage{d.Message}}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = d.Pos.File
		// Code scanning wants a line; a finding about a whole file goes on line 1.
		loc.PhysicalLocation.Region = sarifRegion{StartLine: max(d.Pos.Line, 1)}
		if d.Pos.Line > 0 && d.Pos.Col > 0 {
			loc.PhysicalLocation.Region.StartColumn = d.Pos.Col
			loc.PhysicalLocation.Region.EndColumn = src.endCol(d) + 1
		}
		r.Locations = []sarifLocation{loc}
		results = append(results, r)
	}
	doc := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{Driver: sarifDriver{Name: "avtomatika", InformationURI: "https://github.com/avtomatika-ai/avtomatika-go", Rules: rules}},
			Results: results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
