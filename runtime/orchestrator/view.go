package orchestrator

import (
	"context"
	"errors"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// CurrentTasks describes the tasks j waits on, in the order of its task
// refs: queued while no worker holds the task, running (with the worker
// and the lease's deadline) while one does. It reads each task's record
// once (store.Task); a task the store no longer knows shows as queued.
// An ended job waits on none.
func (x *Orchestrator) CurrentTasks(ctx context.Context, j *core.Job) ([]wire.CurrentTask, error) {
	if j.Status.Terminal() {
		return nil, nil // it waits on nothing
	}
	var out []wire.CurrentTask
	var items *bool
	for _, ref := range j.Tasks.All() {
		if ref.Result != nil {
			continue
		}
		if items == nil {
			items = new(bool)
			if m, err := x.machine(ctx, j); err == nil {
				if st := m.State(j.State); st != nil && st.Action == lang.ActionParallel {
					*items = true
				}
			}
		}
		ct := wire.CurrentTask{TaskID: ref.ID, Type: ref.Type, State: wire.TaskStateQueued, Attempt: ref.Attempt}
		if *items {
			n := ref.Branch
			ct.Item = &n
		}
		info, err := x.store.Task(ctx, ref.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		case info.State == store.TaskLeased:
			ct.State, ct.WorkerID = wire.TaskStateRunning, info.Worker
			if t := info.Task; t != nil && !t.LeaseUntil.IsZero() {
				ct.LeaseDeadline = wire.Timestamp(t.LeaseUntil.Unix())
			}
		}
		out = append(out, ct)
	}
	return out, nil
}

// ApprovalView is the question j asks while it waits for a human: its
// message, the decisions Approve takes and its deadline; nil otherwise.
func ApprovalView(j *core.Job) *wire.Approval {
	if j.Status != wire.StatusWaitingForHuman {
		return nil
	}
	a := &wire.Approval{Message: j.ApprovalMessage, Choices: []string{DecisionApproved, DecisionRejected}}
	if !j.ApprovalDeadline.IsZero() {
		a.Deadline = wire.Timestamp(j.ApprovalDeadline.Unix())
	}
	return a
}
