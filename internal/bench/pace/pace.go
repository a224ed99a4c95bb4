// Package pace wakes an open-loop load generator at its scheduled send
// times, precisely, and measures each send from its scheduled time
// (Latencies). The orchestrator's harness and the baseline it is compared
// with share it, so both sides schedule and measure the same way.
//
// time.Sleep on an idle Go process wakes late by up to a millisecond: the
// runtime parks in epoll_wait, whose timeout is whole milliseconds. An
// open-loop generator that paces itself with time.Sleep and measures from
// the scheduled send time then counts its own late wake-up as the
// server's latency (about 0.5 ms at the median on an idle machine). Until
// sleeps in the kernel (nanosleep, microsecond timers) to just before the
// time and spins the rest, so what is measured is the system under test.
package pace

import (
	"runtime"
	"time"
)

// spin is how long before the time Until stops sleeping and spins: above
// a kernel timer's wake-up latency on a virtual machine (tens of µs).
const spin = 150 * time.Microsecond

// Until returns at t or, if t has passed, at once.
func Until(t time.Time) {
	if d := time.Until(t) - spin; d > 0 {
		sleep(d)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}
