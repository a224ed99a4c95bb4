// Package bptest runs blueprint tests: YAML files of named cases, each a
// job of one blueprint with scripted workers, approvals and child jobs,
// and expectations about how the job ends.
//
// Data flows in one direction. Load parses a test file (NAME_test.yaml)
// into a File, keeping the position of every node. Run loads the folder
// of blueprints the file names with the same compiler as the server, and
// runs each case on an orchestrator of its own over an in-process memory
// store, on a virtual clock: the runner plays the worker (it leases every
// task and answers with the scripted reply), decides approvals, and when
// nothing is due moves the clock to the next timer, reply or lease
// deadline, so a wait of three days costs nothing. When the job has ended
// (or nothing is left to happen), each expectation is checked against the
// job, its timeline and its stores, and a failure names the expectation's
// file:line:col. Coverage counts the states and transitions the cases
// took.
package bptest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// File is one test file: the blueprint it tests and its cases, in file
// order.
type File struct {
	Path         string // as given, '/'-separated
	Blueprint    string
	BlueprintPos lang.Pos
	Cases        []*Case
	Src          []byte
}

// Case is one job of the blueprint and what is expected of it.
type Case struct {
	Name        string
	Pos         lang.Pos
	Description string
	Input       map[string]any
	Client      *Client
	StartTime   time.Time
	// Replies are the scripted worker replies by task type; for each task
	// the first that matches is used.
	Replies map[string][]*Reply
	// ReplyTypePos is where each task type is named under replies.
	ReplyTypePos map[string]lang.Pos
	// Approvals are the decisions by approval state, one per visit (the
	// last repeats).
	Approvals    map[string][]*Decision
	ApprovalsPos map[string]lang.Pos
	// Children replaces child blueprints by a scripted end; a child not
	// named here runs for real.
	Children map[string]*ChildStub
	Expect   []*Expectation
}

// Client is who creates the job: `client` in expressions.
type Client struct {
	Name   string
	Plan   string
	Fields map[string]any
}

// Reply is one scripted answer of a worker.
type Reply struct {
	Pos     lang.Pos
	Attempt int  // answer only this attempt (1-based); 0 any
	Item    *int // answer only this branch of a parallel
	When    *lang.Check
	// Status is the result's status ("" success, failure when Error is set).
	Status string
	Data   map[string]any
	Error  *wire.Error
	// Timeout: the worker never answers, so the attempt's lease expires.
	Timeout bool
	// After is how long the worker takes.
	After time.Duration
	// Progress, when set, is sent as a progress event when the task is
	// taken.
	Progress map[string]any
}

// Decision is one scripted approval decision.
type Decision struct {
	Pos      lang.Pos
	Decision string // approved, rejected, or none (let the approval time out)
	After    time.Duration
}

// ChildStub replaces a child blueprint: the child job ends at once, in
// success or failure, with Data in its history.
type ChildStub struct {
	Pos  lang.Pos
	End  string // success or failure
	Data map[string]any
}

// Expectation kinds.
const (
	ExpectStatus       = "status"
	ExpectState        = "state"
	ExpectPath         = "path"
	ExpectPathIncludes = "path_includes"
	ExpectResult       = "result"
	ExpectError        = "error"
	ExpectHistory      = "history"
	ExpectStores       = "stores"
	ExpectAttempts     = "attempts"
	ExpectDispatched   = "dispatched"
	ExpectAssert       = "assert"
)

// Expectation is one check of a case, at its place in the file.
type Expectation struct {
	Kind  string
	Pos   lang.Pos
	Value any         // a JSON value (status, state: string; path: []string as []any; ...)
	Check *lang.Check // assert
	// Key is the task type of an attempts or dispatched entry, "" for the
	// total number of tasks dispatched.
	Key string
}

// Names a `when` of a reply sees.
var whenNames = []string{"params", "attempt", "item", "type", "input", "history"}

// Names an assertion sees.
var assertNames = []string{"job", "status", "state", "input", "history", "result", "results", "error", "stores", "path", "tasks"}

