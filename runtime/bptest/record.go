package bptest

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// Recording is a job that ran on a server, as its API shows it: the job
// view and its timeline (GET /api/v1/jobs/{id} and /history).
type Recording struct {
	JobID     string
	Blueprint string
	Status    string
	State     string
	// History is the job's history once it ended (the API's result).
	History   map[string]any
	ErrorCode string
	// Input is the job's initial_data when known (the API does not show
	// it); nil writes an empty input to fill in.
	Input  map[string]any
	Events []core.TimelineEvent
}

type recReply struct {
	Attempt int            `yaml:"attempt,omitempty"`
	Item    *int           `yaml:"item,omitempty"`
	Status  string         `yaml:"status,omitempty"`
	Error   string         `yaml:"error,omitempty"`
	Timeout bool           `yaml:"timeout,omitempty"`
	After   string         `yaml:"after,omitempty"`
	Data    map[string]any `yaml:"data,omitempty"`
}

type recDecision struct {
	Decision string `yaml:"decision"`
	After    string `yaml:"after,omitempty"`
}

type recChild struct {
	End string `yaml:"end"`
}

type recExpect struct {
	Status  string         `yaml:"status"`
	State   string         `yaml:"state,omitempty"`
	Path    []string       `yaml:"path,flow"`
	Error   map[string]any `yaml:"error,omitempty"`
	History map[string]any `yaml:"history,omitempty"`
}

type recCase struct {
	Description string                   `yaml:"description"`
	StartTime   string                   `yaml:"start_time,omitempty"`
	Input       map[string]any           `yaml:"input"`
	Replies     map[string][]*recReply   `yaml:"replies,omitempty"`
	Approvals   map[string][]recDecision `yaml:"approvals,omitempty"`
	Children    map[string]recChild      `yaml:"children,omitempty"`
	Expect      recExpect                `yaml:"expect"`
}

type recFile struct {
	Blueprint string              `yaml:"blueprint"`
	Cases     map[string]*recCase `yaml:"cases"`
}

// Record writes a test file with one case that replays a real job: the
// reply each task got (status or error code, per attempt and item, after
// the time it took), the approvals with their delays, children replaced
// by the end they reached, and the job's status, end state, path and
// history as expectations. The API does not show what each task
// returned, so the last successful reply carries the job's final
// history; replies whose data steered a choose may need their data
// filled in, as may the input when it is not given.
func Record(r Recording, caseName string) ([]byte, error) {
	c := &recCase{Description: "recorded from job " + r.JobID, Input: r.Input, Replies: map[string][]*recReply{},
		Approvals: map[string][]recDecision{}, Children: map[string]recChild{}}
	if c.Input == nil {
		c.Input = map[string]any{}
	}
	type taskInfo struct {
		typ    string
		branch int
		at     time.Time
	}
	tasks := map[string]taskInfo{}
	parallel := map[string]bool{}
	var asked time.Time
	state := ""
	var lastOK *recReply
	for i, e := range r.Events {
		if i == 0 {
			c.StartTime = e.At.UTC().Format(time.RFC3339Nano)
		}
		switch e.Type {
		case "state_entered":
			state = e.NextState
			c.Expect.Path = append(c.Expect.Path, e.NextState)
		case "task_enqueued":
			typ, _ := e.Detail["type"].(string)
			b := int(toInt(e.Detail["branch"]))
			tasks[e.TaskID] = taskInfo{typ, b, e.At}
			if b > 0 {
				parallel[typ] = true
			}
		case "task_result", "task_timeout":
			t, ok := tasks[e.TaskID]
			if !ok {
				continue
			}
			rp := &recReply{Attempt: e.Attempt}
			if b := t.branch; b > 0 || parallel[t.typ] {
				rp.Item = &b
			}
			if d := e.At.Sub(t.at); d > 0 {
				rp.After = d.Round(time.Millisecond).String()
			}
			if e.Type == "task_timeout" {
				rp.Timeout, rp.After = true, ""
			} else {
				status, _ := e.Detail["status"].(string)
				if code, _ := e.Detail["error_code"].(string); code != "" {
					rp.Error = code
				} else if status != "success" {
					rp.Status = status
				} else {
					lastOK = rp
				}
			}
			c.Replies[t.typ] = append(c.Replies[t.typ], rp)
		case "approval_requested":
			asked = e.At
		case "approval":
			d, _ := e.Detail["decision"].(string)
			if d == "timeout" {
				d = "none"
			}
			rd := recDecision{Decision: d}
			if after := e.At.Sub(asked); d != "none" && after > 0 {
				rd.After = after.Round(time.Millisecond).String()
			}
			c.Approvals[state] = append(c.Approvals[state], rd)
		case "child_started":
			name, _ := e.Detail["blueprint"].(string)
			if name != "" {
				c.Children[name] = recChild{End: "success"}
			}
		case "child_finished":
			// The child of the state the job is in.
			if outcome, _ := e.Detail["outcome"].(string); outcome == "failure" {
				for i := len(r.Events) - 1; i >= 0; i-- {
					if r.Events[i].Type == "child_started" && r.Events[i].At.Compare(e.At) <= 0 {
						if name, _ := r.Events[i].Detail["blueprint"].(string); name != "" {
							c.Children[name] = recChild{End: "failure"}
						}
						break
					}
				}
			}
		}
	}
	// Fix the tasks' item order so the YAML reads in branch order.
	for _, rs := range c.Replies {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Attempt < rs[j].Attempt })
	}
	if lastOK != nil && len(r.History) > 0 {
		lastOK.Data = r.History
	}
	c.Expect.Status = r.Status
	c.Expect.State = r.State
	if r.ErrorCode != "" {
		c.Expect.Error = map[string]any{"code": r.ErrorCode}
	}
	if len(r.History) > 0 {
		c.Expect.History = r.History
	}
	f := recFile{Blueprint: r.Blueprint, Cases: map[string]*recCase{caseName: c}}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# yaml-language-server: $schema=../schemas/blueprint-test.schema.json\n")
	fmt.Fprintf(&b, "# Recorded from job %s by avtomatika job history --as-test.\n", r.JobID)
	if r.Input == nil {
		b.WriteString("# The API does not show a job's input: fill in `input`.\n")
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// CaseName turns a job id into a case name.
func CaseName(jobID string) string {
	id := jobID
	if len(id) > 8 {
		id = id[:8]
	}
	return "job_" + strings.ReplaceAll(id, "-", "_")
}
