package bptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// path is the states the job entered, in order.
func path(tl []core.TimelineEvent) []any {
	var out []any
	for _, e := range tl {
		if e.Type == "state_entered" {
			out = append(out, e.NextState)
		}
	}
	return out
}

// check evaluates every expectation of the case against the final job.
func (r *caseRun) check(j *core.Job, timeline func() []core.TimelineEvent) []Failure {
	var out []Failure
	var stores map[string]map[string]any
	var assertVals map[string]any
	for _, e := range r.c.Expect {
		var got any
		switch e.Kind {
		case ExpectStatus:
			got = string(j.Status)
		case ExpectState:
			got = j.State
		case ExpectPath:
			got = path(timeline())
			if !equalJSON(e.Value, got) {
				out = append(out, mismatch(e, "path", e.Value, got))
			}
			continue
		case ExpectPathIncludes:
			got = path(timeline())
			if miss, ok := subsequence(e.Value.([]any), got.([]any)); !ok {
				f := mismatch(e, "path", e.Value, got)
				f.Message = fmt.Sprintf("path does not pass %q in this order", miss)
				out = append(out, f)
			}
			continue
		case ExpectResult:
			got = jsonOf(j.Result)
		case ExpectError:
			got = jsonOf(j.Error)
		case ExpectHistory:
			got = map[string]any(j.History)
			if j.History == nil {
				got = map[string]any{}
			}
		case ExpectStores:
			if stores == nil {
				stores, _ = r.st.Stores(r.ctx, j.Blueprint)
			}
			gm := map[string]any{}
			for k, v := range stores {
				gm[k] = v
			}
			got = gm
		case ExpectAttempts:
			n := int64(0)
			for _, d := range r.tasks {
				if d.task.Type == e.Key {
					n = max(n, int64(d.task.Attempt))
				}
			}
			got = n
		case ExpectDispatched:
			n := int64(0)
			for _, d := range r.tasks {
				if e.Key == "" || d.task.Type == e.Key {
					n++
				}
			}
			got = n
		case ExpectAssert:
			if assertVals == nil {
				if stores == nil {
					stores, _ = r.st.Stores(r.ctx, j.Blueprint)
				}
				assertVals = r.assertValues(j, timeline(), stores)
			}
			ok, err := e.Check.Truth(r.ctx, assertVals)
			switch {
			case err != nil:
				out = append(out, Failure{Pos: e.Pos, Kind: e.Kind, Message: fmt.Sprintf("assert `%s`: %v", e.Check.Src, err)})
			case !ok:
				out = append(out, Failure{Pos: e.Pos, Kind: e.Kind, Message: fmt.Sprintf("assert `%s` is false", e.Check.Src)})
			}
			continue
		}
		if where, ok := subset(e.Value, got, ""); !ok {
			f := mismatch(e, e.Kind+where, atPath(e.Value, where), atPath(got, where))
			if e.Key != "" {
				f.Message = fmt.Sprintf("%s of %q: expected %s, got %s", e.Kind, e.Key, f.Expected, f.Got)
			}
			out = append(out, f)
		}
	}
	return out
}

func mismatch(e *Expectation, what string, want, got any) Failure {
	f := Failure{Pos: e.Pos, Kind: e.Kind, Expected: compact(want), Got: compact(got)}
	f.Message = fmt.Sprintf("%s: expected %s, got %s", what, f.Expected, f.Got)
	return f
}

// assertValues are the names an assertion sees.
func (r *caseRun) assertValues(j *core.Job, tl []core.TimelineEvent, stores map[string]map[string]any) map[string]any {
	st := map[string]any{}
	for k, v := range stores {
		st[k] = v
	}
	tasks := make([]any, 0, len(r.tasks))
	for _, d := range r.tasks {
		t := map[string]any{"type": d.task.Type, "attempt": int64(d.task.Attempt), "item": int64(d.task.Branch), "params": d.task.Params, "job_id": d.task.JobID}
		if d.reply != nil {
			t["status"] = orSuccess(d.reply.Status)
			if d.reply.Timeout {
				t["status"] = "timeout"
			}
		}
		tasks = append(tasks, t)
	}
	return map[string]any{
		"job": jsonOf(j), "status": string(j.Status), "state": j.State, "input": j.Input, "history": j.History,
		"result": jsonOf(j.Result), "results": jsonOf(j.Results), "error": jsonOf(j.Error), "stores": st,
		"path": path(tl), "tasks": tasks,
	}
}

func orSuccess(s string) string {
	if s == "" {
		return "success"
	}
	return s
}

