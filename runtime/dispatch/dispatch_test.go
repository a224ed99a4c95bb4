package dispatch

import (
	"strings"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func workers() []Worker {
	return []Worker{
		{ID: "w-c", Skills: []string{"a"}, CostPerSkill: map[string]float64{"a": 1}, Reputation: 0.5, Load: 3, Status: wire.WorkerIdle},
		{ID: "w-a", Skills: []string{"a", "b"}, CostPerSkill: map[string]float64{"a": 2}, Reputation: 1, Load: 1, Status: wire.WorkerIdle,
			Resources: map[string]any{"ram_gb": float64(64), "gpu": map[string]any{"model": "a100", "vram_gb": int64(40)}, "tags": []any{"eu", "fast"}}},
		{ID: "w-b", Skills: []string{"a"}, Reputation: 0.9, Load: 0, Status: wire.WorkerIdle},
		{ID: "w-drain", Skills: []string{"a"}, CostPerSkill: map[string]float64{"a": 0}, Status: wire.WorkerDraining},
		{ID: "w-busy", Skills: []string{"a"}, CostPerSkill: map[string]float64{"a": 0}, Status: wire.WorkerBusy},
		{ID: "w-x", Skills: []string{"x"}, CostPerSkill: map[string]float64{"a": 0}, Status: wire.WorkerIdle},
	}
}

func f(v float64) *float64 { return &v }

func TestPick(t *testing.T) {
	for _, tc := range []struct {
		name string
		task core.Task
		rr   uint64
		want string
	}{
		{"default leaves it shared", core.Task{Type: "a"}, 0, ""},
		{"explicit default", core.Task{Type: "a", Strategy: wire.StrategyDefault}, 0, ""},
		{"least connections", core.Task{Type: "a", Strategy: wire.StrategyLeastConnections}, 0, "w-b"},
		{"cheapest, missing cost is +Inf", core.Task{Type: "a", Strategy: wire.StrategyCheapest}, 0, "w-c"},
		// cost/reputation: w-c 1/0.5 = 2, w-a 2/1 = 2 (tie: better reputation), w-b +Inf
		{"best value", core.Task{Type: "a", Strategy: wire.StrategyBestValue}, 0, "w-a"},
		{"round robin 0", core.Task{Type: "a", Strategy: wire.StrategyRoundRobin}, 0, "w-a"},
		{"round robin 1", core.Task{Type: "a", Strategy: wire.StrategyRoundRobin}, 1, "w-b"},
		{"round robin 2", core.Task{Type: "a", Strategy: wire.StrategyRoundRobin}, 2, "w-c"},
		{"round robin wraps", core.Task{Type: "a", Strategy: wire.StrategyRoundRobin}, 3, "w-a"},
		{"max cost filters", core.Task{Type: "a", Strategy: wire.StrategyLeastConnections, MaxCost: f(1.5)}, 0, "w-c"},
		{"nobody under max cost", core.Task{Type: "a", Strategy: wire.StrategyCheapest, MaxCost: f(0.5)}, 0, ""},
		{"requires filters", core.Task{Type: "a", Strategy: wire.StrategyLeastConnections, Requires: map[string]any{"ram_gb": 32}}, 0, "w-a"},
		{"no skill", core.Task{Type: "zzz", Strategy: wire.StrategyCheapest}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pick(&tc.task, workers(), tc.rr)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Pick = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPickUnknownStrategy(t *testing.T) {
	_, err := Pick(&core.Task{ID: "t1", Type: "a", Strategy: "fastest"}, workers(), 0)
	if err == nil || !strings.Contains(err.Error(), `unknown strategy "fastest"`) || !strings.Contains(err.Error(), "best_value, cheapest") {
		t.Fatalf("error = %v, want it to name the strategy and the valid ones", err)
	}
}

func TestPickHotBreaksTies(t *testing.T) {
	ws := []Worker{
		{ID: "w1", Skills: []string{"a"}, Status: wire.WorkerIdle},
		{ID: "w2", Skills: []string{"a"}, HotSkills: []string{"a"}, Status: wire.WorkerIdle},
	}
	if got, _ := Pick(&core.Task{Type: "a", Strategy: wire.StrategyLeastConnections}, ws, 0); got != "w2" {
		t.Errorf("Pick = %q, want the hot worker w2", got)
	}
}

func TestFits(t *testing.T) {
	res := map[string]any{
		"ram_gb": float64(64), "cpu": int64(8), "os": "linux", "cuda": true,
		"tags":     []any{"eu", "fast"},
		"software": map[string]any{"python": "3.11", "ffmpeg": "6"},
		"gpu":      map[string]any{"model": "a100", "vram_gb": float64(40)},
	}
	costs := map[string]float64{"a": 2}
	for _, tc := range []struct {
		name     string
		requires map[string]any
		maxCost  *float64
		want     bool
	}{
		{"nothing required", nil, nil, true},
		{"number at least", map[string]any{"ram_gb": 64}, nil, true},
		{"number too big", map[string]any{"cpu": float64(16)}, nil, false},
		{"string equal", map[string]any{"os": "linux"}, nil, true},
		{"string differs", map[string]any{"os": "windows"}, nil, false},
		{"string in list", map[string]any{"tags": "eu"}, nil, true},
		{"lists intersect", map[string]any{"tags": []any{"us", "fast"}}, nil, true},
		{"lists disjoint", map[string]any{"tags": []any{"us"}}, nil, false},
		{"scalar among choices", map[string]any{"os": []any{"mac", "linux"}}, nil, true},
		{"bool", map[string]any{"cuda": true}, nil, true},
		{"bool differs", map[string]any{"cuda": false}, nil, false},
		{"nested object", map[string]any{"software": map[string]any{"python": "3.11"}}, nil, true},
		{"nested object differs", map[string]any{"software": map[string]any{"python": "3.12"}}, nil, false},
		{"dotted key", map[string]any{"gpu.vram_gb": 24}, nil, true},
		{"dotted key too small", map[string]any{"gpu.vram_gb": 80}, nil, false},
		{"missing property", map[string]any{"tpu": 1}, nil, false},
		{"null means present", map[string]any{"os": nil}, nil, true},
		{"type mismatch", map[string]any{"os": 3}, nil, false},
		{"cost under max", nil, f(2), true},
		{"cost over max", nil, f(1.99), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := &core.Task{Type: "a", Requires: tc.requires, MaxCost: tc.maxCost}
			if got := Fits(task, res, costs); got != tc.want {
				t.Errorf("Fits = %v, want %v", got, tc.want)
			}
		})
	}
	if Fits(&core.Task{Type: "b", MaxCost: f(100)}, res, costs) {
		t.Error("a worker without a cost for the type fits a max_cost")
	}
}
