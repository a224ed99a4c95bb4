// Package spell suggests the closest known name for a misspelt one.
package spell

import "strings"

// Nearest returns the candidate closest to name by edit distance, or ""
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
		limit := (max(len(name), len(c)) + 2) / 3
		if limit < 1 {
			limit = 1
		}
		if d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, over runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
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
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
