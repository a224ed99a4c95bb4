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
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
