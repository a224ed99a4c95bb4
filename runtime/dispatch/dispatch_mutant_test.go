package dispatch_test

import (
	"math"
	"slices"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func idle(id string) dispatch.Worker {
	return dispatch.Worker{ID: id, Skills: []string{"a"}, Status: wire.WorkerIdle}
}

// pickBoth picks with the workers in the given order and reversed, and
// fails unless both orders give want: a tie must not be settled by the
// order the store happened to list the workers in.
func pickBoth(t *testing.T, task core.Task, ws []dispatch.Worker, want string) {
	t.Helper()
	for _, order := range []string{"as listed", "reversed"} {
		in := slices.Clone(ws)
		if order == "reversed" {
			slices.Reverse(in)
		}
		got, err := dispatch.Pick(&task, in, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: Pick = %q, want %q", order, got, want)
		}
	}
}

// The tie ladder, one rung at a time: equal score, then hot skill, then
// reputation (zero read as 1.0), then lower load, then the smaller id.
func TestPickTieLadder(t *testing.T) {
	lc := core.Task{Type: "a", Strategy: wire.StrategyLeastConnections}

	t.Run("lower score beats every tie-breaker", func(t *testing.T) {
		a, b := idle("w-a"), idle("w-b")
		a.Load, a.HotSkills, a.Reputation = 2, []string{"a"}, 5
		b.Load = 1
		pickBoth(t, lc, []dispatch.Worker{a, b}, "w-b")
	})
	t.Run("hot wins equal scores", func(t *testing.T) {
		a, b := idle("w-a"), idle("w-b")
		a.Reputation = 5 // a better reputation does not outrank a warm skill
		b.HotSkills = []string{"a"}
		pickBoth(t, lc, []dispatch.Worker{a, b}, "w-b")
	})
	t.Run("hot for another type does not count", func(t *testing.T) {
		a, b := idle("w-a"), idle("w-b")
		b.HotSkills = []string{"other"}
		a.Reputation, b.Reputation = 0.9, 0.8
		pickBoth(t, lc, []dispatch.Worker{a, b}, "w-a")
	})
	t.Run("higher reputation wins equal scores", func(t *testing.T) {
		a, b := idle("w-a"), idle("w-b")
		a.Reputation, b.Reputation = 0.5, 0.7
		pickBoth(t, lc, []dispatch.Worker{a, b}, "w-b")
	})
	t.Run("zero reputation reads as 1.0", func(t *testing.T) {
		a, b := idle("w-a"), idle("w-b")
		a.Reputation, b.Reputation = 0.99, 0
		pickBoth(t, lc, []dispatch.Worker{a, b}, "w-b")
	})
	t.Run("lower load wins equal cost and reputation", func(t *testing.T) {
		a, b := idle("w-a"), idle("w-b")
		a.CostPerSkill = map[string]float64{"a": 3}
		b.CostPerSkill = map[string]float64{"a": 3}
		a.Load, b.Load = 4, 2
		pickBoth(t, core.Task{Type: "a", Strategy: wire.StrategyCheapest}, []dispatch.Worker{a, b}, "w-b")
	})
	t.Run("smaller id settles a full tie", func(t *testing.T) {
		pickBoth(t, lc, []dispatch.Worker{idle("w-2"), idle("w-10"), idle("w-1")}, "w-1")
	})
	t.Run("full tie among three, first listed is not favoured", func(t *testing.T) {
		pickBoth(t, lc, []dispatch.Worker{idle("w-c"), idle("w-a"), idle("w-b")}, "w-a")
	})
}

func TestPickBestValueDividesByReputation(t *testing.T) {
	a, b := idle("w-a"), idle("w-b")
	// w-a: 4/2 = 2, w-b: 3/1 = 3. Cheapest alone would take w-b.
	a.CostPerSkill, a.Reputation = map[string]float64{"a": 4}, 2
	b.CostPerSkill, b.Reputation = map[string]float64{"a": 3}, 1
	pickBoth(t, core.Task{Type: "a", Strategy: wire.StrategyBestValue}, []dispatch.Worker{a, b}, "w-a")
	pickBoth(t, core.Task{Type: "a", Strategy: wire.StrategyCheapest}, []dispatch.Worker{a, b}, "w-b")

	// a zero reputation divides by 1, not by 0 (which would make +Inf).
	c := idle("w-c")
	c.CostPerSkill = map[string]float64{"a": 2.5}
	pickBoth(t, core.Task{Type: "a", Strategy: wire.StrategyBestValue}, []dispatch.Worker{b, c}, "w-c")
}

func TestPickRoundRobinSkipsIneligible(t *testing.T) {
	ws := []dispatch.Worker{idle("w-c"), idle("w-a"), idle("w-b")}
	ws[0].Status = wire.WorkerOffline
	task := core.Task{Type: "a", Strategy: wire.StrategyRoundRobin}
	var got []string
	for rr := range uint64(4) {
		id, err := dispatch.Pick(&task, ws, rr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if want := []string{"w-a", "w-b", "w-a", "w-b"}; !slices.Equal(got, want) {
		t.Errorf("round robin = %v, want %v", got, want)
	}
	// a counter past 2^63 still picks by remainder.
	if id, _ := dispatch.Pick(&task, ws, math.MaxUint64); id != "w-b" {
		t.Errorf("round robin at MaxUint64 = %q, want w-b", id)
	}
}

func TestEligible(t *testing.T) {
	task := &core.Task{Type: "a"}
	for _, tc := range []struct {
		status wire.WorkerStatus
		want   bool
	}{
		{wire.WorkerIdle, true},
		{"", true}, // a worker that reported no status yet
		{wire.WorkerBusy, false},
		{wire.WorkerDraining, false},
		{wire.WorkerOffline, false},
	} {
		w := idle("w")
		w.Status = tc.status
		if got := dispatch.Eligible(task, &w); got != tc.want {
			t.Errorf("Eligible(status %q) = %v, want %v", tc.status, got, tc.want)
		}
	}
	w := idle("w")
	if dispatch.Eligible(&core.Task{Type: "b"}, &w) {
		t.Error("a worker without the skill is eligible")
	}
	if dispatch.Eligible(&core.Task{Type: "a", Requires: map[string]any{"gpu": nil}}, &w) {
		t.Error("a worker without the required property is eligible")
	}
}

func TestWorkerAccessors(t *testing.T) {
	w := dispatch.Worker{Skills: []string{"a"}, HotSkills: []string{"h"}, CostPerSkill: map[string]float64{"a": 0}}
	if !w.HasSkill("a") || w.HasSkill("h") {
		t.Errorf("HasSkill: a=%v h=%v, want true false", w.HasSkill("a"), w.HasSkill("h"))
	}
	if !w.Hot("h") || w.Hot("a") {
		t.Errorf("Hot: h=%v a=%v, want true false", w.Hot("h"), w.Hot("a"))
	}
	if c := w.Cost("a"); c != 0 {
		t.Errorf("Cost(a) = %v, want 0 (a listed zero is free, not unknown)", c)
	}
	if c := w.Cost("b"); !math.IsInf(c, 1) {
		t.Errorf("Cost(b) = %v, want +Inf", c)
	}
}

func TestFitsEdges(t *testing.T) {
	res := map[string]any{
		"n":        float64(8),
		"i":        int(8),
		"i32":      int32(8),
		"u64":      uint64(8),
		"u32":      uint32(8),
		"f32":      float32(8),
		"os":       "linux",
		"langs":    []string{"go", "python"},
		"tags":     []any{"eu", float64(3), true},
		"gpu.vram": float64(10), // a literal dotted key wins over descent
		"gpu":      map[string]any{"vram": float64(80), "model": "a100"},
		"flat":     "x",
		"nothing":  nil,
	}
	costs := map[string]float64{"a": 2}
	for _, tc := range []struct {
		name     string
		requires map[string]any
		maxCost  *float64
		want     bool
	}{
		{"number equal is enough", map[string]any{"n": 8}, nil, true},
		{"number one above fails", map[string]any{"n": 8.5}, nil, false},
		{"int property", map[string]any{"i": 8}, nil, true},
		{"int property too small", map[string]any{"i": 9}, nil, false},
		{"int32 property", map[string]any{"i32": int32(8)}, nil, true},
		{"int32 property too small", map[string]any{"i32": 9}, nil, false},
		{"uint64 property", map[string]any{"u64": uint64(8)}, nil, true},
		{"uint64 property too small", map[string]any{"u64": 9}, nil, false},
		{"uint32 property", map[string]any{"u32": uint32(8)}, nil, true},
		{"uint32 property too small", map[string]any{"u32": 9}, nil, false},
		{"float32 property", map[string]any{"f32": float32(8)}, nil, true},
		{"float32 property too small", map[string]any{"f32": 9}, nil, false},
		{"number wanted, string found", map[string]any{"os": 1}, nil, false},
		{"string in []string", map[string]any{"langs": "go"}, nil, true},
		{"string not in []string", map[string]any{"langs": "rust"}, nil, false},
		{"string wanted, number found", map[string]any{"n": "8"}, nil, false},
		{"string in list of mixed", map[string]any{"tags": "eu"}, nil, true},
		{"string not in list of mixed", map[string]any{"tags": "us"}, nil, false},
		{"list meets []string", map[string]any{"langs": []any{"rust", "python"}}, nil, true},
		{"list misses []string", map[string]any{"langs": []any{"rust", 3}}, nil, false},
		{"number in list of choices", map[string]any{"tags": []any{float64(3)}}, nil, true},
		{"int choice equals float element", map[string]any{"tags": []any{3}}, nil, true},
		{"bool in list of choices", map[string]any{"tags": []any{true}}, nil, true},
		{"false not in list", map[string]any{"tags": []any{false}}, nil, false},
		{"scalar number among choices", map[string]any{"n": []any{"8", 8}}, nil, true},
		{"scalar number not among choices", map[string]any{"n": []any{7, 9}}, nil, false},
		{"string among number choices", map[string]any{"os": []any{1, 2}}, nil, false},
		{"object among choices never equal", map[string]any{"gpu": []any{map[string]any{}}}, nil, false},
		{"null among choices", map[string]any{"nothing": []any{nil}}, nil, true},
		{"literal dotted key first", map[string]any{"gpu.vram": 20}, nil, false},
		{"descent into nested", map[string]any{"gpu.model": "a100"}, nil, true},
		{"descent through a scalar", map[string]any{"flat.x": nil}, nil, false},
		{"descent to a missing leaf", map[string]any{"gpu.cores": nil}, nil, false},
		{"object wanted, scalar found", map[string]any{"os": map[string]any{}}, nil, false},
		{"empty object wanted, object found", map[string]any{"gpu": map[string]any{}}, nil, true},
		{"object key missing", map[string]any{"gpu": map[string]any{"cores": nil}}, nil, false},
		{"bool wanted, string found", map[string]any{"os": true}, nil, false},
		{"unsupported wanted type", map[string]any{"os": struct{}{}}, nil, false},
		{"null property present", map[string]any{"nothing": nil}, nil, true},
		{"every requirement must hold", map[string]any{"os": "linux", "n": 9}, nil, false},
		{"max cost equal fits", nil, ptr(2.0), true},
		{"max cost zero", nil, ptr(0.0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := &core.Task{Type: "a", Requires: tc.requires, MaxCost: tc.maxCost}
			if got := dispatch.Fits(task, res, costs); got != tc.want {
				t.Errorf("Fits(%v) = %v, want %v", tc.requires, got, tc.want)
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }
