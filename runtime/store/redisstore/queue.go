package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

type leaseArgs struct {
	W   string   `json:"w"`
	Now string   `json:"now"`
	Ty  []string `json:"ty,omitempty"`
	Ok  []string `json:"ok,omitempty"`
	No  []string `json:"no,omitempty"`
}

// Lease implements store.Store. The poll registers itself before it looks
// at the queues, so a wake message published after an empty look is never
// missed.
func (s *Store) Lease(ctx context.Context, p store.LeaseParams) (*core.Task, error) {
	if p.WorkerID == "" {
		return nil, fmt.Errorf("lease: worker id is required")
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	start := time.Now()
	args := leaseArgs{W: p.WorkerID, Ty: p.Types}
	if p.Wait <= 0 {
		args.Now = us(p.Now)
		tk, _, err := s.leaseOnce(ctx, &args, &p)
		return tk, err
	}
	// A wake message wakes as many polls as it has tasks for. A poll that
	// took a wake and ends without looking hands it on, and one that
	// leased a shared task while more are queued wakes the next, so no
	// task waits for the recheck while a poll idles.
	w := &waiter{worker: p.WorkerID, types: slices.Clone(p.Types), ch: make(chan struct{}, 1)}
	s.mu.Lock()
	s.waiters.add(w)
	s.mu.Unlock()
	var owed bool   // a wake taken and not looked at
	var next string // the type of a leased task with more queued
	defer func() {
		s.mu.Lock()
		if s.waiters.remove(w) || owed {
			for _, ty := range w.types {
				s.waiters.wakeType(ty, 1)
			}
		} else if next != "" {
			s.waiters.wakeType(next, 1)
		}
		s.mu.Unlock()
	}()
	t := time.NewTimer(p.Wait)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return nil, nil
		}
		args.Now = us(p.Now.Add(time.Since(start)))
		owed = false
		tk, more, err := s.leaseOnce(ctx, &args, &p)
		if tk != nil && more {
			next = tk.Type
		}
		if err != nil || tk != nil {
			return tk, err
		}
		select {
		case <-w.ch: // a wake message, a recheck, a subscription back
			owed = true
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		case <-s.closedCh:
			return nil, nil
		}
	}
}

// leaseOnce runs the lease script until it claims a task or finds none,
// checking constrained tasks it reports against the worker in between;
// more says that the shared queue it leased from holds more tasks.
func (s *Store) leaseOnce(ctx context.Context, a *leaseArgs, p *store.LeaseParams) (_ *core.Task, more bool, _ error) {
	a.Ok, a.No = a.Ok[:0], a.No[:0]
	// The script runs detached from the poll's context: a reply lost to a
	// cancellation would leave the task leased to nobody. A poll that
	// ended meanwhile puts the task back.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for range 100 {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, false, err
		}
		res, err := s.sc.lease.Run(rctx, s.rdb, s.keys, string(b)).StringSlice()
		if err != nil {
			return nil, false, fmt.Errorf("lease for worker %q: redis: %w", p.WorkerID, err)
		}
		switch res[0] {
		case "EMPTY":
			return nil, false, nil
		case "OK":
			if len(res) < 10 {
				return nil, false, fmt.Errorf("lease for worker %q: unexpected reply %v", p.WorkerID, res)
			}
			t, err := decodeTask(res[1], unpackTask(res[4]), unpackJob(res[5]), res[6], res[8], res[9])
			if err != nil {
				return nil, false, fmt.Errorf("lease for worker %q: %w", p.WorkerID, err)
			}
			t.Worker, t.LeasedAt, t.LeaseUntil = p.WorkerID, fromUS(res[2]), fromUS(res[3])
			if ctx.Err() != nil {
				if err := s.sc.unlease.Run(rctx, s.rdb, s.keys, res[4], p.WorkerID).Err(); err != nil {
					return nil, false, fmt.Errorf("lease for worker %q: put task %q back: redis: %w", p.WorkerID, t.ID, err)
				}
				return nil, false, nil
			}
			return t, res[7] != "0", nil
		case "CHECK":
			for i := 1; i+4 < len(res); i += 5 {
				t, err := decodeTask(res[i+1], unpackTask(res[i]), "", res[i+2], res[i+3], res[i+4])
				if err != nil {
					return nil, false, fmt.Errorf("lease for worker %q: %w", p.WorkerID, err)
				}
				if dispatch.Fits(t, p.Resources, p.Costs) {
					a.Ok = append(a.Ok, res[i])
				} else {
					a.No = append(a.No, res[i])
				}
			}
		default:
			return nil, false, fmt.Errorf("lease for worker %q: unexpected reply %v", p.WorkerID, res)
		}
	}
	return nil, false, nil
}

