// Package memstore is the embedded store: a store.Store that keeps
// everything in the memory of the server's process, the default when no
// Redis is configured.
//
// A request takes one mutex, reads or changes a set of maps and slices,
// and lets go. A long poll that finds no task waits on a channel of its
// own; a commit that enqueues a task hands it to the longest-waiting
// poller that may run it while the commit still holds the lock, so exactly
// one poller gets it and none polls periodically. Timers sit in a heap by
// due time; a commit that arms one closes the TimerArmed channel.
//
// # What it keeps
//
// Everything, for the life of the process: every job, its timeline, and a
// record of every task, done and withdrawn ones included (they answer a
// repeated or late result), worker records, counters, the blueprints'
// key-value stores and machine versions. Nothing is written to disk: a
// restart starts empty.
//
// # How
//
// Jobs and tasks are numbered in creation order and held in slots that
// grow in chunks of 1,024 without copying (records.go). A job, its
// timeline and a task are kept encoded, not as Go values: a compact
// binary form (internal/codec) that gives back exactly what was stored
// (JSON value types, nil apart from empty, a time's instant and location;
// a monotonic clock reading is dropped) and is decoded afresh on every
// read, so a caller may change what it gets and what it passed in. UUID
// ids are packed into 16 bytes; blueprint names, versions, states and task
// types are interned; an id of a job or task the store holds is written
// as its number wherever another record names it (a job's task refs, its
// child and parent, a timeline event's task, a task's job). Ids are found
// through a table of hashes and numbers checked against the records
// (index.go), so no id string is held twice. A job's timeline is part of
// its record until it passes 1 KB, and a list of more than four task refs
// (a parallel state) is kept as the immutable core.TaskRefs it is. A lease
// is set or cleared by rewriting the end of the task record. A job, a
// timeline or a task holding a value of any other Go type is kept as a
// deep copy of Go values instead.
//
// The codec looks nothing up: the store gives it the numbers of the ids a
// record names and turns the numbers it decodes back into ids.
//
// A queued one-task job costs the store about 220 bytes of heap
// (BenchmarkMemoryQueuedJobs). Features reports InProcess: a read is a
// decode, not a round trip, so the server keeps no copies of its jobs.
package memstore
