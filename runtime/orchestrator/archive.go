package orchestrator

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// History: ended jobs move from the live store's outbox to the archive,
// in batches, off the request path (archiveLoop); once archived and past
// JOB_RETENTION they leave the live store (retentionLoop). A job leaves
// the outbox only after the archive committed it, and the archive skips a
// job it holds, so a crash anywhere between the two loses nothing and
// archives nothing twice. Several instances on one Redis may archive the
// same jobs at once: the second write changes nothing.

const (
	// archiveBatch is how many ended jobs one archive transaction takes
	// at most. A transaction's cost is mostly per page it changes, and
	// the pages a job's rows land on are shared with the jobs beside it
	// (the tail of each time index, the index pages of recent ids), so a
	// job costs SQLite about half as much in a transaction of 1,000 as
	// in one of 50 (BenchmarkPutSQLite in runtime/history).
	archiveBatch = 1024
	// archiveLinger is how long the archiver waits for more jobs to end
	// once one has: it reads the outbox when archiveLinger passes with
	// no job ending here, when archiveBatch jobs have ended, or after
	// archiveMaxLinger. Jobs ending in a stream share a transaction;
	// the last of a burst is read at most two archiveLinger after it
	// ended (the wait looks once a tick).
	archiveLinger = 20 * time.Millisecond
	// archiveMaxLinger bounds the wait under a steady stream.
	archiveMaxLinger = 500 * time.Millisecond
	// archiveIdle is how often the outbox is read with no job ending here
	// (jobs ended on other instances, or left by a crash).
	archiveIdle = time.Second
	// removeBatch is how many jobs one retention call removes (one Lua
	// script on Redis: a bounded run).
	removeBatch = 256
	// retentionEvery is how often jobs past their retention are removed.
	retentionEvery = time.Second
	// archiveShare is the part of its time the archiver spends archiving
	// while the process is busy (yieldCPU): after a batch that took d it
	// waits up to d×(1−archiveShare)/archiveShare.
	archiveShare = 0.1
	// archiveBusy is the process's CPU use, as a part of GOMAXPROCS
	// measured over one archiveLinger with the archiver waiting, above
	// which the process counts as busy.
	archiveBusy = 0.5
	// archiveCostGuess is what yieldCPU expects a job to cost before the
	// first batch was measured (SQLite on a slow machine).
	archiveCostGuess = 100 * time.Microsecond
	// archiveFlush bounds the archiving of what the outbox holds when the
	// loops stop, for a store that lives in the process.
	archiveFlush = 30 * time.Second
)

// useHistory turns the history on (h not nil): the store must keep an
// outbox.
func (x *Orchestrator) useHistory(h store.Archive) error {
	if h == nil {
		x.log.Info("no history database (HISTORY_DATABASE_URI unset): ended jobs stay in the live store, and JOB_RETENTION does not apply")
		return nil
	}
	ob, ok := x.store.(store.Outbox)
	if !ok {
		return fmt.Errorf("history: the store %T keeps no outbox", x.store)
	}
	ob.KeepOutbox()
	x.hist, x.outbox, x.archiveKick = h, ob, make(chan struct{}, 1)
	x.log.Info("history on", "database", h.Describe(), "job_retention", x.cfg.JobRetention, "archive_backlog", x.cfg.ArchiveBacklog)
	return nil
}

// ArchiveBacklog is how many ended jobs wait in the outbox for the
// archive; 0 with the history off.
func (x *Orchestrator) ArchiveBacklog(ctx context.Context) (int, error) {
	if x.hist == nil {
		return 0, nil
	}
	return x.outbox.OutboxLen(ctx)
}

// History is the archive, or nil when the history is off.
func (x *Orchestrator) History() store.Archive { return x.hist }

func (x *Orchestrator) historyLoops() []func(context.Context) {
	if x.hist == nil {
		return nil
	}
	return []func(context.Context){x.archiveLoop, x.retentionLoop}
}

// kickArchive tells the archiver a job ended.
func (x *Orchestrator) kickArchive() {
	if x.archiveKick == nil {
		return
	}
	x.archiveEnded.Add(1)
	select {
	case x.archiveKick <- struct{}{}:
	default:
	}
}

// archiveLoop moves ended jobs to the archive until ctx ends. Archiving
// yields the CPU to the process's other work (yieldCPU). When ctx ends,
// an outbox that lives in the process is archived before the loop
// returns (flushArchive): the store's Close would lose it.
func (x *Orchestrator) archiveLoop(ctx context.Context) {
	defer x.flushArchive()
	idle := time.NewTicker(archiveIdle)
	defer idle.Stop()
	perJob := archiveCostGuess // what the last batch took a job
	for fails := 0; ; {
		if !x.yieldCPU(ctx, perJob) {
			return
		}
		began := time.Now()
		n, err := x.ArchiveOnce(ctx)
		if !x.survive(ctx, &fails, "archive ended jobs: retrying", err) {
			return
		}
		if n > 0 {
			perJob = time.Since(began) / time.Duration(n)
		}
		if err != nil || n == archiveBatch {
			continue // at once after the backoff, or more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		case <-x.archiveKick:
			if !x.linger(ctx) {
				return
			}
		}
	}
}

