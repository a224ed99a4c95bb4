//go:build !race

package proctest

var raceFlags []string