// Rules of test files. Findings of a test file carry one of these (or
// yaml-syntax, starlark-syntax, undefined-name from the language).
var (
	RuleTestUnknownKey   = &lang.Rule{Name: "test-unknown-key", Summary: "a test file has only known keys"}
	RuleTestWrongType    = &lang.Rule{Name: "test-wrong-type", Summary: "a test file's value has the type the key wants"}
	RuleTestMissingKey   = &lang.Rule{Name: "test-missing-key", Summary: "a test file has the keys it needs"}
	RuleTestBadValue     = &lang.Rule{Name: "test-bad-value", Summary: "a test file's value is one the key accepts"}
	RuleTestUnknownBP    = &lang.Rule{Name: "test-unknown-blueprint", Summary: "a test names a blueprint of its folder"}
	RuleTestUnknownTask  = &lang.Rule{Name: "test-unknown-task-type", Summary: "a reply is for a task type the blueprint dispatches"}
	RuleTestUnknownState = &lang.Rule{Name: "test-unknown-state", Summary: "an expected or scripted state exists"}
	RuleTestUnhandled    = &lang.Rule{Name: "test-unhandled-status", Summary: "a scripted status is one the state handles"}
)

// TestRules are the rules of test files, by name.
func TestRules() []*lang.Rule {
	return []*lang.Rule{RuleTestBadValue, RuleTestMissingKey, RuleTestUnhandled, RuleTestUnknownBP, RuleTestUnknownKey, RuleTestUnknownState, RuleTestUnknownTask, RuleTestWrongType}
}

// loader collects findings as it reads one file.
type loader struct {
	file string
	ds   lang.Diagnostics
}

func (l *loader) pos(n *yaml.Node) lang.Pos {
	return lang.Pos{File: l.file, Line: n.Line, Col: n.Column}
}

func (l *loader) errf(r *lang.Rule, n *yaml.Node, format string, args ...any) {
	l.ds = append(l.ds, lang.Diagnostic{Pos: l.pos(n), Rule: r.Name, Message: fmt.Sprintf(format, args...)})
}

// IsTestFile reports whether a path names a blueprint test file.
func IsTestFile(p string) bool { return lang.IsTestFile(p) }

// Load parses a test file. The findings are errors: a file with any must
// not be run, though what could be read of it is returned (nil only when
// it is not YAML or not a mapping) so it can still be checked against its
// blueprint. path names the file in findings.
func Load(path string, src []byte) (f *File, ds lang.Diagnostics) {
	path = filepath.ToSlash(path)
	l := &loader{file: path}
	defer func() {
		if r := recover(); r != nil {
			f = nil
			ds = append(l.ds, lang.Diagnostic{Pos: lang.Pos{File: path}, Rule: lang.RuleInternalError.Name, Message: fmt.Sprint("test loader: ", r)})
		}
	}()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil {
		return nil, lang.Diagnostics{{Pos: yamlErrPos(path, err), Rule: lang.RuleYAMLSyntax.Name, Message: yamlErrMsg(err)}}
	}
	f = &File{Path: path, Src: src}
	if len(doc.Content) == 0 {
		l.ds = append(l.ds, lang.Diagnostic{Pos: lang.Pos{File: path, Line: 1, Col: 1}, Rule: RuleTestMissingKey.Name, Message: "empty test file: want blueprint and cases"})
		return nil, l.ds
	}
	root := doc.Content[0]
	if !l.mapping(root, "a test file") {
		return nil, l.ds
	}
	base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
	f.Blueprint = strings.TrimSuffix(base, "_test")
	f.BlueprintPos = l.pos(root)
	var casesNode *yaml.Node
	l.keys(root, []string{"blueprint", "cases", "description"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "blueprint":
			if s, ok := l.str(v); ok {
				f.Blueprint, f.BlueprintPos = s, l.pos(v)
			}
		case "cases":
			casesNode = v
		case "description":
			l.str(v)
		}
	})
	if casesNode == nil {
		l.errf(RuleTestMissingKey, root, "missing key %q", "cases")
	} else if l.mapping(casesNode, "cases") {
		for i := 0; i+1 < len(casesNode.Content); i += 2 {
			if c := l.caseOf(casesNode.Content[i], casesNode.Content[i+1]); c != nil {
				f.Cases = append(f.Cases, c)
			}
		}
	}
	if len(l.ds) > 0 {
		return f, l.ds.Sort()
	}
	return f, nil
}

