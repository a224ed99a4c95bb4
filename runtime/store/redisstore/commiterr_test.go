package redisstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// A commit script's refusal becomes the contract's error, and its message
// names what the script named: the duplicate, the stored revision, the
// task and worker of a result.
func TestCommitErrNamesWhatWasRefused(t *testing.T) {
	const taskUUID, jobUUID = "task-3f2504e0-4f89-41d3-9a0c-0305e82c3301", "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
	if packTask(taskUUID) == taskUUID || packJob(jobUUID) == jobUUID {
		t.Fatal("UUIDs are not packed")
	}
	result := store.CommitParams{ExpectRev: 3, Complete: &store.TaskCompletion{TaskID: "task-1", WorkerID: "w-1"}}
	for _, c := range []struct {
		reply []any
		p     store.CommitParams
		is    error
		says  string
	}{
		// Ids as the engine makes them, which the script holds packed.
		{[]any{"EXISTS", "task", packTask(taskUUID)}, store.CommitParams{}, store.ErrExists, `task "` + taskUUID + `"`},
		{[]any{"EXISTS", "job", packJob(jobUUID)}, store.CommitParams{}, store.ErrExists, `job "` + jobUUID + `"`},
		{[]any{"CONFLICT", "7"}, result, store.ErrConflict, "at rev 3 (stored rev 7)"},
		{[]any{"CONFLICT"}, result, store.ErrConflict, "(stored rev )"},
		{[]any{"STALE"}, result, core.ErrStaleTask, `task "task-1" of job "j1"`},
		{[]any{"DONE"}, result, store.ErrAlreadyDone, `task "task-1" from worker "w-1"`},
		{[]any{"LOST"}, result, store.ErrLeaseLost, `task "task-1" from worker "w-1"`},
		{[]any{"MISMATCH"}, result, store.ErrWorkerMismatch, `task "task-1" from worker "w-1"`},
		{[]any{"DONE"}, store.CommitParams{}, store.ErrAlreadyDone, `task "" from worker ""`},
	} {
		err := commitErr("j1", c.p, c.reply)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v; want %v saying %s", c.reply, err, c.is, c.says)
		}
	}
}
