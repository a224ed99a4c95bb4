package spell

import "testing"

func TestNearest(t *testing.T) {
	t.Parallel()
	cands := []string{"check_inventory", "ship", "approve", "done", "failed"}
	for _, c := range []struct{ in, want string }{
		{"check_inventroy", "check_inventory"},
		{"shp", "ship"},
		{"aprove", "approve"},
		{"Done", "done"},
		{"zzzzzz", ""},
		{"ship", ""},
	} {
		if got := Nearest(c.in, cands); got != c.want {
			t.Errorf("Nearest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A swap of two adjacent letters is one edit: "retires" is a slip for
	// "retries", not for "requires" (two edits either way by Levenshtein).
	taskKeys := []string{"dispatch_timeout", "max_cost", "output_schema", "params", "priority", "requires", "retries", "strategy", "timeout", "type"}
	if got := Nearest("retires", taskKeys); got != "retries" {
		t.Errorf("Nearest(retires) = %q, want retries", got)
	}
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"kitten", "sitting", 3},
		{"retires", "retries", 1},
		{"retires", "requires", 2},
		{"ab", "ba", 1},
		{"abc", "ca", 3}, // optimal string alignment: no edit of a swapped pair
		{"", "abc", 3},
		{"abc", "", 3},
		{"héllo", "hlélo", 1},
		{"same", "same", 0},
	} {
		if d := Distance(c.a, c.b); d != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, d, c.want)
		}
		if d := Distance(c.b, c.a); d != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.b, c.a, d, c.want)
		}
	}
}
