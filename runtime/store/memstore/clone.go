package memstore

import (
	"maps"
	"slices"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// The memory store hands out and keeps copies, so a caller changing a job
// after a commit, or a returned job, never changes what is stored. JSON
// values (maps, slices) are copied deeply; other values are shared.

// cloneValue copies a JSON value deeply: map[string]any and []any are
// copied, other values are returned as they are.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case []string:
		if x == nil {
			return x
		}
		return append(make([]string, 0, len(x)), x...)
	case map[string]map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]map[string]any, len(x))
		for k, m := range x {
			out[k] = cloneMap(m)
		}
		return out
	}
	return v
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneResult(r *core.Result) *core.Result {
	if r == nil {
		return nil
	}
	c := *r
	c.Data = cloneMap(r.Data)
	c.Error = cloneErrorInfo(r.Error)
	return &c
}

func cloneErrorInfo(e *wire.Error) *wire.Error {
	if e == nil {
		return nil
	}
	c := *e
	c.Details = cloneValue(e.Details)
	return &c
}

// cloneJob copies a job deeply, but for its task refs, which are
// immutable and shared.
func cloneJob(j *core.Job) *core.Job {
	if j == nil {
		return nil
	}
	c := *j
	c.Input = cloneMap(j.Input)
	c.History = cloneMap(j.History)
	c.Result = cloneResult(j.Result)
	if j.Results != nil {
		c.Results = make([]*core.Result, len(j.Results))
		for i, r := range j.Results {
			c.Results[i] = cloneResult(r)
		}
	}
	c.Client.Fields = cloneMap(j.Client.Fields)
	// Tasks is immutable (core.TaskRefs) and shared: copying it per commit
	// would make a fan-in of n branches cost O(n) per result.
	if j.Parent != nil {
		p := *j.Parent
		c.Parent = &p
	}
	c.Children = slices.Clone(j.Children)
	c.Error = cloneErrorInfo(j.Error)
	c.Metadata = cloneMap(j.Metadata)
	c.Security = cloneValue(j.Security)
	return &c
}

// cloneTask copies a task deeply.
func cloneTask(t *core.Task) *core.Task {
	if t == nil {
		return nil
	}
	c := *t
	c.Params = cloneMap(t.Params)
	c.Requires = cloneMap(t.Requires)
	if t.MaxCost != nil {
		m := *t.MaxCost
		c.MaxCost = &m
	}
	c.Metadata = cloneMap(t.Metadata)
	c.Security = cloneValue(t.Security)
	c.TracingContext = cloneMap(t.TracingContext)
	return &c
}

func cloneTimer(t core.Timer) core.Timer {
	t.Event = cloneEvent(t.Event)
	return t
}

func cloneEvent(e core.Event) core.Event {
	e.Result = cloneResult(e.Result)
	e.Data = cloneMap(e.Data)
	return e
}

func cloneTimeline(e core.TimelineEvent) core.TimelineEvent {
	e.Detail = cloneMap(e.Detail)
	return e
}

func cloneWorker(w store.WorkerRecord) store.WorkerRecord {
	w.Skills = append([]string(nil), w.Skills...)
	w.HotSkills = append([]string(nil), w.HotSkills...)
	w.CostPerSkill = maps.Clone(w.CostPerSkill)
	w.Resources = cloneMap(w.Resources)
	w.Info = cloneMap(w.Info)
	return w
}

func cloneStores(s map[string]map[string]any) map[string]map[string]any {
	out := make(map[string]map[string]any, len(s))
	for k, m := range s {
		out[k] = cloneMap(m)
		if out[k] == nil {
			out[k] = map[string]any{}
		}
	}
	return out
}
