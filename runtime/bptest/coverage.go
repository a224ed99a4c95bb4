package bptest

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// Coverage counts, per blueprint, the states entered and the transitions
// taken: each status of a task or parallel state, each decision (and the
// timeout) of an approval, each end of a child, each entry of a choose,
// and each go_to. Items are read from the compiled machine, so they are
// exactly what the graph draws.

// ItemKey names one coverage item of a blueprint.
type ItemKey struct {
	Blueprint string
	State     string
	// Label is "" for the state itself, a status for a transition,
	// "choice N" (1-based) for an entry of a choose, "go_to".
	Label string
}

// Item is one thing a blueprint can do, at its place in the file.
type Item struct {
	ItemKey
	Target string
	Pos    lang.Pos
}

// String describes the item.
func (it Item) String() string {
	if it.Label == "" {
		return fmt.Sprintf("state %q", it.State)
	}
	return fmt.Sprintf("%s --%s--> %s", it.State, it.Label, it.Target)
}

// Items lists a machine's coverage items in file order.
func Items(m *lang.Machine) []Item {
	var out []Item
	for _, s := range m.States {
		out = append(out, Item{ItemKey: ItemKey{m.Name, s.Name, ""}, Pos: s.Pos})
		switch s.Action {
		case lang.ActionGoTo, lang.ActionWait:
			out = append(out, Item{ItemKey: ItemKey{m.Name, s.Name, "go_to"}, Target: s.GoTo, Pos: s.GoToPos})
		case lang.ActionChoose:
			for i, c := range s.Choose {
				out = append(out, Item{ItemKey: ItemKey{m.Name, s.Name, "choice " + strconv.Itoa(i+1)}, Target: c.GoTo, Pos: c.Pos})
			}
		case lang.ActionEnd:
		default:
			for _, t := range s.Transitions {
				out = append(out, Item{ItemKey: ItemKey{m.Name, s.Name, t.Status}, Target: t.Target, Pos: t.Pos})
			}
		}
	}
	return out
}

// coverage returns the items every job of the case exercised.
func (r *caseRun) coverage(set *lang.Set) []ItemKey {
	r.mu.Lock()
	ids := append([]string(nil), r.jobs...)
	r.mu.Unlock()
	var out []ItemKey
	for _, id := range ids {
		j, err := r.st.GetJob(r.ctx, id)
		if err != nil {
			continue
		}
		m := set.Lookup(j.Blueprint)
		if m == nil {
			continue
		}
		tl, err := r.st.Timeline(r.ctx, id)
		if err != nil {
			continue
		}
		out = append(out, covered(m, tl)...)
	}
	return out
}

// covered reads the items a job's timeline exercised. The status that
// led out of a state is the last one the timeline recorded there (a
// task's status, a decision, a child's outcome); an entry of a choose is
// the first entry that leads where the job went.
func covered(m *lang.Machine, tl []core.TimelineEvent) []ItemKey {
	var out []ItemKey
	last := ""
	for _, e := range tl {
		switch e.Type {
		case "task_result":
			last, _ = e.Detail["status"].(string)
		case "task_timeout", "dispatch_timeout":
			last = "failure"
		case "approval":
			last, _ = e.Detail["decision"].(string)
		case "child_finished":
			last, _ = e.Detail["outcome"].(string)
		case "parallel_empty":
			last = "success"
		case "state_entered":
			out = append(out, ItemKey{m.Name, e.NextState, ""})
			prev := m.State(e.PrevState)
			if prev == nil {
				break
			}
			if label := edge(prev, e.NextState, last); label != "" {
				out = append(out, ItemKey{m.Name, prev.Name, label})
			}
			last = ""
		}
	}
	return out
}

func edge(s *lang.State, next, last string) string {
	switch s.Action {
	case lang.ActionGoTo, lang.ActionWait:
		return "go_to"
	case lang.ActionChoose:
		for i, c := range s.Choose {
			if c.GoTo == next {
				return "choice " + strconv.Itoa(i+1)
			}
		}
		return ""
	}
	var cands []string
	for _, t := range s.Transitions {
		if t.Target == next {
			cands = append(cands, t.Status)
		}
	}
	for _, c := range cands {
		if c == last {
			return c
		}
	}
	if s.Action == lang.ActionParallel {
		// A parallel leaves by failure for any status but success.
		for _, c := range cands {
			if c == "failure" && last != "success" {
				return c
			}
		}
	}
	if len(cands) > 0 {
		return cands[0]
	}
	return ""
}

// BlueprintCoverage is the coverage of one blueprint over every case
// that ran.
type BlueprintCoverage struct {
	Blueprint string
	File      string
	Items     []Item
	Hit       map[ItemKey]int // times each item was exercised
}

// Covered counts the items exercised.
func (b *BlueprintCoverage) Covered() int {
	n := 0
	for _, it := range b.Items {
		if b.Hit[it.ItemKey] > 0 {
			n++
		}
	}
	return n
}

// Percent is the share of items exercised, 100 for a blueprint with none.
func (b *BlueprintCoverage) Percent() float64 {
	if len(b.Items) == 0 {
		return 100
	}
	return 100 * float64(b.Covered()) / float64(len(b.Items))
}

// Missed lists the items no case exercised, in file order.
func (b *BlueprintCoverage) Missed() []Item {
	var out []Item
	for _, it := range b.Items {
		if b.Hit[it.ItemKey] == 0 {
			out = append(out, it)
		}
	}
	return out
}

// Coverage aggregates the outcomes' items for the blueprints the files
// test, sorted by name.
func (r *Report) Coverage() []*BlueprintCoverage {
	var out []*BlueprintCoverage
	by := map[string]*BlueprintCoverage{}
	for name, m := range r.Machines {
		b := &BlueprintCoverage{Blueprint: name, File: joinRel(r.dirs[name], m.File), Items: Items(m), Hit: map[ItemKey]int{}}
		for i := range b.Items {
			b.Items[i].Pos.File = b.File
		}
		by[name] = b
		out = append(out, b)
	}
	for _, o := range r.Outcomes {
		for _, k := range o.Covered {
			if b := by[k.Blueprint]; b != nil {
				b.Hit[k]++
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Blueprint < out[j].Blueprint })
	return out
}