func yamlErrPos(file string, err error) lang.Pos {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "line "); ok {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end > 0 {
			if n, err := strconv.Atoi(rest[:end]); err == nil {
				return lang.Pos{File: file, Line: n, Col: 1}
			}
		}
	}
	return lang.Pos{File: file, Line: 1, Col: 1}
}

func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	return msg
}

func (l *loader) mapping(n *yaml.Node, what string) bool {
	if n.Kind != yaml.MappingNode {
		l.errf(RuleTestWrongType, n, "%s must be a mapping", what)
		return false
	}
	return true
}

// keys calls fn for each key of a mapping that is among known, and
// reports the others with a suggestion and duplicates.
func (l *loader) keys(n *yaml.Node, known []string, fn func(k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			l.errf(RuleTestBadValue, k, "key %q is given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		if !slices.Contains(known, k.Value) {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if s := nearest(k.Value, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				sorted := slices.Clone(known)
				sort.Strings(sorted)
				msg += "; valid keys: " + strings.Join(sorted, ", ")
			}
			l.errf(RuleTestUnknownKey, k, "%s", msg)
			continue
		}
		fn(k, v)
	}
}

func (l *loader) str(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errf(RuleTestWrongType, n, "want a string")
		return "", false
	}
	return n.Value, true
}

func (l *loader) integer(n *yaml.Node) (int, bool) {
	if n.Kind == yaml.ScalarNode {
		if i, err := strconv.Atoi(n.Value); err == nil && i >= 0 {
			return i, true
		}
	}
	l.errf(RuleTestWrongType, n, "want a whole number ≥ 0")
	return 0, false
}

func (l *loader) duration(n *yaml.Node) time.Duration {
	s, ok := l.str(n)
	if !ok {
		return 0
	}
	d, err := lang.ParseDuration(s)
	if err != nil || d < 0 {
		l.errf(RuleTestBadValue, n, "bad duration %q: want e.g. 30s, 1h30m or 2d", s)
		return 0
	}
	return d
}

// value decodes any node into a JSON value (int64 for whole numbers).
func (l *loader) value(n *yaml.Node) any {
	var v any
	if err := n.Decode(&v); err != nil {
		l.errf(RuleTestWrongType, n, "%s", yamlErrMsg(err))
		return nil
	}
	return lang.FromJSON(normYAML(v))
}

// normYAML turns what yaml.v3 decodes into JSON values: maps with string
// keys, times as RFC 3339 text.
func normYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normYAML(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normYAML(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normYAML(e)
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case uint64:
		return float64(x)
	}
	return v
}

func (l *loader) object(n *yaml.Node, what string) map[string]any {
	if !l.mapping(n, what) {
		return nil
	}
	m, _ := l.value(n).(map[string]any)
	return m
}

func (l *loader) caseOf(k, v *yaml.Node) *Case {
	c := &Case{Name: k.Value, Pos: l.pos(k), Replies: map[string][]*Reply{}, ReplyTypePos: map[string]lang.Pos{},
		Approvals: map[string][]*Decision{}, ApprovalsPos: map[string]lang.Pos{}, Children: map[string]*ChildStub{}}
	if v.Tag == "!!null" {
		v = &yaml.Node{Kind: yaml.MappingNode, Line: v.Line, Column: v.Column}
	}
	if !l.mapping(v, "a case") {
		return nil
	}
	l.keys(v, []string{"description", "input", "client", "start_time", "replies", "approvals", "children", "expect"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "description":
			c.Description, _ = l.str(v)
		case "input":
			c.Input = l.object(v, "input")
		case "client":
			c.Client = l.client(v)
		case "start_time":
			if s, ok := l.str(v); ok {
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					l.errf(RuleTestBadValue, v, "start_time %q: want an RFC 3339 time such as 2026-01-02T09:00:00Z", s)
				}
				c.StartTime = t
			}
		case "replies":
			if !l.mapping(v, "replies") {
				return
			}
			scripted(l, v, c.ReplyTypePos, c.Replies, l.reply)
		case "approvals":
			if !l.mapping(v, "approvals") {
				return
			}
			scripted(l, v, c.ApprovalsPos, c.Approvals, l.decision)
		case "children":
			if !l.mapping(v, "children") {
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				ck, cv := v.Content[i], v.Content[i+1]
				if cv.Kind == yaml.ScalarNode && cv.Value == "run" {
					continue
				}
				if st := l.child(cv); st != nil {
					c.Children[ck.Value] = st
				}
			}
		case "expect":
			c.Expect = l.expect(v)
		}
	})
	return c
}