// yieldCPU waits before an archive batch while the rest of the process
// is busy (it used more than archiveBusy of GOMAXPROCS over the last
// archiveLinger): for up to the batch's expected time (perJob for each
// job the outbox holds, up to archiveBatch) × (1−archiveShare) /
// archiveShare. Under load, archiving then takes about archiveShare of
// one CPU and the jobs keep the rest, the outbox absorbing the
// difference; a burst shorter than that wait is archived after it. It
// stops waiting as soon as the process is no longer busy, and does not
// wait while the outbox holds Config.ArchiveBacklog jobs or more (0:
// never waits), so a sustained load cannot grow the outbox past that:
// archiving then runs flat out, at the jobs' expense. false when ctx
// ended.
func (x *Orchestrator) yieldCPU(ctx context.Context, perJob time.Duration) bool {
	limit := x.cfg.ArchiveBacklog
	if limit <= 0 || perJob <= 0 {
		return true
	}
	n, err := x.outbox.OutboxLen(ctx)
	if err != nil || n == 0 || n >= limit {
		return ctx.Err() == nil
	}
	wait := time.Duration(float64(perJob) * float64(min(n, archiveBatch)) * (1 - archiveShare) / archiveShare)
	t := time.NewTicker(archiveLinger)
	defer t.Stop()
	until := time.Now().Add(wait)
	cpu0, at0 := x.cpuTime(), time.Now()
	for time.Now().Before(until) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		cpu, at := x.cpuTime(), time.Now()
		if float64(cpu-cpu0) < archiveBusy*float64(at.Sub(at0))*float64(runtime.GOMAXPROCS(0)) {
			return true
		}
		cpu0, at0 = cpu, at
	}
	return true
}

// flushArchive archives what the outbox holds when the loops stop, for a
// store that lives in the process (its outbox ends with it), within
// archiveFlush; a Redis outbox waits for the next start.
func (x *Orchestrator) flushArchive() {
	if !x.store.Features().InProcess {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), archiveFlush)
	defer cancel()
	for {
		n, err := x.ArchiveOnce(ctx)
		if err != nil {
			left, _ := x.outbox.OutboxLen(ctx)
			x.log.Warn("archive at stop: ended jobs left unarchived", "jobs", left, "err", err)
			return
		}
		if n == 0 {
			return
		}
	}
}

// linger waits, once a job ended, until the jobs ending here pause for
// archiveLinger, fill a batch, or archiveMaxLinger passes; false when ctx
// ended.
func (x *Orchestrator) linger(ctx context.Context) bool {
	t := time.NewTicker(archiveLinger)
	defer t.Stop()
	until := time.Now().Add(archiveMaxLinger)
	for seen := x.archiveEnded.Load(); ; {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		n := x.archiveEnded.Load()
		if n == seen || n >= archiveBatch || !time.Now().Before(until) {
			return true
		}
		seen = n
	}
}

// ArchiveOnce archives one batch of the outbox and returns its size.
func (x *Orchestrator) ArchiveOnce(ctx context.Context) (int, error) {
	if x.hist == nil {
		return 0, nil
	}
	x.archiveEnded.Store(0) // the read below takes the jobs ended so far
	jobs, err := x.outbox.PendingArchive(ctx, archiveBatch)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	if err := x.hist.Put(ctx, jobs); err != nil {
		return 0, err
	}
	ids := make([]string, len(jobs))
	for i, e := range jobs {
		ids[i] = e.Job.ID
	}
	if err := x.outbox.MarkArchived(ctx, ids); err != nil {
		return 0, err
	}
	return len(jobs), nil
}

// retentionLoop removes archived jobs past JOB_RETENTION from the live
// store until ctx ends.
func (x *Orchestrator) retentionLoop(ctx context.Context) {
	tick := time.NewTicker(retentionEvery)
	defer tick.Stop()
	for fails := 0; ; {
		_, err := x.RemoveExpired(ctx)
		if !x.survive(ctx, &fails, "remove archived jobs: retrying", err) {
			return
		}
		if err != nil {
			continue // at once after the backoff
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RemoveExpired removes every archived job whose retention passed from
// the live store and returns how many.
func (x *Orchestrator) RemoveExpired(ctx context.Context) (int, error) {
	if x.hist == nil {
		return 0, nil
	}
	cut := x.now().Add(-x.cfg.JobRetention)
	total := 0
	for {
		n, err := x.outbox.RemoveArchived(ctx, cut, removeBatch)
		total += n
		if err != nil || n < removeBatch {
			return total, err
		}
	}
}
