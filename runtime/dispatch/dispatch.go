// Package dispatch picks the worker a task goes to, by strategy, from the
// live worker records; it is pure: no I/O, no clock, no randomness.
//
// Data flows one way: the runtime reads the candidate workers from the
// store, calls Pick with the task and (for round_robin) a counter value the
// store incremented, and enqueues the task either on the shared queue of
// its type (Pick returned "") or on the picked worker's own queue
// (core.Task.Worker set). The store uses Fits to decide, at lease time,
// whether a polling worker may take a task from a shared queue.
//
// # Requirements
//
// A task's `requires` is a JSON object. Each key names a property of the
// worker, looked up in Worker.Resources; a dotted key ("gpu.vram_gb")
// descends into nested objects. A requirement holds when the property
// exists and:
//   - the required value is a number: the property is a number >= it;
//   - a string: the property is the equal string, or a list containing it;
//   - a bool: the property is the equal bool;
//   - a list: the property is a list sharing at least one element with it,
//     or a scalar equal to one of its elements;
//   - an object: the property is an object and every key of the required
//     object holds recursively against it;
//   - null: the property exists (any value).
//
// A task's max_cost holds when the worker's cost for the task's type is
// known and <= max_cost; a worker with no cost listed for the type has an
// unknown (+Inf) cost and never fits a max_cost.
package dispatch

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Worker is the part of a worker's record that dispatch reads.
type Worker struct {
	ID   string `json:"worker_id"`
	Type string `json:"worker_type,omitempty"`
	// Skills are the task types the worker runs; HotSkills those it has
	// warm (preferred when choosing among equals).
	Skills    []string `json:"skills,omitempty"`
	HotSkills []string `json:"hot_skills,omitempty"`
	// CostPerSkill is the worker's price per task type; a missing type
	// costs +Inf.
	CostPerSkill map[string]float64 `json:"cost_per_skill,omitempty"`
	// Reputation starts at 1.0; a zero value is read as 1.0.
	Reputation float64 `json:"reputation"`
	// Resources is what `requires` is matched against: the registration's
	// resources, their properties, installed software and capabilities,
	// merged into one JSON object by the runtime.
	Resources map[string]any    `json:"resources,omitempty"`
	Status    wire.WorkerStatus `json:"status"`
	// Load counts the tasks leased to the worker or waiting in its own
	// queue; the store maintains it.
	Load int `json:"load"`
}

// HasSkill reports whether the worker runs tasks of type t.
func (w *Worker) HasSkill(t string) bool { return slices.Contains(w.Skills, t) }

// Hot reports whether the worker has type t warm.
func (w *Worker) Hot(t string) bool { return slices.Contains(w.HotSkills, t) }

// Cost returns the worker's cost for type t, +Inf when it lists none.
func (w *Worker) Cost(t string) float64 {
	if c, ok := w.CostPerSkill[t]; ok {
		return c
	}
	return math.Inf(1)
}

func (w *Worker) reputation() float64 {
	if w.Reputation == 0 {
		return 1
	}
	return w.Reputation
}

// Fits reports whether a worker with these resources and costs may run the
// task: its `requires` hold and its max_cost is met. It does not look at
// skills or status.
func Fits(t *core.Task, resources map[string]any, costs map[string]float64) bool {
	if t.MaxCost != nil {
		c, ok := costs[t.Type]
		if !ok || c > *t.MaxCost {
			return false
		}
	}
	for k, want := range t.Requires {
		have, ok := lookup(resources, k)
		if !ok || !matches(want, have) {
			return false
		}
	}
	return true
}

// Eligible reports whether w may be picked for t: it runs the type, is
// not draining, busy or offline, and fits the task.
func Eligible(t *core.Task, w *Worker) bool {
	switch w.Status {
	case wire.WorkerDraining, wire.WorkerBusy, wire.WorkerOffline:
		return false
	}
	return w.HasSkill(t.Type) && Fits(t, w.Resources, w.CostPerSkill)
}