func (l *loader) client(n *yaml.Node) *Client {
	if !l.mapping(n, "client") {
		return nil
	}
	cl := &Client{Fields: map[string]any{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name":
			cl.Name, _ = l.str(v)
		case "plan":
			cl.Plan, _ = l.str(v)
		default:
			cl.Fields[k.Value] = l.value(v)
		}
	}
	return cl
}

var replyKeys = []string{"status", "data", "error", "timeout", "after", "progress", "attempt", "item", "when"}

func (l *loader) reply(n *yaml.Node) *Reply {
	r := &Reply{Pos: l.pos(n)}
	if n.Kind == yaml.ScalarNode {
		// A bare word is a status.
		r.Status = n.Value
		return r
	}
	if !l.mapping(n, "a reply") {
		return nil
	}
	l.keys(n, replyKeys, func(k, v *yaml.Node) {
		switch k.Value {
		case "status":
			r.Status, _ = l.str(v)
		case "data":
			r.Data = l.object(v, "data")
		case "error":
			r.Error = l.errorInfo(v)
		case "timeout":
			r.Timeout = v.Kind == yaml.ScalarNode && v.Value == "true"
			if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
				l.errf(RuleTestWrongType, v, "timeout: want true or false")
			}
		case "after":
			r.After = l.duration(v)
		case "progress":
			switch v.Kind {
			case yaml.ScalarNode:
				r.Progress = map[string]any{"progress": l.value(v)}
			default:
				r.Progress = l.object(v, "progress")
			}
		case "attempt":
			if a, ok := l.integer(v); ok {
				if a == 0 {
					l.errf(RuleTestBadValue, v, "attempts count from 1")
				}
				r.Attempt = a
			}
		case "item":
			if i, ok := l.integer(v); ok {
				r.Item = &i
			}
		case "when":
			if s, ok := l.str(v); ok {
				chk, ds := lang.CompileCheck(s, l.scalarPos(v), whenNames)
				l.ds = append(l.ds, ds...)
				r.When = chk
			}
		}
	})
	if r.Error != nil && r.Status == "" {
		r.Status = "failure"
	}
	if r.Status == "failure" && r.Error == nil {
		r.Error = &wire.Error{Code: wire.CodeTransientError, Message: "scripted failure"}
	}
	return r
}

// scalarPos is where the text of a scalar starts: past the opening quote
// of a quoted one.
func (l *loader) scalarPos(n *yaml.Node) lang.Pos {
	p := l.pos(n)
	if n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle {
		p.Col++
	}
	return p
}

func (l *loader) errorInfo(n *yaml.Node) *wire.Error {
	if n.Kind == yaml.ScalarNode {
		return &wire.Error{Code: n.Value, Message: "scripted " + n.Value}
	}
	if !l.mapping(n, "error") {
		return nil
	}
	e := &wire.Error{}
	l.keys(n, []string{"code", "message"}, func(k, v *yaml.Node) {
		if k.Value == "code" {
			e.Code, _ = l.str(v)
		} else {
			e.Message, _ = l.str(v)
		}
	})
	if e.Message == "" {
		e.Message = "scripted " + e.Code
	}
	return e
}

func (l *loader) decision(n *yaml.Node) *Decision {
	d := &Decision{Pos: l.pos(n)}
	if n.Kind == yaml.ScalarNode {
		d.Decision = n.Value
	} else {
		if !l.mapping(n, "an approval") {
			return nil
		}
		l.keys(n, []string{"decision", "after"}, func(k, v *yaml.Node) {
			if k.Value == "decision" {
				d.Decision, _ = l.str(v)
			} else {
				d.After = l.duration(v)
			}
		})
	}
	switch d.Decision {
	case "approved", "rejected", "none":
	default:
		l.errf(RuleTestBadValue, n, "decision %q: want approved, rejected or none", d.Decision)
		return nil
	}
	return d
}

