//go:build !unix

package orchestrator

import "time"

// processCPU is 0 where the process's CPU time is not read: the process
// never counts as busy, and the archiver never yields.
func processCPU() time.Duration { return 0 }
