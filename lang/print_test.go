package lang

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var printSrc = map[string]string{
	"bp/a.yaml": "name: a\nstart: s\nstates:\n  s:\n    transitions: {success: shipp}\n",
}

func printDiags() Diagnostics {
	return Diagnostics{
		{Pos: Pos{File: "bp/a.yaml", Line: 5, Col: 28}, Rule: "unknown-state", Message: `transition "success" names unknown state "shipp"`},
		{Pos: Pos{File: "bp/a.yaml", Line: 2, Col: 8}, Severity: SeverityWarning, Rule: "unreachable-state", Message: "100% odd: a, b\nnext"},
		{Pos: Pos{File: "bp/b.yaml"}, Rule: "unreadable", Message: "permission denied"},
	}
}

func printed(t *testing.T, format string) string {
	t.Helper()
	var b bytes.Buffer
	err := Print(&b, format, printDiags(), func(f string) []byte {
		if s, ok := printSrc[f]; ok {
			return []byte(s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPrintText(t *testing.T) {
	want := `bp/a.yaml:5:28: transition "success" names unknown state "shipp" [unknown-state]
     5 |     transitions: {success: shipp}
       |                            ^~~~~
bp/a.yaml:2:8: warning: 100% odd: a, b
next [unreachable-state]
     2 | start: s
       |        ^
bp/b.yaml: permission denied [unreadable]
`
	if diff := cmp.Diff(want, printed(t, "text")); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
}

func TestPrintJSON(t *testing.T) {
	var got []map[string]any
	if err := json.Unmarshal([]byte(printed(t, "json")), &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"file": "bp/a.yaml", "line": 5.0, "column": 28.0, "end_column": 32.0, "severity": "error", "rule": "unknown-state", "message": `transition "success" names unknown state "shipp"`},
		{"file": "bp/a.yaml", "line": 2.0, "column": 8.0, "end_column": 8.0, "severity": "warning", "rule": "unreachable-state", "message": "100% odd: a, b\nnext"},
		{"file": "bp/b.yaml", "line": 0.0, "column": 0.0, "end_column": 0.0, "severity": "error", "rule": "unreadable", "message": "permission denied"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
	var b bytes.Buffer
	if err := Print(&b, "json", nil, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no findings print %q, %v; want []", b.String(), err)
	}
}

func TestPrintGitHub(t *testing.T) {
	want := `::error file=bp/a.yaml,line=5,col=28,endColumn=32,title=unknown-state::transition "success" names unknown state "shipp"
::warning file=bp/a.yaml,line=2,col=8,title=unreachable-state::100%25 odd: a, b%0Anext
::error file=bp/b.yaml,title=unreadable::permission denied
`
	if diff := cmp.Diff(want, printed(t, "github")); diff != "" {
		t.Errorf("github (-want +got):\n%s", diff)
	}
}

func TestPrintSARIF(t *testing.T) {
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID               string `json:"id"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region map[string]int `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(printed(t, "sarif")), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "avtomatika" {
		t.Fatalf("header: version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	// Every declared rule is named, with its summary, whether it found
	// something or not.
	var got, want []string
	for _, r := range run.Tool.Driver.Rules {
		got = append(got, r.ID+": "+r.ShortDescription.Text)
	}
	for _, r := range Rules() {
		want = append(want, r.Name+": "+r.Summary)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if len(run.Results) != 3 {
		t.Fatalf("%d results, want 3", len(run.Results))
	}
	regions := []map[string]int{
		{"startLine": 5, "startColumn": 28, "endColumn": 33},
		{"startLine": 2, "startColumn": 8, "endColumn": 9},
		{"startLine": 1},
	}
	levels := []string{"error", "warning", "error"}
	for i, r := range run.Results {
		if got := run.Tool.Driver.Rules[r.RuleIndex].ID; got != r.RuleID {
			t.Errorf("result %d: ruleIndex points at %s, ruleId is %s", i, got, r.RuleID)
		}
		if r.Level != levels[i] {
			t.Errorf("result %d: level %s, want %s", i, r.Level, levels[i])
		}
		if len(r.Locations) != 1 {
			t.Fatalf("result %d: %d locations", i, len(r.Locations))
		}
		if diff := cmp.Diff(regions[i], r.Locations[0].PhysicalLocation.Region); diff != "" {
			t.Errorf("result %d region (-want +got):\n%s", i, diff)
		}
	}
	if uri := run.Results[2].Locations[0].PhysicalLocation.ArtifactLocation.URI; uri != "bp/b.yaml" {
		t.Errorf("uri %q", uri)
	}
}

func TestPrintUnknownFormat(t *testing.T) {
	err := Print(new(bytes.Buffer), "xml", printDiags(), nil)
	if err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("err = %v, want one naming the format", err)
	}
}

func TestTokenWidth(t *testing.T) {
	for _, c := range []struct {
		line string
		col  int
		want int
	}{
		{"start: begin", 8, 5},
		{"load('../x.star', 'key')", 6, 11},
		{`msg: "a \" b" tail`, 6, 8},
		{`msg: "open`, 6, 1},
		{"timeout: 30s}", 10, 3},
		{"x", 5, 1},
		{"x", 0, 1},
		{"héllo wörld", 7, 5},
	} {
		if got := tokenWidth(c.line, c.col); got != c.want {
			t.Errorf("tokenWidth(%q, %d) = %d, want %d", c.line, c.col, got, c.want)
		}
	}
}
