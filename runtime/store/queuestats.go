package store

import (
	"context"
	"time"
)

// QueueStat is the shared queue of one task type: how many tasks wait on
// it and when the longest-waiting one was queued (zero when none waits).
// Tasks a dispatch strategy assigned to one worker wait on that worker's
// queue and are not counted.
type QueueStat struct {
	Depth  int
	Oldest time.Time
}

// QueueStats is implemented by stores that can count their queues by
// task type, for metrics.
type QueueStats interface {
	QueueStats(ctx context.Context, types []string) (map[string]QueueStat, error)
}