// jsonOf is v as a JSON value of the language (int64 for whole numbers).
func jsonOf(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if dec.Decode(&out) != nil {
		return nil
	}
	return lang.FromJSON(out)
}

// subset reports whether want is contained in got: every key of a wanted
// object is in got with a contained value; lists match item by item with
// the same length; numbers compare by value. where is the path of the
// first difference (".data.sku", "[2]").
func subset(want, got any, where string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return where, false
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, present := g[k]
			if !present && w[k] != nil {
				return where + "." + k, false
			}
			if p, ok := subset(w[k], gv, where+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return where, false
		}
		for i := range w {
			if p, ok := subset(w[i], g[i], where+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return "", true
	}
	if equalScalar(want, got) {
		return "", true
	}
	return where, false
}

func equalJSON(a, b any) bool {
	_, ok1 := subset(a, b, "")
	_, ok2 := subset(b, a, "")
	return ok1 && ok2
}

func equalScalar(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	}
	return 0, false
}

// atPath returns the value at a path written by subset, or nil.
func atPath(v any, p string) any {
	for p != "" {
		switch p[0] {
		case '.':
			end := strings.IndexAny(p[1:], ".[")
			key := p[1:]
			rest := ""
			if end >= 0 {
				key, rest = p[1:end+1], p[end+1:]
			}
			m, _ := v.(map[string]any)
			v, p = m[key], rest
		case '[':
			end := strings.IndexByte(p, ']')
			i, _ := strconv.Atoi(p[1:end])
			l, _ := v.([]any)
			if i < len(l) {
				v = l[i]
			} else {
				v = nil
			}
			p = p[end+1:]
		default:
			return v
		}
	}
	return v
}

// subsequence reports whether want appears in got in order (gaps
// allowed), and else the first state it could not find.
func subsequence(want, got []any) (any, bool) {
	i := 0
	for _, g := range got {
		if i < len(want) && equalScalar(want[i], g) {
			i++
		}
	}
	if i == len(want) {
		return nil, true
	}
	return want[i], false
}

// compact is v as one line of JSON.
func compact(v any) string {
	if v == nil {
		return "null"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

// trace renders the job's timeline: each state entered, and under it the
// reply each task received, the approval taken, the child's end, the
// time waited, with the virtual time since the start.
func (r *caseRun) trace(tl []core.TimelineEvent) []string {
	var out []string
	for _, e := range tl {
		at := "+" + e.At.Sub(r.start).Round(time.Millisecond).String()
		switch e.Type {
		case "state_entered":
			out = append(out, fmt.Sprintf("%-10s %s", at, e.NextState))
		case "task_result", "task_timeout", "dispatch_timeout":
			d := r.byTask[e.TaskID]
			typ := "?"
			if d != nil {
				typ = d.task.Type
			}
			line := fmt.Sprintf("%-10s   %s", at, typ)
			if d != nil && (d.task.Branch > 0 || r.parallelTypes[d.task.Type]) {
				line += fmt.Sprintf("[%d]", d.task.Branch)
			}
			line += fmt.Sprintf(" attempt %d: ", e.Attempt)
			switch {
			case e.Type != "task_result":
				line += strings.ReplaceAll(e.Type, "_", " ")
			case d != nil && d.reply != nil:
				line += orSuccess(d.reply.Status)
				if d.reply.Error != nil {
					line += " " + d.reply.Error.Code
				}
				if len(d.reply.Data) > 0 {
					line += " " + compact(d.reply.Data)
				}
			default:
				line += fmt.Sprint(e.Detail["status"])
			}
			out = append(out, line)
		case "retry_scheduled":
			out = append(out, fmt.Sprintf("%-10s   retry in %s", at, time.Duration(toInt(e.Detail["delay_ms"]))*time.Millisecond))
		case "approval":
			out = append(out, fmt.Sprintf("%-10s   approval: %v", at, e.Detail["decision"]))
		case "child_finished":
			out = append(out, fmt.Sprintf("%-10s   child: %v", at, e.Detail["outcome"]))
		case "waiting":
			out = append(out, fmt.Sprintf("%-10s   waits until %v", at, e.Detail["until"]))
		case "job_finished", "job_failed", "job_quarantined", "job_cancelled":
			line := fmt.Sprintf("%-10s %s", at, strings.TrimPrefix(e.Type, "job_"))
			if c, ok := e.Detail["error_code"]; ok {
				line += fmt.Sprintf(" %v", c)
			}
			if m, ok := e.Detail["error"]; ok {
				line += fmt.Sprintf(": %v", m)
			}
			out = append(out, line)
		}
	}
	return out
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}
