package store

// CancelFeed is implemented by stores shared between instances: the
// function given to OnCancel is called on every instance, shortly after
// the commit, for each task withdrawn while leased (the worker holding it
// should stop), so that the instance holding the worker's WebSocket can
// tell it at once. It must not block. The heartbeat's cancel_task_ids
// (CancelRequests) stays the path of record.
type CancelFeed interface {
	// OnCancel adds f to the functions told.
	OnCancel(f func(workerID, taskID string))
}
