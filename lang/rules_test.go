package lang

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRulesDeclared: every rule has a kebab-case name, a summary in the
// house style, and a golden case under testdata/lint whose output shows a
// finding of it.
func TestRulesDeclared(t *testing.T) {
	t.Parallel()
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	found := goldenRules(t)
	// An internal error is a bug in the linter: no input may produce one
	// (the fuzzers fail when one does), so no golden can show it.
	noGolden := map[string]bool{RuleInternalError.Name: true}
	for i, r := range Rules() {
		if !kebab.MatchString(r.Name) {
			t.Errorf("rule %q: the name is not kebab-case", r.Name)
		}
		if i > 0 && Rules()[i-1].Name >= r.Name {
			t.Errorf("rule %q: the list is not sorted by name, or names repeat", r.Name)
		}
		if r.Summary == "" {
			t.Errorf("rule %q has no summary", r.Name)
		} else if strings.HasSuffix(r.Summary, ".") || strings.ToLower(r.Summary[:1]) != r.Summary[:1] {
			t.Errorf("rule %q: a summary is lower case without a final period: %q", r.Name, r.Summary)
		}
		if r.Help == "" {
			t.Errorf("rule %q has no help", r.Name)
		}
		if LookupRule(r.Name) != r {
			t.Errorf("LookupRule(%q) does not find it", r.Name)
		}
		if !found[r.Name] && !noGolden[r.Name] {
			t.Errorf("rule %q has no golden case under testdata/lint (a .yaml or folder whose .out shows a finding [%s])", r.Name, r.Name)
		}
	}
	for name := range found {
		if LookupRule(name) == nil {
			t.Errorf("a golden shows rule %q, which is not declared", name)
		}
	}
}

// TestRulesDocumented: the guide's table lists exactly the declared rules,
// each with its summary.
func TestRulesDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "docs", "blueprints.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "## Validation")
	var got, want []string
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| `") {
			cells := strings.Split(line, "|")
			got = append(got, strings.Trim(cells[1], " `")+": "+strings.TrimSpace(cells[2]))
		}
	}
	for _, r := range Rules() {
		want = append(want, r.Name+": "+r.Summary)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("docs/blueprints.md rule table (-declared +documented):\n%s", diff)
	}
}

// goldenRules returns the rules the lint goldens show findings of.
func goldenRules(t *testing.T) map[string]bool {
	t.Helper()
	outs, err := filepath.Glob(filepath.Join("..", "testdata", "lint", "*.out"))
	if err != nil || len(outs) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	re := regexp.MustCompile(`(?m)^\S.* \[([a-z-]+)\]$`)
	found := map[string]bool{}
	for _, f := range outs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = true
		}
	}
	return found
}