var stateNames = map[string]store.TaskState{
	"q": store.TaskQueued, "l": store.TaskLeased, "d": store.TaskDone, "w": store.TaskWithdrawn, "x": store.TaskExpired,
}

// Task implements store.Store.
func (s *Store) Task(ctx context.Context, id string) (*store.TaskInfo, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	h, err := s.sc.getTask.Run(ctx, s.rdb, s.keys, packTask(id)).StringSlice()
	if err == redisNil {
		return nil, fmt.Errorf("task %q: %w", id, store.ErrNotFound)
	}
	if err != nil || len(h) != 10 {
		return nil, fmt.Errorf("task %q: redis: %v", id, err)
	}
	t, err := decodeTask(h[5], id, unpackJob(h[6]), h[7], h[8], h[9])
	if err != nil {
		return nil, err
	}
	st := stateNames[h[0]]
	info := &store.TaskInfo{Task: t, State: st}
	if st == store.TaskQueued {
		info.Worker, t.Worker = h[1], h[1]
	} else {
		info.Worker, t.Worker = h[2], h[2]
		t.LeasedAt, t.LeaseUntil = fromUS(h[3]), fromUS(h[4])
	}
	return info, nil
}

// ReclaimExpired implements store.Store.
func (s *Store) ReclaimExpired(ctx context.Context, now time.Time, limit int) ([]*core.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	res, err := s.sc.reclaim.Run(ctx, s.rdb, s.keys, us(now), max(limit, 0)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("reclaim expired leases: redis: %w", err)
	}
	out := make([]*core.Task, 0, len(res)/9)
	for i := 0; i+8 < len(res); i += 9 {
		t, err := decodeTask(res[i], unpackTask(res[i+4]), unpackJob(res[i+5]), res[i+6], res[i+7], res[i+8])
		if err != nil {
			return nil, fmt.Errorf("reclaim expired leases: %w", err)
		}
		t.Worker, t.LeasedAt, t.LeaseUntil = res[i+1], fromUS(res[i+2]), fromUS(res[i+3])
		out = append(out, t)
	}
	return out, nil
}

// WithdrawIfQueued implements store.Store.
func (s *Store) WithdrawIfQueued(ctx context.Context, taskID string) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	n, err := s.sc.withdraw.Run(ctx, s.rdb, s.keys, packTask(taskID)).Int()
	if err != nil {
		return false, fmt.Errorf("withdraw task %q: redis: %w", taskID, err)
	}
	return n == 1, nil
}

// ---- timers ----

// ClaimDueTimers implements store.Store.
func (s *Store) ClaimDueTimers(ctx context.Context, now time.Time, limit int) ([]core.Timer, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	res, err := s.sc.timers.Run(ctx, s.rdb, s.keys, us(now), max(limit, 0)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim due timers: redis: %w", err)
	}
	out := make([]core.Timer, 0, len(res))
	for _, d := range res {
		var tm core.Timer
		if err := json.Unmarshal([]byte(d), &tm); err != nil {
			return nil, fmt.Errorf("claim due timers: decode: %w", err)
		}
		out = append(out, tm)
	}
	return out, nil
}

// NextTimerAt implements store.Store.
func (s *Store) NextTimerAt(ctx context.Context) (time.Time, bool, error) {
	if err := s.check(); err != nil {
		return time.Time{}, false, err
	}
	d, err := s.sc.nextTimer.Run(ctx, s.rdb, s.keys).Text()
	if err == redisNil {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next timer: redis: %w", err)
	}
	var tm core.Timer
	if err := json.Unmarshal([]byte(d), &tm); err != nil {
		return time.Time{}, false, fmt.Errorf("next timer: decode: %w", err)
	}
	return tm.At, true, nil
}

// TimerArmed implements store.Store. The signal comes through the wake
// subscription, so a timer armed by any instance closes the channel.
func (s *Store) TimerArmed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timerCh
}
