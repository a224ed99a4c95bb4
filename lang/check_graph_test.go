package lang

import (
	"strings"
	"testing"
)

// TestGraphChecksAllAtOnce: the graph passes report every finding; an
// unknown target does not hide the states it leaves unreachable, and a
// state whose edges cannot be read does.
func TestGraphChecksAllAtOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown target and unreachable", `name: a
start: s
states:
  s:
    task: {type: t}
    transitions: {success: shipp, failure: failed}
  ship: {end: success}
  failed: {end: failure}
  orphan: {go_to: nowhere}
`, []string{
			"bp.yaml:6:28 unknown-state",
			"bp.yaml:7:3 unreachable-state",
			"bp.yaml:9:3 unreachable-state",
			"bp.yaml:9:19 unknown-state",
		}},
		{"a state with an unknown target may still finish", `name: a
start: s
states:
  s: {go_to: dnoe}
  done: {end: success}
`, []string{
			"bp.yaml:4:14 unknown-state",
			"bp.yaml:5:3 unreachable-state",
		}},
		{"unreadable edges hide unreachable states", `name: a
start: s
states:
  s:
    task: {type: t}
    transitons: {success: done}
  done: {end: success}
`, []string{
			"bp.yaml:6:5 unknown-key",
		}},
		{"no path to an end", `name: a
start: s
states:
  s: {go_to: spin}
  spin: {go_to: s}
  done: {end: success}
`, []string{
			"bp.yaml:4:3 no-path-to-end",
			"bp.yaml:5:3 no-path-to-end",
			"bp.yaml:6:3 unreachable-state",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ds := lintFiles(map[string]string{"bp.yaml": c.src})
			var got []string
			for _, d := range ds {
				got = append(got, d.Pos.String()+" "+d.Rule)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("findings:\n%v\nwant:\n%s", ds, strings.Join(c.want, "\n"))
			}
		})
	}
}
