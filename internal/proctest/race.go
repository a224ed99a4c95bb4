//go:build race

package proctest

// raceFlags: a test built with the race detector builds the binary with
// it too, so both share one set of compiled packages.
var raceFlags = []string{"-race"}
