// Package faults is the fault suite: two server instances on one Redis,
// workers and clients as separate processes where a crash must be real,
// and the crashes an operator meets (kill -9 of an instance, of a worker
// in the middle of a task, of Redis with AOF everysec and always). Each
// scenario prints how many jobs were acknowledged, finished, lost,
// duplicated and stuck, and how long the deployment took to finish a new
// job after the fault; it fails on any loss, duplicate or stuck job.
//
// `make faults` runs it with 300 jobs a scenario; `go test` (and CI) with
// 40. The package holds tests only.
package faults
