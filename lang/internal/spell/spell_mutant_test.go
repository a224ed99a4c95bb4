package spell

import "testing"

// The limit is a third of the longer name's length, rounded up: two
// edits are close enough for six letters, not for three; at the limit a
// name still matches.
func TestNearestLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    string
		cands []string
		want  string
	}{
		{"abcdef", []string{"abcdxy"}, "abcdxy"}, // 2 edits, limit 2
		{"abcdef", []string{"abcxyz"}, ""},       // 3 edits, limit 2
		{"abc", []string{"axy"}, ""},             // 2 edits, limit 1
		{"abc", []string{"abx"}, "abx"},          // 1 edit, limit 1
		{"a", []string{"b"}, "b"},                // 1 edit: the limit is at least 1
		{"ab", []string{"ba"}, "ba"},             // a swap is 1 edit, limit 1
		{"abc", []string{"bca"}, ""},             // 2 edits, limit 1
		{"x", []string{""}, ""},                  // an empty candidate is never offered
	} {
		if got := Nearest(c.in, c.cands); got != c.want {
			t.Errorf("Nearest(%q, %q) = %q, want %q", c.in, c.cands, got, c.want)
		}
	}
}

// Among equally close candidates the first listed wins; a closer one
// listed later replaces it.
func TestNearestTies(t *testing.T) {
	t.Parallel()
	if got := Nearest("cat", []string{"bat", "hat"}); got != "bat" {
		t.Errorf("tie: %q, want the first, bat", got)
	}
	if got := Nearest("cat", []string{"hat", "bat"}); got != "hat" {
		t.Errorf("tie: %q, want the first, hat", got)
	}
	if got := Nearest("cats", []string{"bats", "Cats"}); got != "Cats" {
		t.Errorf("closer later: %q, want Cats (case only)", got)
	}
}

func TestDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"abc", "abc", 0},
		{"abc", "abd", 1}, {"abc", "ab", 1}, {"ab", "abc", 1}, {"héllo", "hello", 1},
		{"flaw", "lawn", 2},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
