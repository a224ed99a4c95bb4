//go:build unix

package pace

import (
	"time"

	"golang.org/x/sys/unix"
)

func sleep(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
