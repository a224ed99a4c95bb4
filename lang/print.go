package lang

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Formats the printers know.
var Formats = []string{"github", "json", "sarif", "text"}

// Print writes diagnostics in a format: text (file:line:col: message
// [rule], then the source line with a caret under the spot), json, github
// (workflow command annotations) or sarif (SARIF 2.1.0). source returns a
// file's bytes for the text format's excerpts; it may be nil.
func Print(w io.Writer, format string, ds Diagnostics, source func(file string) []byte) error {
	switch format {
	case "text", "":
		return printText(w, ds, source)
	case "json":
		return printJSON(w, ds)
	case "github":
		return printGitHub(w, ds)
	case "sarif":
		return printSARIF(w, ds)
	}
	return fmt.Errorf("unknown format %q; valid formats: %s", format, strings.Join(Formats, ", "))
}

func printText(w io.Writer, ds Diagnostics, source func(string) []byte) error {
	cache := map[string][]string{}
	for _, d := range ds {
		sev := ""
		if d.Severity == SeverityWarning {
			sev = "warning: "
		}
		if _, err := fmt.Fprintf(w, "%s: %s%s [%s]\n", d.Pos, sev, d.Message, d.Rule); err != nil {
			return err
		}
		if source == nil || d.Pos.Line <= 0 {
			continue
		}
		lines, ok := cache[d.Pos.File]
		if !ok {
			if b := source(d.Pos.File); b != nil {
				lines = strings.Split(string(b), "\n")
			}
			cache[d.Pos.File] = lines
		}
		if d.Pos.Line > len(lines) {
			continue
		}
		line := strings.TrimRight(lines[d.Pos.Line-1], "\r")
		line = strings.ReplaceAll(line, "\t", " ")
		fmt.Fprintf(w, "  %4d | %s\n", d.Pos.Line, line)
		if d.Pos.Col > 0 {
			width := 1
			if d.EndCol >= d.Pos.Col {
				width = d.EndCol - d.Pos.Col + 1
			} else {
				width = tokenWidth(line, d.Pos.Col)
			}
			fmt.Fprintf(w, "       | %s^%s\n", strings.Repeat(" ", d.Pos.Col-1), strings.Repeat("~", width-1))
		}
	}
	return nil
}

// tokenWidth is the length in runes of the word at col (at least 1).
func tokenWidth(line string, col int) int {
	rs := []rune(line)
	if col-1 >= len(rs) {
		return 1
	}
	n := 0
	for i := col - 1; i < len(rs); i++ {
		r := rs[i]
		if r == ' ' || r == ',' || r == '}' || r == ']' || r == ':' || r == '"' || r == '\'' || r == '(' || r == ')' {
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
	EndColumn int    `json:"end_column,omitempty"`
	Severity  string `json:"severity"`
	Rule      string `json:"rule"`
	Message   string `json:"message"`
}

func printJSON(w io.Writer, ds Diagnostics) error {
	out := make([]jsonDiag, 0, len(ds))
	for _, d := range ds {
		out = append(out, jsonDiag{d.Pos.File, d.Pos.Line, d.Pos.Col, d.EndCol, d.Severity.String(), d.Rule, d.Message})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func printGitHub(w io.Writer, ds Diagnostics) error {
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
		}
		if d.EndCol > 0 {
			props += fmt.Sprintf(",endColumn=%d", d.EndCol)
		}
		props += ",title=" + escProp.Replace(d.Rule)
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", kind, props, esc.Replace(d.Message)); err != nil {
			return err
		}
	}
	return nil
}

func printSARIF(w io.Writer, ds Diagnostics) error {
	type msg struct {
		Text string `json:"text"`
	}
	type region struct {
		StartLine   int `json:"startLine,omitempty"`
		StartColumn int `json:"startColumn,omitempty"`
		EndColumn   int `json:"endColumn,omitempty"`
	}
	type artifact struct {
		URI string `json:"uri"`
	}
	type physical struct {
		ArtifactLocation artifact `json:"artifactLocation"`
		Region           *region  `json:"region,omitempty"`
	}
	type location struct {
		PhysicalLocation physical `json:"physicalLocation"`
	}
	type result struct {
		RuleID    string     `json:"ruleId"`
		RuleIndex int        `json:"ruleIndex"`
		Level     string     `json:"level"`
		Message   msg        `json:"message"`
		Locations []location `json:"locations"`
	}
	type rule struct {
		ID               string `json:"id"`
		ShortDescription msg    `json:"shortDescription"`
		HelpURI          string `json:"helpUri,omitempty"`
	}
	var ids []string
	seen := map[string]bool{}
	for _, d := range ds {
		if !seen[d.Rule] {
			seen[d.Rule] = true
			ids = append(ids, d.Rule)
		}
	}
	sort.Strings(ids)
	index := map[string]int{}
	rules := make([]rule, len(ids))
	for i, id := range ids {
		index[id] = i
		rules[i] = rule{ID: id, ShortDescription: msg{Text: "blueprint rule " + id}, HelpURI: "https://github.com/avtomatika-ai/avtomatika-go/blob/main/docs/blueprints.md#validation"}
	}
	results := make([]result, 0, len(ds))
	for _, d := range ds {
		level := "error"
		if d.Severity == SeverityWarning {
			level = "warning"
		}
		var reg *region
		if d.Pos.Line > 0 {
			reg = &region{StartLine: d.Pos.Line, StartColumn: d.Pos.Col}
			if d.EndCol > 0 {
				reg.EndColumn = d.EndCol + 1
			}
		}
		results = append(results, result{
			RuleID: d.Rule, RuleIndex: index[d.Rule], Level: level, Message: msg{Text: d.Message},
			Locations: []location{{PhysicalLocation: physical{ArtifactLocation: artifact{URI: d.Pos.File}, Region: reg}}},
		})
	}
	doc := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name":           "avtomatika",
				"informationUri": "https://github.com/avtomatika-ai/avtomatika-go",
				"rules":          rules,
			}},
			"results": results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