// Pick returns the id of the worker the task should go to, or "" when the
// task belongs on the shared queue of its type: the default strategy, or
// no eligible worker (the task then waits there until a worker that fits
// polls, or its dispatch timeout). rr is a counter the caller increments
// once per round_robin pick of this task type (Store.Counter). Ties break
// by hot skill, then reputation, then lower load, then worker id, so the
// result is deterministic. An unknown strategy is an error.
func Pick(t *core.Task, workers []Worker, rr uint64) (string, error) {
	strategy := t.Strategy
	if strategy == "" {
		strategy = wire.StrategyDefault
	}
	var score func(w *Worker) float64 // lower is better
	switch strategy {
	case wire.StrategyDefault:
		return "", nil
	case wire.StrategyRoundRobin:
	case wire.StrategyLeastConnections:
		score = func(w *Worker) float64 { return float64(w.Load) }
	case wire.StrategyCheapest:
		score = func(w *Worker) float64 { return w.Cost(t.Type) }
	case wire.StrategyBestValue:
		score = func(w *Worker) float64 { return w.Cost(t.Type) / w.reputation() }
	default:
		return "", fmt.Errorf("dispatch task %q: unknown strategy %q (valid: %s)", t.ID, strategy,
			strings.Join(wire.Strategies(), ", "))
	}
	var cands []*Worker
	for i := range workers {
		if Eligible(t, &workers[i]) {
			cands = append(cands, &workers[i])
		}
	}
	if len(cands) == 0 {
		return "", nil
	}
	if score == nil { // round robin over the eligible workers in id order
		slices.SortFunc(cands, func(a, b *Worker) int { return strings.Compare(a.ID, b.ID) })
		return cands[rr%uint64(len(cands))].ID, nil
	}
	best := cands[0]
	for _, w := range cands[1:] {
		if better(t.Type, score, w, best) {
			best = w
		}
	}
	return best.ID, nil
}

// better reports whether a beats b: the lower score, then a worker hot
// for the type, then the higher reputation, then the lighter load, then
// the smaller id (so the choice never depends on the input's order).
func better(typ string, score func(*Worker) float64, a, b *Worker) bool {
	return cmp.Or(
		cmp.Compare(score(a), score(b)),
		first(a.Hot(typ), b.Hot(typ)),
		cmp.Compare(b.reputation(), a.reputation()),
		cmp.Compare(a.Load, b.Load),
		strings.Compare(a.ID, b.ID),
	) < 0
}

// first orders true before false.
func first(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	var cur any = m
	for part := range strings.SplitSeq(key, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func matches(want, have any) bool {
	switch w := want.(type) {
	case nil:
		return true
	case bool:
		h, ok := have.(bool)
		return ok && h == w
	case string:
		switch h := have.(type) {
		case string:
			return h == w
		case []any:
			return slices.ContainsFunc(h, func(e any) bool { return scalarEqual(e, w) })
		case []string:
			return slices.Contains(h, w)
		}
		return false
	case []any:
		switch h := have.(type) {
		case []any:
			for _, e := range w {
				if slices.ContainsFunc(h, func(x any) bool { return scalarEqual(x, e) }) {
					return true
				}
			}
			return false
		case []string:
			for _, e := range w {
				if s, ok := e.(string); ok && slices.Contains(h, s) {
					return true
				}
			}
			return false
		}
		return slices.ContainsFunc(w, func(e any) bool { return scalarEqual(e, have) })
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, sub := range w {
			v, ok := h[k]
			if !ok || !matches(sub, v) {
				return false
			}
		}
		return true
	}
	if wn, ok := number(want); ok {
		hn, ok := number(have)
		return ok && hn >= wn
	}
	return false
}

func scalarEqual(a, b any) bool {
	if an, ok := number(a); ok {
		bn, ok := number(b)
		return ok && an == bn
	}
	switch a.(type) {
	case string, bool, nil:
		return a == b
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	}
	return 0, false
}
