// Package faults is the fault suite: two server instances on one Redis,
// workers and clients as separate processes where a crash must be real,
// and the crashes an operator meets (kill -9 of an instance, of a worker
// in the middle of a task, of Redis with AOF everysec and always). Each
// scenario prints how many jobs were acknowledged, finished, lost,
// duplicated and stuck, and how long the deployment took from the fault
// until every job acknowledged by then had ended; it fails on any loss, duplicate or stuck job.
// TestProbes repeats the hardening probes (lease holders, replays,
// idempotent creates, strict text, the workers list) against the two
// instances.
//
// `make faults` runs it with 300 jobs a scenario; `go test` (and CI) with
// 40. The package holds tests only.
package faults
