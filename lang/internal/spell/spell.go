// Package spell suggests the closest known name for a misspelt one.
package spell

import "strings"

// Nearest returns the candidate closest to name by Distance, or ""
// when none is close enough (at most a third of the longer name's length, rounded up,
// and at least one edit; case-only differences always count as close).
func Nearest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if c == name || c == "" {
			continue
		}
		d := Distance(name, c)
		if strings.EqualFold(c, name) {
			d = 0
		}
		// c is not empty, so the limit is at least one.
		limit := (max(len(name), len(c)) + 2) / 3
		if d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the optimal string alignment distance between a and b,
// over runes: the fewest insertions, deletions, substitutions and swaps of
// two adjacent runes that turn a into b, no substring edited twice. A swap
// is one edit, as typing it is one slip: "retires" is one from "retries".
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows: two back for swaps, one back, and the current one.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