func (l *loader) child(n *yaml.Node) *ChildStub {
	c := &ChildStub{Pos: l.pos(n), End: "success"}
	if !l.mapping(n, "a child") {
		return nil
	}
	l.keys(n, []string{"end", "data"}, func(k, v *yaml.Node) {
		if k.Value == "end" {
			c.End, _ = l.str(v)
			if c.End != "success" && c.End != "failure" {
				l.errf(RuleTestBadValue, v, "end %q: want success or failure", c.End)
			}
		} else {
			c.Data = l.object(v, "data")
		}
	})
	return c
}

var expectKeys = []string{ExpectStatus, ExpectState, ExpectPath, ExpectPathIncludes, ExpectResult, ExpectError, ExpectHistory, ExpectStores, ExpectAttempts, ExpectDispatched, ExpectAssert}

func (l *loader) expect(n *yaml.Node) []*Expectation {
	if !l.mapping(n, "expect") {
		return nil
	}
	var out []*Expectation
	l.keys(n, expectKeys, func(k, v *yaml.Node) {
		e := &Expectation{Kind: k.Value, Pos: l.pos(v)}
		switch k.Value {
		case ExpectStatus, ExpectState:
			s, ok := l.str(v)
			if !ok {
				return
			}
			if k.Value == ExpectStatus && !slices.Contains(jobStatuses, s) {
				msg := fmt.Sprintf("unknown job status %q", s)
				if near := nearest(s, jobStatuses); near != "" {
					msg += fmt.Sprintf("; did you mean %q?", near)
				}
				l.errf(RuleTestBadValue, v, "%s", msg)
				return
			}
			e.Value = s
		case ExpectPath, ExpectPathIncludes:
			if v.Kind != yaml.SequenceNode {
				l.errf(RuleTestWrongType, v, "%s: want a list of states", k.Value)
				return
			}
			var states []any
			for _, it := range v.Content {
				if s, ok := l.str(it); ok {
					states = append(states, s)
				}
			}
			e.Value = states
		case ExpectResult, ExpectError, ExpectHistory, ExpectStores:
			e.Value = l.object(v, k.Value)
		case ExpectAttempts:
			if !l.mapping(v, "attempts") {
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				if a, ok := l.integer(v.Content[i+1]); ok {
					out = append(out, &Expectation{Kind: ExpectAttempts, Pos: l.pos(v.Content[i]), Key: v.Content[i].Value, Value: int64(a)})
				}
			}
			return
		case ExpectDispatched:
			if v.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(v.Content); i += 2 {
					if a, ok := l.integer(v.Content[i+1]); ok {
						out = append(out, &Expectation{Kind: ExpectDispatched, Pos: l.pos(v.Content[i]), Key: v.Content[i].Value, Value: int64(a)})
					}
				}
				return
			}
			a, ok := l.integer(v)
			if !ok {
				return
			}
			e.Value = int64(a)
		case ExpectAssert:
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for _, it := range items {
				s, ok := l.str(it)
				if !ok {
					continue
				}
				chk, ds := lang.CompileCheck(s, l.scalarPos(it), assertNames)
				l.ds = append(l.ds, ds...)
				if chk != nil {
					out = append(out, &Expectation{Kind: ExpectAssert, Pos: l.pos(it), Check: chk})
				}
			}
			return
		}
		out = append(out, e)
	})
	return out
}

var jobStatuses = []string{
	string(wire.StatusAwaitingRetry), string(wire.StatusCancelled), string(wire.StatusFailed), string(wire.StatusFinished),
	string(wire.StatusPending), string(wire.StatusQuarantined), string(wire.StatusRunning), string(wire.StatusWaiting),
	string(wire.StatusWaitingForChild), string(wire.StatusWaitingForHuman), string(wire.StatusWaitingParallel), string(wire.StatusWaitingForWorker),
}

// scripted reads a mapping of names (task types, states) to one scripted
// item or a list of them, in order: where each name is goes into pos, the
// items parse reads into out.
func scripted[T any](l *loader, v *yaml.Node, pos map[string]lang.Pos, out map[string][]*T, parse func(*yaml.Node) *T) {
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		pos[k.Value] = l.pos(k)
		items := []*yaml.Node{val}
		if val.Kind == yaml.SequenceNode {
			items = val.Content
		}
		for _, it := range items {
			if x := parse(it); x != nil {
				out[k.Value] = append(out[k.Value], x)
			}
		}
	}
}
