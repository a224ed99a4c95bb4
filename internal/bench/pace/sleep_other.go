//go:build !unix

package pace

import "time"

func sleep(d time.Duration) { time.Sleep(d) }
