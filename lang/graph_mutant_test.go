package lang_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

// Mermaid colours the end states it has, and writes no class line for an
// outcome no state ends with.
func TestMermaidClassesOnlyForPresentEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		outcome string
		want    []string
	}{
		{"success", []string{"  class s1 success"}},
		{"failure", []string{"  class s1 failure"}},
	} {
		bp := "name: g\nstart: w\nstates:\n  w:\n    task: {type: t}\n    transitions: {success: e}\n  e: {end: " + tc.outcome + "}\n"
		set, ds := lang.LoadFS(fstest.MapFS{"g.yaml": {Data: []byte(bp)}})
		if ds.HasErrors() {
			t.Fatalf("%s: %v", tc.outcome, ds)
		}
		out := set.Lookup("g").Mermaid()
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "  class ") {
				got = append(got, line)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("only %s ends: class lines %q, want %q:\n%s", tc.outcome, got, tc.want, out)
		}
	}
}
