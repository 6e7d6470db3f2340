package config

import (
	"maps"
	"slices"
	"strings"
)

// suggest returns " (did you mean X?)" for the candidate closest to key, or
// "" when none is close. Case, '_' and '-' are ignored, so maxPayload and
// MAX_PAYLOAD both find max_payload.
func suggest(key string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	k := norm(key)
	if len(k) > 64 {
		return "" // no key is that long; do not spend time on it
	}
	best, bestDist := "", 3 // at most two edits away
	if len(k) < 5 {
		bestDist = 2 // one edit for short keys
	}
	for _, c := range candidates {
		if dist := editDistance(k, norm(c)); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the optimal-string-alignment distance between a and b
// in bytes: insertions, deletions, substitutions and swaps of neighbours
// ("prot" is one edit from "port").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
