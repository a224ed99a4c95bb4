package orchestrator

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// notHolder is the refusal of a worker event for a task or job the worker
// holds no lease in.
func notHolder(format string, args ...any) *Error {
	return refuse(KindForbidden, wire.CodeNotLeaseHolder, format, args...)
}

// heldJob returns the job a worker's event may touch: the job of
// originTaskID, which must be leased to the worker now, or targetJobID,
// in which the worker must hold a lease on a task now (both, when both
// are given, naming the same job). Anything else is KindForbidden, with
// the same answer for a task or job that does not exist.
func (x *Orchestrator) heldJob(ctx context.Context, workerID, originTaskID, targetJobID string) (string, error) {
	if originTaskID != "" {
		info, err := x.store.Task(ctx, originTaskID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (info.State != store.TaskLeased || info.Worker != workerID)) {
			return "", notHolder("task %q is not leased to worker %q", originTaskID, workerID)
		}
		if err != nil {
			return "", err
		}
		if targetJobID != "" && targetJobID != info.Task.JobID {
			return "", notHolder("target_job_id %q is not the job of task %q", targetJobID, originTaskID)
		}
		return info.Task.JobID, nil
	}
	j, err := x.store.GetJob(ctx, targetJobID)
	if errors.Is(err, store.ErrNotFound) {
		return "", notHolder("worker %q holds no task of job %q", workerID, targetJobID)
	}
	if err != nil {
		return "", err
	}
	for _, ref := range j.Tasks.All() {
		if ref.Result != nil {
			continue
		}
		info, err := x.store.Task(ctx, ref.ID)
		if err == nil && info.State == store.TaskLeased && info.Worker == workerID {
			return j.ID, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	return "", notHolder("worker %q holds no task of job %q", workerID, targetJobID)
}

// SignatureWindow is how far a signed message's timestamp may be from the
// server's clock.
const SignatureWindow = 60 * time.Second

// FirstUse records a verified signature and refuses one seen before
// (KindForbidden): within the timestamp window a signed message is
// accepted once, on every instance sharing the store. The record lives
// as long as a message with that signature could be accepted.
func (x *Orchestrator) FirstUse(ctx context.Context, workerID, signature string) error {
	_, first, err := x.store.Reserve(ctx, "sig:"+signature, workerID, 2*SignatureWindow+time.Second)
	if errors.Is(err, store.ErrFull) {
		return busy("the table of seen signatures is full")
	}
	if err != nil {
		return err
	}
	if !first {
		return refuse(KindForbidden, wire.CodeReplayed, "Unauthorized: this signed message was accepted before (replay)")
	}
	return nil
}

func busy(what string) *Error {
	e := refuse(KindUnavailable, wire.CodeBusy, "%s; retry later", what)
	e.RetryAfter = time.Second
	return e
}

// idemKey is the reservation of a client's idempotency key.
func idemKey(client, key string) string { return "idem:" + client + ":" + key }

// idemValue is what a reservation holds: the job id, and the request's
// fingerprint that tells a retry from another request under the same key.
func idemValue(jobID, fingerprint string) string { return jobID + " " + fingerprint }

func parseIdem(v string) (jobID, fingerprint string) {
	jobID, fingerprint, _ = strings.Cut(v, " ")
	return jobID, fingerprint
}
